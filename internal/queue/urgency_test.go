//go:build linux

package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/queue/events"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// urgencyFixture builds unprepared tasks on a fake clock; the urgency
// methods read only the event, the policy and the clock.
type urgencyFixture struct {
	p   *Processor
	now time.Time
}

func newUrgencyFixture() *urgencyFixture {
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	pol := DefaultPolicy()
	pol.HookDrainTimeout = 15 * time.Minute
	return &urgencyFixture{p: &Processor{Policy: pol, Clock: clocktesting.NewFakeClock(now)}, now: now}
}

func (f *urgencyFixture) task(action events.Action, deadline time.Duration, mutate ...func(*events.Event)) *Task {
	ev := events.Event{Action: action, Notice: notice.Notice{ID: "n", InstanceID: "i-1", Detected: f.now}}
	if deadline != 0 {
		ev.Notice.Deadline = f.now.Add(deadline)
	}
	for _, m := range mutate {
		m(&ev)
	}
	return &Task{p: f.p, ev: ev}
}

func deletes(ev *events.Event) { ev.DeleteNode = true }

func hooked(ev *events.Event) {
	ev.Hook = &events.Hook{Name: "h", Group: "g", InstanceID: ev.Notice.InstanceID}
}

func TestTaskDeadline(t *testing.T) {
	f := newUrgencyFixture()
	for _, tc := range []struct {
		name string
		task *Task
		want time.Time
	}{
		{"the notice's own", f.task(events.ActionDrain, 2*time.Minute), f.now.Add(2 * time.Minute)},
		{"a hook's drain timeout from when it was received", f.task(events.ActionDrain, 0, hooked, func(ev *events.Event) {
			ev.Notice.Detected = f.now.Add(-time.Minute)
		}), f.now.Add(14 * time.Minute)},
		{"a hook received at an unknown time: from now", f.task(events.ActionDrain, 0, hooked, func(ev *events.Event) {
			ev.Notice.Detected = time.Time{}
		}), f.now.Add(15 * time.Minute)},
		{"a hook's own deadline wins", f.task(events.ActionDrain, time.Minute, hooked), f.now.Add(time.Minute)},
		{"a rebalance drain has none", f.task(events.ActionRebalance, 0), time.Time{}},
		{"a launch wait has none", f.task(events.ActionLaunch, 0, hooked), time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.task.Deadline(); !got.Equal(tc.want) {
				t.Errorf("Deadline() = %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("no hook drain timeout", func(t *testing.T) {
		g := newUrgencyFixture()
		g.p.Policy.HookDrainTimeout = 0
		if got := g.task(events.ActionDrain, 0, hooked).Deadline(); !got.IsZero() {
			t.Errorf("Deadline() = %s, want none", got)
		}
	})
}

func TestTaskWaits(t *testing.T) {
	f := newUrgencyFixture()
	if !f.task(events.ActionLaunch, 0, hooked).Waits() {
		t.Error("a launch does not wait")
	}
	if f.task(events.ActionDrain, time.Minute).Waits() {
		t.Error("a drain waits")
	}
	done := f.task(events.ActionLaunch, 0, hooked)
	done.outcome = OutcomeAlreadyHandled
	if done.Waits() {
		t.Error("a launch finished in Prepare still waits")
	}
}

func TestTaskMoreUrgentThan(t *testing.T) {
	f := newUrgencyFixture()
	spot := f.task(events.ActionDrain, 2*time.Minute, deletes)
	spotStop := f.task(events.ActionDrain, 2*time.Minute)
	health := f.task(events.ActionDrain, time.Hour, deletes)
	hook := f.task(events.ActionDrain, 0, hooked, deletes)
	rebalance := f.task(events.ActionRebalance, 0)
	noDeadline := f.task(events.ActionDrain, 0, deletes)
	launch := f.task(events.ActionLaunch, 0, hooked)
	for _, tc := range []struct {
		name string
		a, b *Task
		want bool
	}{
		{"earlier deadline", spot, health, true},
		{"later deadline", health, spot, false},
		{"a hook's drain timeout before a far deadline", hook, health, true},
		{"any deadline before none", health, rebalance, true},
		{"none after any deadline", rebalance, health, false},
		{"same deadline: gone for good before staying", spot, spotStop, true},
		{"same deadline: staying after gone for good", spotStop, spot, false},
		{"no deadline: a drain before a rebalance", noDeadline, rebalance, true},
		{"no deadline: a rebalance after a drain", rebalance, noDeadline, false},
		{"equal: neither", spot, f.task(events.ActionDrain, 2*time.Minute, deletes), false},
		{"a launch is never more urgent than a drain", launch, noDeadline, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.MoreUrgentThan(tc.b); got != tc.want {
				t.Errorf("MoreUrgentThan = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSlotsGoEarliestDeadlineFirst: with every worker busy, a freed worker
// goes to the waiting task with the earliest deadline, then to one without a
// deadline; equally urgent tasks in arrival order.
func TestSlotsGoEarliestDeadlineFirst(t *testing.T) {
	f := newUrgencyFixture()
	s := &slots{free: 1}
	ctx := context.Background()
	if err := s.acquire(ctx, f.task(events.ActionDrain, time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	waiters := []struct {
		name string
		task *Task
	}{
		{"far", f.task(events.ActionDrain, 2*time.Hour)},
		{"none", f.task(events.ActionRebalance, 0)},
		{"near-first", f.task(events.ActionDrain, 2*time.Minute)},
		{"near-second", f.task(events.ActionDrain, 2*time.Minute)},
		{"canceled", f.task(events.ActionDrain, time.Minute)},
	}
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	cctx, cancel := context.WithCancel(ctx)
	for i, w := range waiters {
		waitCtx := ctx
		if w.name == "canceled" {
			waitCtx = cctx
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.acquire(waitCtx, w.task, uint64(i+1)); err != nil {
				return
			}
			mu.Lock()
			got = append(got, w.name)
			mu.Unlock()
		}()
		// Arrival order is the order of acquire calls.
		testbed.Eventually(t, 5*time.Second, func() (bool, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.waiting) == i+1, nil
		})
	}
	cancel()
	testbed.Eventually(t, 5*time.Second, func() (bool, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.waiting) == len(waiters)-1, nil
	})
	granted := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}
	for range len(waiters) - 1 {
		n := granted()
		s.release()
		testbed.Eventually(t, 5*time.Second, func() (bool, error) { return granted() == n+1, nil })
	}
	wg.Wait()
	want := []string{"near-first", "near-second", "far", "none"}
	if len(got) != len(want) {
		t.Fatalf("grant order %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("grant order %v, want %v", got, want)
		}
	}
	s.release()
	if s.free != 1 || len(s.waiting) != 0 {
		t.Errorf("after the last release: %d free, %d waiting; want 1 and 0", s.free, len(s.waiting))
	}
}
