package queue

import (
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/decide"
)

// The facts the scheduler orders work by, read from the task's plan.

// Deadline is the drain deadline the task works to (the plan's: the
// notice's own, else --hook-drain-timeout or --voluntary-drain-timeout from
// when the message was received); zero when the task drains nothing or has
// no deadline.
func (t *Task) Deadline() time.Time {
	if !t.plan.Action.IsDrain() {
		return time.Time{}
	}
	return t.plan.Deadline
}

// Waits reports a launch wait: it only watches the Node informer until the
// instance's Node is Ready, so it holds no drain worker.
func (t *Task) Waits() bool {
	return t.plan.AwaitReady && !t.Done()
}

// MoreUrgentThan orders work: an earlier deadline first, any deadline before
// none, and on a tie the stronger action (drain and delete the Node, then
// drain and keep it, then cordon, then taint).
func (t *Task) MoreUrgentThan(o *Task) bool {
	a, b := t.Deadline(), o.Deadline()
	switch {
	case a.IsZero() != b.IsZero():
		return b.IsZero()
	case !a.Equal(b):
		return a.Before(b)
	}
	return decide.Rank(t.plan.Action) > decide.Rank(o.plan.Action)
}
