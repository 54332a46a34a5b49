package events

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/metrics"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// maxMessage keeps event messages well inside the API's limits.
const maxMessage = 1024

// item is one Kubernetes Event to record, or a pod UID cache action.
type item struct {
	node      string
	pod       string // "namespace/name" for pod events, else empty
	eventType string
	reason    string
	message   string
	// prefetch lists the node's pods to learn their UIDs (drain start);
	// forget drops them (drain end).
	prefetch, forget bool
}

// nodeState deduplicates the events of one node's running drain.
type nodeState struct {
	blockedPod map[string]string // pod -> PDB already reported on the pod
	blockedPDB map[string]bool   // PDBs already reported on the node
	fallback   bool              // DeadlineFallback reported on the node
	fellBack   map[string]bool   // pods deleted by the fallback
	failedPod  map[string]bool   // pods with an EvictionFailed event
}

func newNodeState() *nodeState {
	return &nodeState{blockedPod: map[string]string{}, blockedPDB: map[string]bool{}, fellBack: map[string]bool{}, failedPod: map[string]bool{}}
}

func nodeItem(node, eventType, reason, message string) item {
	return item{node: node, eventType: eventType, reason: reason, message: message}
}

func podItem(e drain.Event, eventType, message string) item {
	return item{node: e.Node, pod: e.Pod, eventType: eventType, reason: string(e.Type), message: message}
}

// fromDrain maps a drain event to the events it deserves, recording each
// pod's PDB block, eviction failure and the node's fallback only once per
// drain.
func (r *Recorder) fromDrain(e drain.Event) []item {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	st := r.drains[e.Node]
	if st == nil {
		st = newNodeState()
		r.drains[e.Node] = st
	}
	reason := string(e.Type)
	switch e.Type {
	case drain.EventCordoned, drain.EventUncordoned, drain.EventNodeDeleted, drain.EventLeftoversRemoved:
		return []item{nodeItem(e.Node, corev1.EventTypeNormal, reason, describe(e))}
	case drain.EventDrainStarted:
		r.drains[e.Node] = newNodeState()
		it := nodeItem(e.Node, corev1.EventTypeNormal, reason, describe(e))
		return []item{{node: e.Node, prefetch: true}, it}
	case drain.EventDrained, drain.EventDrainFailed:
		delete(r.drains, e.Node)
		return []item{finished(e), {node: e.Node, forget: true}}
	case drain.EventPodEvicted:
		return []item{podItem(e, corev1.EventTypeNormal, "Evicted by lifeboat: draining node "+e.Node)}
	case drain.EventPodDeleted:
		return []item{podDeleted(e, st)}
	case drain.EventEvictionFailed:
		if st.failedPod[e.Pod] {
			return nil
		}
		st.failedPod[e.Pod] = true
		return []item{podItem(e, corev1.EventTypeWarning, fmt.Sprintf("%s: %v", describe(e), e.Err))}
	case drain.EventPodBlocked:
		return blocked(e, st)
	case drain.EventDeadlineFallback:
		return fallback(e, st)
	}
	return nil
}

func podDeleted(e drain.Event, st *nodeState) item {
	if st.fellBack[e.Pod] {
		return podItem(e, corev1.EventTypeWarning, fmt.Sprintf(
			"Deleted by lifeboat with a %ds grace period: a PodDisruptionBudget would have blocked eviction past node %s's deadline",
			e.GracePeriodSeconds, e.Node))
	}
	return podItem(e, corev1.EventTypeNormal, "Finished pod deleted by lifeboat: draining node "+e.Node)
}

