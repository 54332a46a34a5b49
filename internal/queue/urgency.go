package queue

import (
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/queue/events"
)

// The facts the scheduler orders work by. They read only the event and the
// policy, so they mean the same before and after Prepare.

// Deadline is the drain deadline the task works to: the notice's own, else
// for a lifecycle hook --hook-drain-timeout counted from when the message
// was received (Notice.Detected), else zero (none). A launch wait drains
// nothing and has none.
func (t *Task) Deadline() time.Time {
	switch {
	case t.ev.Action == events.ActionLaunch:
		return time.Time{}
	case !t.ev.Notice.Deadline.IsZero():
		return t.ev.Notice.Deadline
	case t.ev.Hook != nil && t.p.Policy.HookDrainTimeout > 0:
		from := t.ev.Notice.Detected
		if from.IsZero() {
			from = t.p.Clock.Now()
		}
		return from.Add(t.p.Policy.HookDrainTimeout)
	}
	return time.Time{}
}

// Waits reports a launch wait: it only watches the Node informer until the
// instance's Node is Ready, so it holds no drain worker.
func (t *Task) Waits() bool {
	return t.ev.Action == events.ActionLaunch && !t.Done()
}

// MoreUrgentThan orders work: an earlier deadline first, any deadline before
// none, and on a tie an instance going away for good (drain, Node deleted)
// before one that stays (stop, reboot) before a soft notice (rebalance).
func (t *Task) MoreUrgentThan(o *Task) bool {
	a, b := t.Deadline(), o.Deadline()
	switch {
	case a.IsZero() != b.IsZero():
		return b.IsZero()
	case !a.Equal(b):
		return a.Before(b)
	}
	return t.finality() > o.finality()
}

// finality ranks how final the notice is for the instance.
func (t *Task) finality() int {
	switch {
	case t.ev.Action == events.ActionDrain && t.ev.DeleteNode:
		return 2
	case t.ev.Action == events.ActionDrain:
		return 1
	}
	return 0
}
