package drain

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// ManualNoticeID is the notice ID recorded for a cordon or drain made
// without a notice (for example `lifeboat drain` by hand).
const ManualNoticeID = "manual"

// MarkNotice is one notice in force that made lifeboat mark the node.
type MarkNotice struct {
	// ID identifies the notice (ManualNoticeID for a drain by hand).
	ID string `json:"id"`
	// Kind is the notice kind ("spot-interruption"), if known.
	Kind string `json:"kind,omitempty"`
	// Reason is the human-readable cause.
	Reason string `json:"reason,omitempty"`
	// Deadline is when the node goes away for this notice; zero if none.
	Deadline time.Time `json:"deadline,omitzero"`
	// At is when this notice first marked the node.
	At time.Time `json:"at"`
	// BootID is the node's boot ID when this notice marked it.
	BootID string `json:"bootID,omitempty"`
	// Cordon is true when this notice wants the node cordoned (Cordon or
	// Drain); false for a taint-only notice.
	Cordon bool `json:"cordon,omitempty"`
	// By names the lifeboat mode that acts on the notice ("agent", "queue",
	// "lambda"); empty for a drain by hand and for marks written before
	// this field existed.
	By string `json:"by,omitempty"`
}

// Mark is what lifeboat records on a node (annotation AnnotationCordon) when
// it cordons or taints it: the set of notices in force, and exactly which
// changes lifeboat made, so that releasing the last notice undoes lifeboat's
// own changes and never an administrator's.
type Mark struct {
	// At is when lifeboat first marked the node.
	At time.Time `json:"at"`
	// Reason is the latest notice's human-readable cause, for display.
	Reason string `json:"reason,omitempty"`
	// Notices are the notices in force, oldest first.
	Notices []MarkNotice `json:"notices,omitempty"`
	// Unschedulable is true when lifeboat set spec.unschedulable (never when
	// the node was already cordoned by someone else).
	Unschedulable bool `json:"unschedulable"`
	// Taints are the taints lifeboat added.
	Taints []corev1.Taint `json:"taints,omitempty"`
	// ExcludeFromLoadBalancers is true when lifeboat added LabelExcludeFromLB.
	ExcludeFromLoadBalancers bool `json:"excludeFromLoadBalancers,omitempty"`
	// BootID is the node's status.nodeInfo.bootID when it was first marked.
	BootID string `json:"bootID,omitempty"`
	// Conditions are the Node condition types lifeboat set
	// (MaintenancePlanned, DrainInProgress, Drained); releasing the mark
	// removes exactly these.
	Conditions []string `json:"conditions,omitempty"`
}

// Notice returns the entry for the notice id, if it is in force.
func (m *Mark) Notice(id string) (MarkNotice, bool) {
	if m == nil {
		return MarkNotice{}, false
	}
	for _, e := range m.Notices {
		if e.ID == id {
			return e, true
		}
	}
	return MarkNotice{}, false
}

// wantsCordon reports whether some notice in force wants the node cordoned.
func (m *Mark) wantsCordon() bool {
	return slices.ContainsFunc(m.Notices, func(e MarkNotice) bool { return e.Cordon })
}

// storedMark is the annotation's wire form: the current fields plus the
// single-notice fields of lifeboat releases before the notice set.
type storedMark struct {
	Mark
	LegacyNoticeID   string        `json:"noticeID,omitempty"`
	LegacyNoticeKind string        `json:"noticeKind,omitempty"`
	LegacyTaint      *corev1.Taint `json:"taint,omitempty"`
}

// ReadMark returns lifeboat's mark on a node, if any. It also reads the
// single-notice format of earlier releases (noticeID, noticeKind, taint) as
// a mark with one notice. A malformed annotation is reported as an error
// (and treated as no mark by callers that ignore it).
func ReadMark(n *corev1.Node) (*Mark, bool, error) {
	v, ok := n.Annotations[AnnotationCordon]
	if !ok {
		return nil, false, nil
	}
	var s storedMark
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return nil, false, fmt.Errorf("node %s: malformed %s annotation: %w", n.Name, AnnotationCordon, err)
	}
	m := s.Mark
	if s.LegacyTaint != nil && !hasTaintIn(m.Taints, s.LegacyTaint) {
		m.Taints = append(m.Taints, *s.LegacyTaint)
	}
	if len(m.Notices) == 0 && (s.LegacyNoticeID != "" || s.LegacyNoticeKind != "" || m.Unschedulable || s.LegacyTaint != nil || m.ExcludeFromLoadBalancers) {
		id := s.LegacyNoticeID
		if id == "" {
			id = ManualNoticeID
		}
		// The old format did not say whether its notice wanted a cordon; a
		// cordon lifeboat made, or an unschedulable node, says it did.
		m.Notices = []MarkNotice{{
			ID: id, Kind: s.LegacyNoticeKind, Reason: m.Reason, At: m.At, BootID: m.BootID,
			Cordon: m.Unschedulable || m.ExcludeFromLoadBalancers || n.Spec.Unschedulable,
		}}
	}
	return &m, true, nil
}

