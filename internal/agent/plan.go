package agent

import (
	"slices"
	"strings"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// inForce is a drain notice the agent is acting on: it stays until its drain
// finished, it was withdrawn, or its action failed for good.
type inForce struct {
	n   notice.Notice
	act Action
}

// Plan is the one drain that the drain notices in force call for: the
// earliest deadline among them, the Node deleted if any of them ends the
// machine, run under the most urgent notice's ID.
type Plan struct {
	// Lead is the most urgent notice; the drain records its ID and reason.
	Lead notice.Notice
	// Action is the strongest action among the notices.
	Action Action
	// Deadline is the earliest deadline; zero when no notice has one.
	Deadline time.Time
	// DeleteNode is set when some notice's action is drain-delete and
	// deleting Nodes is allowed.
	DeleteNode bool
	// Notices are the IDs of every notice the drain serves, sorted.
	Notices []string
}

// defaultsToTimeout reports kinds whose notice means "soon" even when it
// carries no time (a scale-in, a termination): their drain gets
// Config.NoticeTimeout from detection. Scheduled maintenance without a
// readable time gets no deadline: it may be weeks away, and a made-up fuse
// would delete PDB-blocked pods for nothing.
func defaultsToTimeout(k notice.Kind) bool {
	switch k {
	case notice.KindScheduledReboot, notice.KindScheduledTermination, notice.KindHostMaintenance, notice.KindRebalance:
		return false
	}
	return true
}

// EffectiveDeadline is when a notice's drain must be done: its own deadline,
// else detection plus noticeTimeout for kinds that mean "soon", else none.
// It depends on the notice alone (not on now), so recomputing a plan never
// moves a deadline.
func EffectiveDeadline(n notice.Notice, noticeTimeout time.Duration) time.Time {
	switch {
	case !n.Deadline.IsZero():
		return n.Deadline
	case defaultsToTimeout(n.Kind) && !n.Detected.IsZero():
		return n.Detected.Add(noticeTimeout)
	}
	return time.Time{}
}

// PlanFor decides the drain for the drain notices in force; ok is false when
// there are none. It is a pure function of its inputs.
func PlanFor(notices []inForce, deleteAllowed bool, noticeTimeout time.Duration) (p Plan, ok bool) {
	if len(notices) == 0 {
		return Plan{}, false
	}
	sorted := slices.Clone(notices)
	slices.SortFunc(sorted, func(a, b inForce) int {
		return moreUrgent(a, b, noticeTimeout)
	})
	lead := sorted[0]
	p = Plan{Lead: lead.n, Action: lead.act}
	for _, f := range sorted {
		d := EffectiveDeadline(f.n, noticeTimeout)
		if !d.IsZero() && (p.Deadline.IsZero() || d.Before(p.Deadline)) {
			p.Deadline = d
		}
		if rank(f.act) > rank(p.Action) {
			p.Action = f.act
		}
		p.Notices = append(p.Notices, f.n.ID)
	}
	slices.Sort(p.Notices)
	p.DeleteNode = deleteAllowed && p.Action == ActionDrainDelete
	return p, true
}

// moreUrgent orders notices: earlier deadline first (a notice with a
// deadline before one without), then the stronger action, then by ID so the
// order is total.
func moreUrgent(a, b inForce, noticeTimeout time.Duration) int {
	da, db := EffectiveDeadline(a.n, noticeTimeout), EffectiveDeadline(b.n, noticeTimeout)
	switch {
	case !da.IsZero() && db.IsZero():
		return -1
	case da.IsZero() && !db.IsZero():
		return 1
	case !da.Equal(db):
		return da.Compare(db)
	case rank(a.act) != rank(b.act):
		return rank(b.act) - rank(a.act)
	}
	return strings.Compare(a.n.ID, b.n.ID)
}

// MoreUrgentThan reports whether p calls for a harder drain than q: an
// earlier deadline, or deleting the Node where q keeps it. Only then does a
// running drain for q give way to one for p.
func (p Plan) MoreUrgentThan(q Plan) bool {
	switch {
	case !p.Deadline.IsZero() && (q.Deadline.IsZero() || p.Deadline.Before(q.Deadline)):
		return true
	case p.DeleteNode && !q.DeleteNode:
		return true
	}
	return false
}

// Same reports whether p and q would run the same drain.
func (p Plan) Same(q Plan) bool {
	return p.Lead.ID == q.Lead.ID && p.Deadline.Equal(q.Deadline) && p.DeleteNode == q.DeleteNode && p.Action == q.Action
}

// rank orders actions from mildest to strongest.
func rank(a Action) int { return slices.Index(actions, a) }

// isDrain reports actions carried out by the drain engine.
func isDrain(a Action) bool { return a == ActionDrain || a == ActionDrainDelete }
