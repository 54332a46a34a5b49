package agent

import (
	"slices"
	"strings"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/decide"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// inForce is a drain notice the agent is acting on, with the plan decided
// for it: it stays until its drain finished, it was withdrawn, or its action
// failed for good.
type inForce struct {
	n    notice.Notice
	plan decide.Plan
}

// DrainPlan is the one drain that the drain notices in force call for: the
// earliest deadline among them, the Node deleted if any of them ends the
// machine, run under the most urgent notice's ID.
type DrainPlan struct {
	// Lead is the most urgent notice; the drain records its ID and reason.
	Lead notice.Notice
	// Action is the strongest action among the notices.
	Action decide.Action
	// Deadline is the earliest deadline; zero when no notice has one.
	Deadline time.Time
	// OnDeadline is the lead's rule at the deadline: a platform deadline
	// deletes what is left, lifeboat's own bound gives up.
	OnDeadline decide.OnDeadline
	// DeleteNode is set when some notice's plan deletes the Node.
	DeleteNode bool
	// Notices are the IDs of every notice the drain serves, sorted.
	Notices []string
}

// PlanFor combines the plans of the drain notices in force into one drain;
// ok is false when there are none. It is a pure function of its input.
func PlanFor(notices []inForce) (p DrainPlan, ok bool) {
	if len(notices) == 0 {
		return DrainPlan{}, false
	}
	sorted := slices.Clone(notices)
	slices.SortFunc(sorted, moreUrgent)
	lead := sorted[0]
	p = DrainPlan{Lead: lead.n, Action: lead.plan.Action, Deadline: lead.plan.Deadline, OnDeadline: lead.plan.OnDeadline}
	for _, f := range sorted {
		if decide.Rank(f.plan.Action) > decide.Rank(p.Action) {
			p.Action = f.plan.Action
		}
		p.DeleteNode = p.DeleteNode || f.plan.DeleteNode
		p.Notices = append(p.Notices, f.n.ID)
	}
	slices.Sort(p.Notices)
	return p, true
}

// moreUrgent orders notices: earlier deadline first (a notice with a
// deadline before one without), then the stronger action, then by ID so the
// order is total.
func moreUrgent(a, b inForce) int {
	da, db := a.plan.Deadline, b.plan.Deadline
	switch {
	case !da.IsZero() && db.IsZero():
		return -1
	case da.IsZero() && !db.IsZero():
		return 1
	case !da.Equal(db):
		return da.Compare(db)
	case decide.Rank(a.plan.Action) != decide.Rank(b.plan.Action):
		return decide.Rank(b.plan.Action) - decide.Rank(a.plan.Action)
	}
	return strings.Compare(a.n.ID, b.n.ID)
}

// MoreUrgentThan reports whether p calls for a harder drain than q: an
// earlier deadline, or deleting the Node where q keeps it. Only then does a
// running drain for q give way to one for p.
func (p DrainPlan) MoreUrgentThan(q DrainPlan) bool {
	switch {
	case !p.Deadline.IsZero() && (q.Deadline.IsZero() || p.Deadline.Before(q.Deadline)):
		return true
	case p.DeleteNode && !q.DeleteNode:
		return true
	}
	return false
}

// Same reports whether p and q would run the same drain.
func (p DrainPlan) Same(q DrainPlan) bool {
	return p.Lead.ID == q.Lead.ID && p.Deadline.Equal(q.Deadline) && p.DeleteNode == q.DeleteNode &&
		p.Action == q.Action && p.OnDeadline == q.OnDeadline
}