// writeMark stores m on n, or removes the annotation when m is nil.
func writeMark(n *corev1.Node, m *Mark) error {
	if m == nil {
		delete(n.Annotations, AnnotationCordon)
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if n.Annotations == nil {
		n.Annotations = map[string]string{}
	}
	n.Annotations[AnnotationCordon] = string(b)
	return nil
}

// markRequest is one Cordon, Taint or Drain call's wish for the node.
type markRequest struct {
	entry      MarkNotice    // this call's notice (ID never empty)
	cordon     bool          // set spec.unschedulable
	taint      *corev1.Taint // add this taint
	lb         bool          // add LabelExcludeFromLB (only with cordon)
	conditions []string      // Node condition types the caller will set
}

func newMarkRequest(opts Options, cordon bool, now time.Time) markRequest {
	id := opts.NoticeID
	if id == "" {
		id = ManualNoticeID
	}
	var taint *corev1.Taint
	if t := opts.Taint; t != nil {
		taint = &corev1.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect}
	}
	return markRequest{
		entry: MarkNotice{
			ID: id, Kind: opts.NoticeKind, Reason: opts.Reason, Deadline: opts.Deadline,
			At: now.UTC().Truncate(time.Second), Cordon: cordon, By: opts.Actor,
		},
		cordon: cordon, taint: taint, lb: cordon && opts.ExcludeFromLoadBalancers,
		conditions: conditionTypes(opts, false),
	}
}

// markChange is what one call changed on the node: enough to restore the
// pre-image of exactly those changes.
type markChange struct {
	node      *corev1.Node  // the node as written (nil on error)
	pre       *Mark         // the mark before the call (nil: none)
	id        string        // the call's notice ID
	cordoned  bool          // this call set spec.unschedulable
	taint     *corev1.Taint // the taint this call added
	lb        bool          // this call added LabelExcludeFromLB
	malformed bool          // a malformed annotation was replaced
	conds     []string      // condition types this call added to the mark
}

// applyMark changes n (a copy) as req asks and records it in the mark. It
// is pure: the caller writes the result.
func applyMark(n *corev1.Node, req markRequest) (markChange, error) {
	m, has, err := ReadMark(n)
	ch := markChange{id: req.entry.ID, malformed: err != nil}
	if has {
		ch.pre = copyMark(m)
	} else {
		m = &Mark{At: req.entry.At, BootID: n.Status.NodeInfo.BootID}
	}
	e := req.entry
	e.BootID = n.Status.NodeInfo.BootID
	if c := claimedBy(m, e); c != nil {
		return ch, &ClaimedError{Node: n.Name, NoticeID: e.ID, ClaimedID: c.ID, By: c.By}
	}
	if i := slices.IndexFunc(m.Notices, func(x MarkNotice) bool { return x.ID == e.ID }); i >= 0 {
		old := m.Notices[i]
		e.At, e.BootID, e.Cordon = old.At, old.BootID, old.Cordon || e.Cordon
		if e.Kind == "" {
			e.Kind = old.Kind
		}
		if e.Reason == "" {
			e.Reason = old.Reason
		}
		if e.Deadline.IsZero() {
			e.Deadline = old.Deadline
		}
		m.Notices[i] = e
	} else {
		m.Notices = append(m.Notices, e)
	}
	if e.Reason != "" {
		m.Reason = e.Reason
	}
	for _, c := range req.conditions {
		if !slices.Contains(m.Conditions, c) {
			m.Conditions = append(m.Conditions, c)
			ch.conds = append(ch.conds, c)
		}
	}
	if req.cordon && !n.Spec.Unschedulable {
		n.Spec.Unschedulable = true
		m.Unschedulable = true
		ch.cordoned = true
	}
	if t := req.taint; t != nil && !hasTaintIn(n.Spec.Taints, t) {
		n.Spec.Taints = append(n.Spec.Taints, *t)
		ch.taint = t
		if !hasTaintIn(m.Taints, t) {
			m.Taints = append(m.Taints, *t)
		}
	}
	if req.lb {
		if _, ok := n.Labels[LabelExcludeFromLB]; !ok {
			if n.Labels == nil {
				n.Labels = map[string]string{}
			}
			n.Labels[LabelExcludeFromLB] = "true"
			m.ExcludeFromLoadBalancers = true
			ch.lb = true
		}
	}
	return ch, writeMark(n, m)
}

// claimedBy returns the entry of another lifeboat mode acting on the same
// cloud event as e (notice.SameEvent), if any: the agent and queue mode on
// one cluster see one spot interruption each, and the first to mark the node
// acts on it. The mark is written with the Node's resourceVersion, so
// exactly one of them wins.
func claimedBy(m *Mark, e MarkNotice) *MarkNotice {
	if e.By == "" {
		return nil
	}
	for i, x := range m.Notices {
		if x.By != "" && x.By != e.By && notice.SameEvent(x.ID, e.ID) {
			return &m.Notices[i]
		}
	}
	return nil
}

