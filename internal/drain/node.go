package drain

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
)

// Mark is what lifeboat records on a node (annotation AnnotationCordon) when
// it cordons or taints it, so that uncordon undoes exactly lifeboat's own
// changes and never an administrator's.
type Mark struct {
	// At is when lifeboat first marked the node.
	At time.Time `json:"at"`
	// Reason is the human-readable cause ("spot interruption").
	Reason string `json:"reason,omitempty"`
	// NoticeID and NoticeKind identify the notice that caused it.
	NoticeID   string `json:"noticeID,omitempty"`
	NoticeKind string `json:"noticeKind,omitempty"`
	// Unschedulable is true when lifeboat set spec.unschedulable (false when
	// the node was already cordoned by someone else, or for taint-only marks).
	Unschedulable bool `json:"unschedulable"`
	// Taint is the taint lifeboat added, if any.
	Taint *corev1.Taint `json:"taint,omitempty"`
	// ExcludeFromLoadBalancers is true when lifeboat added LabelExcludeFromLB.
	ExcludeFromLoadBalancers bool `json:"excludeFromLoadBalancers,omitempty"`
	// BootID is the node's status.nodeInfo.bootID when it was marked; a
	// different boot ID later means the node has rebooted since.
	BootID string `json:"bootID,omitempty"`
}

// ReadMark returns lifeboat's mark on a node, if any. A malformed annotation
// is reported as an error (and treated as no mark by callers that ignore it).
func ReadMark(n *corev1.Node) (*Mark, bool, error) {
	v, ok := n.Annotations[AnnotationCordon]
	if !ok {
		return nil, false, nil
	}
	m := &Mark{}
	if err := json.Unmarshal([]byte(v), m); err != nil {
		return nil, false, fmt.Errorf("node %s: malformed %s annotation: %w", n.Name, AnnotationCordon, err)
	}
	return m, true, nil
}

// Mark returns lifeboat's mark on the named node.
func (d *Drainer) Mark(ctx context.Context, node string) (*Mark, bool, error) {
	n, err := d.getNode(ctx, node)
	if err != nil {
		return nil, false, err
	}
	return ReadMark(n)
}

// Cordon marks the node unschedulable (unless someone else already did),
// adds the optional taint and load-balancer label, and records what it
// changed. It reports whether the node was changed.
func (d *Drainer) Cordon(ctx context.Context, node string, opts Options) (bool, error) {
	return d.cordon(ctx, node, nil, opts)
}

// cordon is Cordon starting from a node object already read (or nil).
func (d *Drainer) cordon(ctx context.Context, node string, have *corev1.Node, opts Options) (bool, error) {
	changed, err := d.applyMark(ctx, node, have, opts, true)
	if changed && err == nil {
		d.emit(Event{Type: EventCordoned, Node: node, Message: "cordoned: " + opts.Reason})
	}
	return changed, err
}

// Taint adds only the optional taint and label (no cordon), recording them
// as lifeboat's. Used for soft notices such as rebalance recommendations.
func (d *Drainer) Taint(ctx context.Context, node string, opts Options) (bool, error) {
	return d.applyMark(ctx, node, nil, opts, false)
}

func (d *Drainer) applyMark(ctx context.Context, node string, have *corev1.Node, opts Options, cordon bool) (bool, error) {
	return d.updateNodeFrom(ctx, node, have, func(n *corev1.Node) (bool, error) {
		m, has, err := ReadMark(n)
		if err != nil {
			d.log.Warn("replacing malformed cordon annotation", "node", node, "err", err)
		}
		if !has {
			m = &Mark{At: d.clock.Now().UTC().Truncate(time.Second), BootID: n.Status.NodeInfo.BootID}
		}
		if opts.Reason != "" {
			m.Reason = opts.Reason
		}
		if opts.NoticeID != "" {
			m.NoticeID, m.NoticeKind = opts.NoticeID, opts.NoticeKind
		}
		if cordon && !n.Spec.Unschedulable {
			n.Spec.Unschedulable = true
			m.Unschedulable = true
		}
		if t := opts.Taint; t != nil && !hasTaint(n, t) {
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect})
			m.Taint = &corev1.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect}
		}
		if opts.ExcludeFromLoadBalancers {
			if _, ok := n.Labels[LabelExcludeFromLB]; !ok {
				if n.Labels == nil {
					n.Labels = map[string]string{}
				}
				n.Labels[LabelExcludeFromLB] = "true"
				m.ExcludeFromLoadBalancers = true
			}
		}
		return setMark(n, m)
	})
}