// blocked reports a PDB block once on the pod and once per PDB on the node.
func blocked(e drain.Event, st *nodeState) []item {
	var out []item
	if st.blockedPod[e.Pod] != e.PDB {
		st.blockedPod[e.Pod] = e.PDB
		out = append(out, podItem(e, corev1.EventTypeWarning, fmt.Sprintf(
			"Eviction blocked by PodDisruptionBudget %s; lifeboat retries as soon as the budget allows", e.PDB)))
	}
	if !st.blockedPDB[e.PDB] {
		st.blockedPDB[e.PDB] = true
		out = append(out, nodeItem(e.Node, corev1.EventTypeWarning, string(e.Type), fmt.Sprintf(
			"PodDisruptionBudget %s blocks the eviction of %s (further pods it blocks are reported on the pods)", e.PDB, e.Pod)))
	}
	return out
}

// fallback reports each pod's fallback on the pod and the first on the node.
func fallback(e drain.Event, st *nodeState) []item {
	var out []item
	if e.Pod != "" {
		st.fellBack[e.Pod] = true
		out = append(out, podItem(e, corev1.EventTypeWarning, fmt.Sprintf(
			"Node %s's deadline is near: deleting with a %ds grace period instead of waiting for PodDisruptionBudget %s",
			e.Node, e.GracePeriodSeconds, e.PDB)))
	}
	if !st.fallback {
		st.fallback = true
		out = append(out, nodeItem(e.Node, corev1.EventTypeWarning, string(e.Type),
			"Deadline near: deleting pods whose PodDisruptionBudgets would block them past it"+deadline(e.Progress.Deadline)))
	}
	return out
}

// finished describes the end of a drain; anything but a clean success is a
// Warning.
func finished(e drain.Event) item {
	result := metrics.DrainResult(e)
	typ := corev1.EventTypeWarning
	if result == metrics.DrainSucceeded {
		typ = corev1.EventTypeNormal
	}
	var msg string
	if r := e.Result; r != nil {
		msg = fmt.Sprintf("%d evicted, %d deleted (%d by deadline fallback), %d left, in %s",
			r.Evicted, r.Deleted, r.Fallbacks, len(r.Left), r.Duration.Round(time.Second))
	}
	if e.Type == drain.EventDrainFailed {
		msg = fmt.Sprintf("Drain failed: %v; %s", e.Err, msg)
	} else {
		msg = "Drained by lifeboat (" + result + "): " + msg
	}
	return nodeItem(e.Node, typ, string(e.Type), msg)
}

// describe is the engine's message, or a default.
func describe(e drain.Event) string {
	if e.Message != "" {
		return "lifeboat: " + e.Message
	}
	return "lifeboat: " + string(e.Type)
}

func deadline(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " (" + t.UTC().Format(time.RFC3339) + ")"
}

// fromNotice records a notice on its node: a Warning, since the node is
// going away, or a Normal NoticeCanceled.
func fromNotice(n notice.Notice) []item {
	if n.Canceled {
		return []item{nodeItem(n.Node, corev1.EventTypeNormal, ReasonNoticeCanceled,
			fmt.Sprintf("Notice %s from %s withdrawn: %s", n.ID, n.Source, n.Kind))}
	}
	msg := fmt.Sprintf("Notice %s from %s: %s", n.ID, n.Source, n.Kind)
	if n.Reason != "" {
		msg += " (" + n.Reason + ")"
	}
	if !n.Deadline.IsZero() {
		msg += ", deadline " + n.Deadline.UTC().Format(time.RFC3339)
	}
	return []item{nodeItem(n.Node, corev1.EventTypeWarning, ReasonNoticeReceived, msg)}
}

func acknowledged(n notice.Notice) []item {
	return []item{nodeItem(n.Node, corev1.EventTypeNormal, ReasonAcknowledged,
		fmt.Sprintf("Acknowledged notice %s to %s: the platform may proceed", n.ID, n.Source))}
}

// truncate shortens s to maxMessage bytes on a rune boundary.
func truncate(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	for i := maxMessage - 3; i > 0; i-- {
		if s[i]&0xC0 != 0x80 {
			return s[:i] + "..."
		}
	}
	return s[:maxMessage]
}
