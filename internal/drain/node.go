package drain

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

// Mark returns lifeboat's mark on the named node.
func (d *Drainer) Mark(ctx context.Context, node string) (*Mark, bool, error) {
	n, err := d.getNode(ctx, node, time.Time{})
	if err != nil {
		return nil, false, err
	}
	return ReadMark(n)
}

// Cordon marks the node unschedulable (unless someone else already did),
// adds the optional taint and load-balancer label, and records opts.NoticeID
// (ManualNoticeID if empty) among the notices in force. It reports whether
// this call cordoned the node (false if it already was).
func (d *Drainer) Cordon(ctx context.Context, node string, opts Options) (bool, error) {
	ch, err := d.cordon(ctx, node, nil, opts, false)
	return ch.cordoned, err
}

// cordon is Cordon starting from a node object already read (or nil); it
// returns what the call changed, so a refused drain can restore it.
// draining records (and sets) the drain's node conditions too.
func (d *Drainer) cordon(ctx context.Context, node string, have *corev1.Node, opts Options, draining bool) (markChange, error) {
	req := newMarkRequest(opts, true, d.clock.Now())
	req.conditions = conditionTypes(opts, draining)
	ch, err := d.applyMark(ctx, node, have, opts.Deadline, req)
	if err != nil {
		return ch, err
	}
	if ch.cordoned {
		e := opts.step(StepCordoned, node)
		e.Message = "cordoned: " + opts.Reason
		d.emit(e)
	}
	if len(req.conditions) > 0 {
		d.markConditions(ctx, ch.node, opts, draining)
	}
	return ch, nil
}

// Taint adds only the optional taint (no cordon, no load-balancer label),
// recording opts.NoticeID as a taint-only notice in force. Used for soft
// notices such as rebalance recommendations. It reports whether this call
// added the taint.
func (d *Drainer) Taint(ctx context.Context, node string, opts Options) (bool, error) {
	req := newMarkRequest(opts, false, d.clock.Now())
	ch, err := d.applyMark(ctx, node, nil, opts.Deadline, req)
	if err == nil && len(req.conditions) > 0 {
		d.markConditions(ctx, ch.node, opts, false)
	}
	return ch.taint != nil, err
}

func (d *Drainer) applyMark(ctx context.Context, node string, have *corev1.Node, limit time.Time, req markRequest) (markChange, error) {
	var ch markChange
	_, err := d.updateNodeFrom(ctx, node, have, limit, func(n *corev1.Node) (bool, error) {
		var err error
		ch, err = applyMark(n, req)
		ch.node = n
		return true, err
	})
	if ch.malformed && err == nil {
		d.log.Warn("replaced a malformed cordon annotation", logging.KeyNode, node)
	}
	if err != nil {
		return markChange{}, err
	}
	return ch, nil
}

// revert restores the pre-image of what one cordon changed (see revertMark).
func (d *Drainer) revert(ctx context.Context, node string, opts Options, ch markChange) error {
	_, err := d.updateNode(ctx, node, func(n *corev1.Node) (bool, error) {
		return true, revertMark(n, ch)
	})
	if err == nil && ch.cordoned {
		e := opts.step(StepUncordoned, node)
		e.Message = "cordon made by the refused drain undone"
		d.emit(e)
	}
	return err
}

// Release removes the notice noticeID from lifeboat's mark (a no-op if it
// is not there) and returns the mark left, nil if none. When no remaining
// notice wants the node cordoned, lifeboat's cordon and load-balancer label
// are undone; when no notice remains, its taints and the mark go too. An
// administrator's cordon is never undone.
func (d *Drainer) Release(ctx context.Context, node, noticeID string) (*Mark, error) {
	var (
		left       *Mark
		uncordoned bool
		over       []string
		kind       string
	)
	_, err := d.updateNode(ctx, node, func(n *corev1.Node) (bool, error) {
		pre, _, _ := ReadMark(n)
		if e, ok := pre.Notice(noticeID); ok {
			kind = e.Kind
		}
		var err error
		if left, uncordoned, err = releaseMark(n, noticeID); err != nil {
			return true, err
		}
		if over = conditionsOver(pre, left); left != nil && len(over) > 0 {
			left.Conditions = slices.DeleteFunc(left.Conditions, func(c string) bool { return slices.Contains(over, c) })
			err = writeMark(n, left)
		}
		return true, err
	})
	if err != nil {
		return nil, err
	}
	d.writeConditions(ctx, node, time.Time{}, nil, over)
	if uncordoned {
		d.emit(Step{
			Type: StepUncordoned, Node: node, NoticeID: noticeID, NoticeKind: kind,
			Message: "lifeboat's cordon removed: notice " + noticeID + " released",
		})
	}
	return left, nil
}