// releaseMark removes the notice id from the mark on n (a copy). When no
// remaining notice wants a cordon, lifeboat's cordon and load-balancer label
// are undone; when no notice remains, lifeboat's taints and the mark go too.
// An administrator's cordon is never undone. It returns the mark left (nil
// if none) and whether spec.unschedulable was cleared.
func releaseMark(n *corev1.Node, id string) (*Mark, bool, error) {
	m, has, err := ReadMark(n)
	if !has {
		return nil, false, err
	}
	m.Notices = slices.DeleteFunc(m.Notices, func(e MarkNotice) bool { return e.ID == id })
	if len(m.Notices) == 0 {
		uncordoned := undoMark(n, m)
		return nil, uncordoned, writeMark(n, nil)
	}
	uncordoned := false
	if !m.wantsCordon() {
		uncordoned = undoCordon(n, m)
	}
	m.Reason = latestReason(m.Notices)
	return m, uncordoned, writeMark(n, m)
}

// undoMark reverts everything lifeboat recorded in m on n and reports
// whether spec.unschedulable was cleared. The caller removes the mark.
func undoMark(n *corev1.Node, m *Mark) bool {
	uncordoned := undoCordon(n, m)
	for i := range m.Taints {
		n.Spec.Taints = withoutTaint(n.Spec.Taints, &m.Taints[i])
	}
	m.Taints = nil
	return uncordoned
}

// undoCordon clears lifeboat's cordon and load-balancer label from n.
func undoCordon(n *corev1.Node, m *Mark) bool {
	uncordoned := false
	if m.Unschedulable {
		uncordoned = n.Spec.Unschedulable
		n.Spec.Unschedulable = false
		m.Unschedulable = false
	}
	if m.ExcludeFromLoadBalancers {
		delete(n.Labels, LabelExcludeFromLB)
		m.ExcludeFromLoadBalancers = false
	}
	return uncordoned
}

// revertMark restores on n (a copy) the pre-image of what ch changed: the
// call's own notice entry, and the cordon, taint and label only if the call
// added them and no notice that arrived since wants them.
func revertMark(n *corev1.Node, ch markChange) error {
	m, has, err := ReadMark(n)
	if !has || err != nil {
		return err // the mark is gone: someone undid everything already
	}
	if prev, ok := ch.pre.Notice(ch.id); ok {
		for i := range m.Notices {
			if m.Notices[i].ID == ch.id {
				m.Notices[i] = prev
			}
		}
	} else {
		m.Notices = slices.DeleteFunc(m.Notices, func(e MarkNotice) bool { return e.ID == ch.id })
	}
	var newcomers []MarkNotice
	for _, e := range m.Notices {
		if _, old := ch.pre.Notice(e.ID); !old {
			newcomers = append(newcomers, e)
		}
	}
	wanted := slices.ContainsFunc(newcomers, func(e MarkNotice) bool { return e.Cordon })
	if ch.cordoned && !wanted && m.Unschedulable {
		n.Spec.Unschedulable = false
		m.Unschedulable = false
	}
	if ch.lb && !wanted && m.ExcludeFromLoadBalancers {
		delete(n.Labels, LabelExcludeFromLB)
		m.ExcludeFromLoadBalancers = false
	}
	if t := ch.taint; t != nil && len(newcomers) == 0 {
		n.Spec.Taints = withoutTaint(n.Spec.Taints, t)
		m.Taints = withoutTaint(m.Taints, t)
	}
	if len(newcomers) == 0 {
		m.Conditions = slices.DeleteFunc(m.Conditions, func(c string) bool { return slices.Contains(ch.conds, c) })
	}
	if ch.pre == nil && len(m.Notices) == 0 {
		return writeMark(n, nil)
	}
	if ch.pre != nil {
		m.Reason = ch.pre.Reason
	}
	if len(newcomers) > 0 {
		m.Reason = latestReason(m.Notices)
	}
	return writeMark(n, m)
}

func latestReason(ns []MarkNotice) string {
	reason := ""
	var at time.Time
	for _, e := range ns {
		if e.Reason != "" && !e.At.Before(at) {
			reason, at = e.Reason, e.At
		}
	}
	return reason
}

func copyMark(m *Mark) *Mark {
	c := *m
	c.Notices = slices.Clone(m.Notices)
	c.Taints = slices.Clone(m.Taints)
	return &c
}

func hasTaintIn(ts []corev1.Taint, t *corev1.Taint) bool {
	return slices.ContainsFunc(ts, func(have corev1.Taint) bool { return have.Key == t.Key && have.Effect == t.Effect })
}

func withoutTaint(ts []corev1.Taint, t *corev1.Taint) []corev1.Taint {
	return slices.DeleteFunc(slices.Clone(ts), func(have corev1.Taint) bool { return have.Key == t.Key && have.Effect == t.Effect })
}
