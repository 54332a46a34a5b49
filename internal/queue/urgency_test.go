//go:build linux

package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/lifeboat-dev/lifeboat/internal/decide"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/queue/message"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// urgencyFixture builds tasks planned on a fake clock, as Prepare plans them.
type urgencyFixture struct {
	p   *Processor
	now time.Time
}

func newUrgencyFixture() *urgencyFixture {
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	pol := DefaultPolicy()
	pol.HookDrainTimeout = 15 * time.Minute
	pol.VoluntaryDrainTimeout = 0 // drains of maintenance without a time have no deadline
	return &urgencyFixture{p: &Processor{Policy: pol, Clock: clocktesting.NewFakeClock(now)}, now: now}
}

// task plans a notice of kind with a deadline that far from now (0: none).
func (f *urgencyFixture) task(kind notice.Kind, deadline time.Duration, mutate ...func(*message.Event)) *Task {
	ev := message.Event{Notice: notice.Notice{ID: "n", Kind: kind, InstanceID: "i-1", Detected: f.now}}
	if deadline != 0 {
		ev.Notice.Deadline = f.now.Add(deadline)
	}
	for _, m := range mutate {
		m(&ev)
	}
	return &Task{p: f.p, ev: ev, plan: f.p.Policy.decide(&ev, f.now)}
}

func hooked(ev *message.Event) {
	ev.Hook = &message.Hook{Name: "h", Group: "g", InstanceID: ev.Notice.InstanceID}
}

// rebalanceDrains is --on-rebalance=drain --voluntary-drain-timeout=30m.
func rebalanceDrains(f *urgencyFixture) {
	f.p.Policy.Actions[notice.KindRebalance] = decide.ActionDrain
	f.p.Policy.VoluntaryDrainTimeout = 30 * time.Minute
}

func TestTaskDeadline(t *testing.T) {
	f := newUrgencyFixture()
	v := newUrgencyFixture()
	rebalanceDrains(v)
	for _, tc := range []struct {
		name string
		task *Task
		want time.Time
	}{
		{"the notice's own", f.task(notice.KindSpotInterruption, 2*time.Minute), f.now.Add(2 * time.Minute)},
		{"a hook's drain timeout from when it was received", f.task(notice.KindASGTermination, 0, hooked, func(ev *message.Event) {
			ev.Notice.Detected = f.now.Add(-time.Minute)
		}), f.now.Add(14 * time.Minute)},
		{"a hook's own deadline wins", f.task(notice.KindASGTermination, time.Minute, hooked), f.now.Add(time.Minute)},
		{"a rebalance drain: the voluntary bound", v.task(notice.KindRebalance, 0), f.now.Add(30 * time.Minute)},
		{"maintenance without a time: the voluntary bound", v.task(notice.KindScheduledReboot, 0), f.now.Add(30 * time.Minute)},
		{"maintenance without a time nor a voluntary bound: none", f.task(notice.KindScheduledReboot, 0), time.Time{}},
		{"a launch wait: none", f.task(decide.KindASGLaunch, 0, hooked), time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.task.Deadline(); !got.Equal(tc.want) {
				t.Errorf("Deadline() = %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("a taint drains nothing: none", func(t *testing.T) {
		g := newUrgencyFixture()
		if got := g.task(notice.KindRebalance, time.Minute).Deadline(); !got.IsZero() {
			t.Errorf("Deadline() = %s, want none", got)
		}
	})
}

func TestTaskWaits(t *testing.T) {
	f := newUrgencyFixture()
	if !f.task(decide.KindASGLaunch, 0, hooked).Waits() {
		t.Error("a launch does not wait")
	}
	if f.task(notice.KindSpotInterruption, time.Minute).Waits() {
		t.Error("a drain waits")
	}
	done := f.task(decide.KindASGLaunch, 0, hooked)
	done.outcome = OutcomeAlreadyHandled
	if done.Waits() {
		t.Error("a launch finished in Prepare still waits")
	}
}

func TestTaskMoreUrgentThan(t *testing.T) {
	f := newUrgencyFixture()
	spot := f.task(notice.KindSpotInterruption, 2*time.Minute)
	reboot := f.task(notice.KindScheduledReboot, 2*time.Minute)
	retire := f.task(notice.KindScheduledTermination, time.Hour)
	hook := f.task(notice.KindASGTermination, 0, hooked)
	maintenance := f.task(notice.KindScheduledReboot, 0)
	taint := f.task(notice.KindRebalance, 0)
	launch := f.task(decide.KindASGLaunch, 0, hooked)
	g := newUrgencyFixture()
	rebalanceDrains(g)
	rebalance := g.task(notice.KindRebalance, 0)
	for _, tc := range []struct {
		name string
		a, b *Task
		want bool
	}{
		{"earlier deadline", spot, retire, true},
		{"later deadline", retire, spot, false},
		{"a hook's drain timeout before a far deadline", hook, retire, true},
		{"the interruption before the rebalance drain it follows", spot, rebalance, true},
		{"the rebalance drain after the interruption", rebalance, spot, false},
		{"any deadline before none", retire, maintenance, true},
		{"none after any deadline", maintenance, retire, false},
		{"same deadline: drain and delete before drain and keep", spot, reboot, true},
		{"same deadline: drain and keep after drain and delete", reboot, spot, false},
		{"no deadline: a drain before a taint", maintenance, taint, true},
		{"no deadline: a taint after a drain", taint, maintenance, false},
		{"equal: neither", spot, f.task(notice.KindSpotInterruption, 2*time.Minute), false},
		{"a launch is never more urgent than a drain", launch, maintenance, false},
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
	if err := s.acquire(ctx, f.task(notice.KindScheduledTermination, time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	waiters := []struct {
		name string
		task *Task
	}{
		{"far", f.task(notice.KindScheduledTermination, 2*time.Hour)},
		{"none", f.task(notice.KindScheduledReboot, 0)},
		{"near-first", f.task(notice.KindSpotInterruption, 2*time.Minute)},
		{"near-second", f.task(notice.KindSpotInterruption, 2*time.Minute)},
		{"canceled", f.task(notice.KindSpotInterruption, time.Minute)},
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