// Uncordon undoes everything lifeboat's mark records, whatever notices are
// in force: it makes the node schedulable only if lifeboat cordoned it, and
// removes only the taints and label lifeboat added. A node cordoned by
// someone else stays cordoned. It reports whether the node was changed.
func (d *Drainer) Uncordon(ctx context.Context, node string) (bool, error) {
	var over []string
	changed, err := d.updateNode(ctx, node, func(n *corev1.Node) (bool, error) {
		m, has, err := ReadMark(n)
		if !has {
			return false, err
		}
		over = conditionsOver(m, nil)
		undoMark(n, m)
		return true, writeMark(n, nil)
	})
	if err == nil {
		d.writeConditions(ctx, node, time.Time{}, nil, over)
	}
	if changed && err == nil {
		d.emit(Step{Type: StepUncordoned, Node: node, Message: "lifeboat's cordon removed"})
	}
	return changed, err
}

func hasTaint(n *corev1.Node, t *corev1.Taint) bool { return hasTaintIn(n.Spec.Taints, t) }

// getNode reads the node, the call bounded to end by limit (zero: none).
func (d *Drainer) getNode(ctx context.Context, name string, limit time.Time) (*corev1.Node, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout(d.clock.Now(), limit))
	defer cancel()
	n, err := d.client.CoreV1().Nodes().Get(cctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, &NodeNotFoundError{Node: name}
	}
	if err != nil {
		return nil, fmt.Errorf("reading node %s: %w", name, err)
	}
	return n, nil
}

// nodeWriteBackoff retries node writes that lost a race with another writer.
var nodeWriteBackoff = wait.Backoff{Steps: 12, Duration: 20 * time.Millisecond, Factor: 1.6, Jitter: 0.5, Cap: 2 * time.Second}

// updateNode reads the node, lets mutate change a copy, and writes the
// difference as a strategic merge patch that carries the read
// resourceVersion. A concurrent writer therefore makes the patch fail with a
// conflict instead of being overwritten, and the whole read-modify-write is
// retried on fresh data: no writer's change is lost.
func (d *Drainer) updateNode(ctx context.Context, name string, mutate func(*corev1.Node) (bool, error)) (bool, error) {
	return d.updateNodeFrom(ctx, name, nil, time.Time{}, mutate)
}

// updateNodeFrom is updateNode whose first attempt starts from have, a node
// just read by the caller (saving a GET); a conflict re-reads it. Each call
// is bounded to end by limit (zero: none); failures other than conflicts
// are returned as they are, for the caller to retry.
func (d *Drainer) updateNodeFrom(ctx context.Context, name string, have *corev1.Node, limit time.Time, mutate func(*corev1.Node) (bool, error)) (bool, error) {
	changed := false
	err := retry.RetryOnConflict(nodeWriteBackoff, func() error {
		changed = false
		cur := have
		have = nil
		if cur == nil {
			var err error
			if cur, err = d.getNode(ctx, name, limit); err != nil {
				return err
			}
		}
		next := cur.DeepCopy()
		ok, err := mutate(next)
		if err != nil || !ok {
			return err
		}
		patch, err := nodePatch(cur, next)
		if err != nil || patch == nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, callTimeout(d.clock.Now(), limit))
		defer cancel()
		_, err = d.client.CoreV1().Nodes().Patch(cctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return &NodeNotFoundError{Node: name}
		case err != nil:
			return fmt.Errorf("updating node %s: %w", name, err) // a conflict stays a conflict
		}
		changed = true
		return nil
	})
	return changed, err
}

// nodePatch returns a strategic merge patch from cur to next with cur's
// resourceVersion as a precondition, or nil when nothing changed.
func nodePatch(cur, next *corev1.Node) ([]byte, error) {
	oldJSON, err := json.Marshal(cur)
	if err != nil {
		return nil, err
	}
	newJSON, err := json.Marshal(next)
	if err != nil {
		return nil, err
	}
	p, err := strategicpatch.CreateTwoWayMergePatch(oldJSON, newJSON, corev1.Node{})
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, nil
	}
	meta, _ := m["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		m["metadata"] = meta
	}
	meta["resourceVersion"] = cur.ResourceVersion
	return json.Marshal(m)
}
