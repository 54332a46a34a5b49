package kubeevents

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/report"
)

// maxMessage keeps event messages well inside the API's limits.
const maxMessage = 1024

// item is one Kubernetes Event to record.
type item struct {
	node      string
	pod       string    // "namespace/name" for pod events, else empty
	podUID    types.UID // the pod's UID, from the drain step
	eventType string
	reason    string
	message   string
}

func nodeItem(node, eventType, reason, message string) item {
	return item{node: node, eventType: eventType, reason: reason, message: message}
}

func podItem(e drain.Step, eventType, message string) item {
	return item{node: e.Node, pod: e.Pod, podUID: e.PodUID, eventType: eventType, reason: string(e.Type), message: message}
}

// fromStep maps a drain step to the Events it deserves. It is a function
// of the step alone: the engine reports a pod's PDB block and failure kind
// once each, and the step's progress says whether a budget or the deadline
// fallback is new to the node, which keeps the Node's Events under
// client-go's spam filter.
func fromStep(e drain.Step) []item {
	reason := string(e.Type)
	switch e.Type {
	case drain.StepCordoned, drain.StepUncordoned, drain.StepNodeDeleted, drain.StepLeftoversRemoved, drain.StepWaitingForBudget,
		drain.StepWouldDrain, drain.StepWouldMark:
		return []item{nodeItem(e.Node, corev1.EventTypeNormal, reason, describe(e))}
	case drain.StepVolumesStillAttached:
		return []item{nodeItem(e.Node, corev1.EventTypeWarning, reason, describe(e))}
	case drain.StepDrainStarted:
		return []item{nodeItem(e.Node, corev1.EventTypeNormal, reason, describe(e))}
	case drain.StepDrained, drain.StepDrainFailed:
		return []item{finished(e)}
	case drain.StepPodEvicted:
		return []item{podItem(e, corev1.EventTypeNormal, "Evicted by lifeboat: draining node "+e.Node)}
	case drain.StepPodDeleted:
		return []item{podDeleted(e)}
	case drain.StepEvictionFailed:
		return []item{podItem(e, corev1.EventTypeWarning, fmt.Sprintf("%s: %v", describe(e), e.Err))}
	case drain.StepPodBlocked:
		return blocked(e)
	case drain.StepDeadlineFallback:
		return fallback(e)
	}
	return nil
}

func podDeleted(e drain.Step) item {
	if e.Fallback {
		return podItem(e, corev1.EventTypeWarning, fmt.Sprintf(
			"Deleted by lifeboat with a %ds grace period: a PodDisruptionBudget would have blocked eviction past node %s's deadline",
			e.GracePeriodSeconds, e.Node))
	}
	return podItem(e, corev1.EventTypeNormal, "Finished pod deleted by lifeboat: draining node "+e.Node)
}

// blocked reports a PDB block on the pod and, when no other pod is blocked
// by the same budget, on the node.
func blocked(e drain.Step) []item {
	out := []item{podItem(e, corev1.EventTypeWarning, fmt.Sprintf(
		"Eviction blocked by PodDisruptionBudget %s; lifeboat retries as soon as the budget allows", e.PDB))}
	if e.Progress.FirstBlockBy(e.Pod, e.PDB) {
		out = append(out, nodeItem(e.Node, corev1.EventTypeWarning, string(e.Type), fmt.Sprintf(
			"PodDisruptionBudget %s blocks the eviction of %s (further pods it blocks are reported on the pods)", e.PDB, e.Pod)))
	}
	return out
}

// fallback reports each pod's fallback on the pod and the drain's first
// on the node.
func fallback(e drain.Step) []item {
	var out []item
	if e.Pod != "" {
		out = append(out, podItem(e, corev1.EventTypeWarning, fmt.Sprintf(
			"Node %s's deadline is near: deleting with a %ds grace period instead of waiting for PodDisruptionBudget %s",
			e.Node, e.GracePeriodSeconds, e.PDB)))
	}
	if e.Progress.Fallbacks <= 1 {
		out = append(out, nodeItem(e.Node, corev1.EventTypeWarning, string(e.Type),
			"Deadline near: deleting pods whose PodDisruptionBudgets would block them past it"+deadline(e.Progress.Deadline)))
	}
	return out
}

// finished describes the end of a drain; anything but a clean success is a
// Warning.
func finished(e drain.Step) item {
	typ := corev1.EventTypeWarning
	if e.Outcome == drain.OutcomeSucceeded {
		typ = corev1.EventTypeNormal
	}
	var msg string
	if r := e.Result; r != nil {
		msg = fmt.Sprintf("%d evicted, %d deleted (%d by deadline fallback), %d left, in %s",
			r.Evicted, r.Deleted, r.Fallbacks, len(r.Left), r.Duration.Round(time.Second))
	}
	if e.Type == drain.StepDrainFailed {
		msg = fmt.Sprintf("Drain failed: %v; %s", e.Err, msg)
	} else {
		msg = "Drained by lifeboat (" + string(e.Outcome) + "): " + msg
	}
	return nodeItem(e.Node, typ, string(e.Type), msg)
}

// describe is the engine's message, or a default.
func describe(e drain.Step) string {
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
		return []item{nodeItem(n.Node, corev1.EventTypeNormal, string(drain.StepNoticeCanceled),
			fmt.Sprintf("Notice %s from %s withdrawn: %s", n.ID, n.Source, n.Kind))}
	}
	msg := fmt.Sprintf("Notice %s from %s: %s", n.ID, n.Source, n.Kind)
	if n.Reason != "" {
		msg += " (" + n.Reason + ")"
	}
	if !n.Deadline.IsZero() {
		msg += ", deadline " + n.Deadline.UTC().Format(time.RFC3339)
	}
	return []item{nodeItem(n.Node, corev1.EventTypeWarning, string(drain.StepNoticeReceived), msg)}
}

// fromFinish records how the notice was finished on its node: Normal, or
// a Warning when telling the platform failed. FinishDone records nothing.
func fromFinish(n notice.Notice, f report.Finish) []item {
	step, ok := f.Kind.Step()
	if !ok {
		return nil
	}
	node := n.Node
	if node == "" {
		node = f.Node
	}
	var msg string
	switch f.Kind {
	case report.FinishHookCompleted:
		msg = fmt.Sprintf("Completed the lifecycle action of notice %s with %s", n.ID, f.Result)
	case report.FinishReleased:
		msg = fmt.Sprintf("Released notice %s from %s: lifeboat undid its changes for it", n.ID, n.Source)
	default:
		msg = fmt.Sprintf("Acknowledged notice %s to %s: the platform may proceed", n.ID, n.Source)
	}
	typ := corev1.EventTypeNormal
	if f.Err != nil {
		typ, msg = corev1.EventTypeWarning, fmt.Sprintf("Failed (%v): %s", f.Err, msg)
	}
	return []item{nodeItem(node, typ, string(step), msg)}
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
