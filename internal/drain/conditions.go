package drain

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// Node lifecycle condition types (KEP-5683) lifeboat writes on the Node's
// status while it acts, with the same ownership as its cordon: it removes
// only the conditions its mark says it set.
const (
	// ConditionMaintenancePlanned is True while a scheduled maintenance
	// notice is in force for the node.
	ConditionMaintenancePlanned corev1.NodeConditionType = "MaintenancePlanned"
	// ConditionDrainInProgress is True while lifeboat drains the node.
	ConditionDrainInProgress corev1.NodeConditionType = "DrainInProgress"
	// ConditionDrained is True once lifeboat emptied the node, False when
	// its drain ended with pods left.
	ConditionDrained corev1.NodeConditionType = "Drained"
	// ConditionKubeletShutdown is the kubelet's own condition during a
	// graceful node shutdown. lifeboat never writes it; while it is True the
	// kubelet is stopping the pods, and lifeboat does not claim the drain.
	ConditionKubeletShutdown corev1.NodeConditionType = "GracefulNodeShutdownInProgress"
)

// maintenanceKinds are the notice kinds that announce scheduled maintenance.
var maintenanceKinds = []string{
	string(notice.KindScheduledReboot), string(notice.KindScheduledTermination), string(notice.KindHostMaintenance),
}

// conditionTypes are the condition types a mark request sets: the drain's
// two, and MaintenancePlanned for a maintenance notice.
func conditionTypes(opts Options, draining bool) []string {
	var out []string
	if slices.Contains(maintenanceKinds, opts.NoticeKind) {
		out = append(out, string(ConditionMaintenancePlanned))
	}
	if draining {
		out = append(out, string(ConditionDrainInProgress), string(ConditionDrained))
	}
	return out
}

// nodeCondition builds a condition at now.
func nodeCondition(t corev1.NodeConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) corev1.NodeCondition {
	ts := metav1.NewTime(now)
	return corev1.NodeCondition{Type: t, Status: status, Reason: reason, Message: message, LastHeartbeatTime: ts, LastTransitionTime: ts}
}

// hasCondition reports whether n has condition t with status True.
func hasCondition(n *corev1.Node, t corev1.NodeConditionType) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// conditionPatch is a strategic merge patch of the status subresource that
// sets conds and deletes the types in remove (conditions merge by type, so
// the kubelet's own are untouched).
func conditionPatch(conds []corev1.NodeCondition, remove []string) ([]byte, error) {
	items := make([]any, 0, len(conds)+len(remove))
	for _, c := range conds {
		items = append(items, c)
	}
	for _, t := range remove {
		items = append(items, map[string]string{"type": t, "$patch": "delete"})
	}
	return json.Marshal(map[string]any{"status": map[string]any{"conditions": items}})
}

// writeConditions patches the node's status. Conditions are reporting, not
// control: a failure is logged and never fails the drain.
func (d *Drainer) writeConditions(ctx context.Context, node string, limit time.Time, conds []corev1.NodeCondition, remove []string) {
	if len(conds) == 0 && len(remove) == 0 {
		return
	}
	patch, err := conditionPatch(conds, remove)
	if err == nil {
		cctx, cancel := context.WithTimeout(ctx, callTimeout(d.clock.Now(), limit))
		_, err = d.client.CoreV1().Nodes().PatchStatus(cctx, node, patch) // a strategic merge patch
		cancel()
	}
	if err != nil {
		d.log.Warn("cannot write node conditions", logging.KeyNode, node, logging.KeyError, err)
	}
}

// markConditions writes the conditions a mark request recorded: the
// maintenance notice's, and the drain's "in progress".
func (d *Drainer) markConditions(ctx context.Context, n *corev1.Node, opts Options, draining bool) {
	now := d.clock.Now()
	var conds []corev1.NodeCondition
	id := opts.NoticeID
	if id == "" {
		id = ManualNoticeID
	}
	if slices.Contains(maintenanceKinds, opts.NoticeKind) {
		msg := fmt.Sprintf("notice %s (%s)", id, opts.NoticeKind)
		if !opts.Deadline.IsZero() {
			msg += " not before " + opts.Deadline.UTC().Format(time.RFC3339)
		}
		conds = append(conds, nodeCondition(ConditionMaintenancePlanned, corev1.ConditionTrue, "MaintenanceScheduled", msg, now))
	}
	if draining {
		if hasCondition(n, ConditionKubeletShutdown) {
			d.log.Info("the kubelet is shutting the node down; not marking the drain in progress", logging.KeyNode, n.Name)
		} else {
			msg := fmt.Sprintf("lifeboat drains for notice %s", id)
			if !opts.Deadline.IsZero() {
				msg += " by " + opts.Deadline.UTC().Format(time.RFC3339)
			}
			conds = append(conds,
				nodeCondition(ConditionDrainInProgress, corev1.ConditionTrue, "Draining", msg, now),
				nodeCondition(ConditionDrained, corev1.ConditionFalse, "Draining", msg, now))
		}
	}
	d.writeConditions(ctx, n.Name, opts.Deadline, conds, nil)
}

// drainEndConditions records how the drain ended.
func (d *Drainer) drainEndConditions(ctx context.Context, node string, opts Options, res *Result, err error) {
	now := d.clock.Now()
	if err != nil {
		msg := fmt.Sprintf("drain for notice %s ended with %d pod(s) left: %v", noticeOf(opts), len(res.Left), err)
		d.writeConditions(ctx, node, time.Time{}, []corev1.NodeCondition{
			nodeCondition(ConditionDrainInProgress, corev1.ConditionFalse, "DrainFailed", msg, now),
			nodeCondition(ConditionDrained, corev1.ConditionFalse, "DrainFailed", msg, now),
		}, nil)
		return
	}
	msg := fmt.Sprintf("drained for notice %s at %s: %d pod(s) removed in %s", noticeOf(opts), now.UTC().Format(time.RFC3339),
		res.Evicted+res.Deleted, res.Duration.Round(time.Millisecond))
	d.writeConditions(ctx, node, time.Time{}, []corev1.NodeCondition{
		nodeCondition(ConditionDrainInProgress, corev1.ConditionFalse, "DrainFinished", msg, now),
		nodeCondition(ConditionDrained, corev1.ConditionTrue, "Drained", msg, now),
	}, nil)
}

func noticeOf(opts Options) string {
	if opts.NoticeID == "" {
		return ManualNoticeID
	}
	return opts.NoticeID
}

// conditionsOver returns the condition types lifeboat set (pre, the mark
// before a release) that no notice left in force justifies: all of them
// once the mark is gone, MaintenancePlanned once no maintenance notice
// remains. It is pure.
func conditionsOver(pre, left *Mark) []string {
	if pre == nil {
		return nil
	}
	if left == nil {
		return slices.Clone(pre.Conditions)
	}
	maint := string(ConditionMaintenancePlanned)
	if slices.Contains(pre.Conditions, maint) &&
		!slices.ContainsFunc(left.Notices, func(e MarkNotice) bool { return slices.Contains(maintenanceKinds, e.Kind) }) {
		return []string{maint}
	}
	return nil
}