// Uncordon undoes lifeboat's own mark: it makes the node schedulable only if
// lifeboat cordoned it, and removes only the taint and label lifeboat added.
// A node cordoned by someone else stays cordoned. It reports whether the node
// was changed.
func (d *Drainer) Uncordon(ctx context.Context, node string) (bool, error) {
	changed, err := d.updateNode(ctx, node, func(n *corev1.Node) (bool, error) {
		m, has, err := ReadMark(n)
		if !has {
			return false, err
		}
		if m.Unschedulable {
			n.Spec.Unschedulable = false
		}
		if m.Taint != nil {
			kept := n.Spec.Taints[:0]
			for _, t := range n.Spec.Taints {
				if t.Key != m.Taint.Key || t.Effect != m.Taint.Effect {
					kept = append(kept, t)
				}
			}
			n.Spec.Taints = kept
		}
		if m.ExcludeFromLoadBalancers {
			delete(n.Labels, LabelExcludeFromLB)
		}
		delete(n.Annotations, AnnotationCordon)
		return true, nil
	})
	if changed && err == nil {
		d.emit(Event{Type: EventUncordoned, Node: node, Message: "lifeboat's cordon removed"})
	}
	return changed, err
}

func setMark(n *corev1.Node, m *Mark) (bool, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return false, err
	}
	if n.Annotations == nil {
		n.Annotations = map[string]string{}
	}
	n.Annotations[AnnotationCordon] = string(b)
	return true, nil
}

func hasTaint(n *corev1.Node, t *corev1.Taint) bool {
	for _, have := range n.Spec.Taints {
		if have.Key == t.Key && have.Effect == t.Effect {
			return true
		}
	}
	return false
}

func (d *Drainer) getNode(ctx context.Context, name string) (*corev1.Node, error) {
	n, err := d.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, &NodeNotFoundError{Node: name}
	}
	return n, err
}

// nodeWriteBackoff retries node writes that lost a race with another writer.
var nodeWriteBackoff = wait.Backoff{Steps: 12, Duration: 20 * time.Millisecond, Factor: 1.6, Jitter: 0.5, Cap: 2 * time.Second}

// updateNode reads the node, lets mutate change a copy, and writes the
// difference as a strategic merge patch that carries the read
// resourceVersion. A concurrent writer therefore makes the patch fail with a
// conflict instead of being overwritten, and the whole read-modify-write is
// retried on fresh data: no writer's change is lost.
func (d *Drainer) updateNode(ctx context.Context, name string, mutate func(*corev1.Node) (bool, error)) (bool, error) {
	return d.updateNodeFrom(ctx, name, nil, mutate)
}

// updateNodeFrom is updateNode whose first attempt starts from have, a node
// just read by the caller (saving a GET); a conflict re-reads it.
func (d *Drainer) updateNodeFrom(ctx context.Context, name string, have *corev1.Node, mutate func(*corev1.Node) (bool, error)) (bool, error) {
	changed := false
	err := retry.RetryOnConflict(nodeWriteBackoff, func() error {
		changed = false
		cur := have
		have = nil
		if cur == nil {
			var err error
			if cur, err = d.getNode(ctx, name); err != nil {
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
		_, err = d.client.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		if apierrors.IsNotFound(err) {
			return &NodeNotFoundError{Node: name}
		}
		changed = err == nil
		return err
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
