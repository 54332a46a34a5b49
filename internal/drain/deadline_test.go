package drain

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

func podWithGrace(g int64) *corev1.Pod {
	p := &corev1.Pod{}
	p.Spec.TerminationGracePeriodSeconds = &g
	return p
}

func podsWithGrace(gs ...int64) []corev1.Pod {
	out := make([]corev1.Pod, 0, len(gs))
	for _, g := range gs {
		out = append(out, *podWithGrace(g))
	}
	return out
}

func TestGrace(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	cases := []struct {
		name     string
		override int64
		pod      *corev1.Pod
		deadline time.Duration // from now; 0: none
		margin   time.Duration
		want     int64 // -1: nil (the pod's own)
	}{
		{"no deadline, pod's own", -1, podWithGrace(30), 0, 0, -1},
		{"no deadline, override", 10, podWithGrace(30), 0, 0, 10},
		{"no deadline, override 0 becomes 1", 0, podWithGrace(30), 0, 0, 1},
		{"pod's own 0 becomes 1", -1, podWithGrace(0), 0, 0, 1},
		{"default grace when unset", -1, &corev1.Pod{}, 0, 0, -1},
		{"own grace fits", -1, podWithGrace(30), 2 * time.Minute, 0, -1},
		{"capped to fit with the default margin", -1, podWithGrace(120), 60 * time.Second, 0, 58},
		{"capped with a custom margin", -1, podWithGrace(120), 60 * time.Second, 10 * time.Second, 50},
		{"fractional seconds round down", -1, podWithGrace(120), 60*time.Second + 900*time.Millisecond, 0, 58},
		{"override capped", 90, podWithGrace(5), 30 * time.Second, 0, 28},
		{"deadline passed: at least 1 s", -1, podWithGrace(30), -time.Minute, 0, 1},
		{"deadline inside the margin: at least 1 s", -1, podWithGrace(30), time.Second, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{GracePeriodSeconds: tc.override, SafetyMargin: tc.margin}
			if tc.deadline != 0 {
				opts.Deadline = clk.Now().Add(tc.deadline)
			}
			g := newTiming(opts).grace(clk.Now(), tc.pod)
			switch {
			case tc.want == -1 && g != nil:
				t.Errorf("grace = %d, want the pod's own (nil)", *g)
			case tc.want != -1 && (g == nil || *g != tc.want):
				t.Errorf("grace = %v, want %d", g, tc.want)
			}
		})
	}
}

// TestGraceShrinksAsTimePasses: a capped grace period always ends margin
// before the deadline, however late it is asked for.
func TestGraceShrinksAsTimePasses(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	tm := newTiming(Options{GracePeriodSeconds: -1, Deadline: t0.Add(2 * time.Minute)})
	p := podWithGrace(300)
	for clk.Now().Before(t0.Add(2 * time.Minute)) {
		g := tm.grace(clk.Now(), p)
		if g == nil {
			t.Fatal("a 300 s grace period was not capped before a 2 min deadline")
		}
		end := clk.Now().Add(time.Duration(*g) * time.Second)
		if *g > 1 && end.After(tm.deadline.Add(-tm.margin)) {
			t.Fatalf("at %s grace %d s ends at %s, after deadline-margin", clk.Now().Sub(t0), *g, end)
		}
		clk.Step(1300 * time.Millisecond)
	}
}

func TestFallbackAtAndWaveStart(t *testing.T) {
	deadline := t0.Add(2 * time.Minute)
	cases := []struct {
		name   string
		opts   Options
		pods   []corev1.Pod
		wantAt time.Time // fallback point of pods[0]
		wave   time.Time
	}{
		{"no deadline", Options{GracePeriodSeconds: -1}, podsWithGrace(30), time.Time{}, time.Time{}},
		{"own grace", Options{GracePeriodSeconds: -1, Deadline: deadline}, podsWithGrace(30, 10), deadline.Add(-33 * time.Second), deadline.Add(-33 * time.Second)},
		{"longest grace starts the wave", Options{GracePeriodSeconds: -1, Deadline: deadline}, podsWithGrace(10, 60), deadline.Add(-13 * time.Second), deadline.Add(-63 * time.Second)},
		{"override and margin", Options{GracePeriodSeconds: 20, Deadline: deadline, SafetyMargin: 5 * time.Second}, podsWithGrace(300), deadline.Add(-26 * time.Second), deadline.Add(-26 * time.Second)},
		{"grace longer than the notice: at once", Options{GracePeriodSeconds: -1, Deadline: deadline}, podsWithGrace(180), deadline.Add(-183 * time.Second), deadline.Add(-183 * time.Second)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tm := newTiming(tc.opts)
			if got := tm.fallbackAt(&tc.pods[0]); !got.Equal(tc.wantAt) {
				t.Errorf("fallbackAt = %s, want %s", got, tc.wantAt)
			}
			if got := tm.waveStart(tc.pods); !got.Equal(tc.wave) {
				t.Errorf("waveStart = %s, want %s", got, tc.wave)
			}
		})
	}
}

func TestCallTimeout(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	deadline := t0.Add(20 * time.Second)
	tm := newTiming(Options{GracePeriodSeconds: -1, Deadline: deadline})
	p := podWithGrace(5) // fallback point: deadline - 2 s margin - 1 s - 5 s = t0+12s
	cases := []struct {
		name  string
		after time.Duration // since t0
		limit func(now time.Time) time.Time
		want  time.Duration
	}{
		{"no limit", 0, func(time.Time) time.Time { return time.Time{} }, noDeadlineCallTimeout},
		{"far limit: 15 s at most", 0, func(time.Time) time.Time { return t0.Add(time.Hour) }, maxCallTimeout},
		{"eviction before the fallback point", 0, func(now time.Time) time.Time { return tm.podCallLimit(now, p) }, 12 * time.Second},
		{"eviction near the fallback point", 9 * time.Second, func(now time.Time) time.Time { return tm.podCallLimit(now, p) }, 3 * time.Second},
		{"just before the fallback point: the floor", 11500 * time.Millisecond, func(now time.Time) time.Time { return tm.podCallLimit(now, p) }, minCallTimeout},
		{"fallback delete: until deadline-margin", 12 * time.Second, func(now time.Time) time.Time { return tm.podCallLimit(now, p) }, 6 * time.Second},
		{"past the deadline: the floor", 30 * time.Second, func(now time.Time) time.Time { return tm.podCallLimit(now, p) }, minCallTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk.SetTime(t0.Add(tc.after))
			now := clk.Now()
			if got := callTimeout(now, tc.limit(now)); got != tc.want {
				t.Errorf("callTimeout = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	cases := []struct {
		attempt int
		limit   time.Duration // from now; 0: none
		want    time.Duration
	}{
		{0, 0, 250 * time.Millisecond},
		{1, 0, 500 * time.Millisecond},
		{4, 0, 4 * time.Second},
		{5, 0, 5 * time.Second},
		{60, 0, 5 * time.Second},
		{4, 3 * time.Second, 3 * time.Second},
		{2, -time.Second, 0},
	}
	for _, tc := range cases {
		var limit time.Time
		if tc.limit != 0 {
			limit = t0.Add(tc.limit)
		}
		if got := retryDelay(t0, limit, tc.attempt); got != tc.want {
			t.Errorf("retryDelay(attempt %d, limit %s) = %s, want %s", tc.attempt, tc.limit, got, tc.want)
		}
	}
}

func TestLeftReason(t *testing.T) {
	cases := []struct {
		s    podState
		want string
	}{
		{podState{}, "not attempted: the drain ended before its turn"},
		{podState{tried: true}, "not removed"},
		{podState{tried: true, lastErr: "boom"}, "not removed: boom"},
		{podState{tried: true, blocked: "ns/web"}, "blocked by PDB ns/web"},
		{podState{tried: true, removed: true}, "still terminating"},
	}
	for _, tc := range cases {
		if got := leftReason(tc.s); got != tc.want {
			t.Errorf("leftReason(%+v) = %q, want %q", tc.s, got, tc.want)
		}
	}
	if got := incompleteReason(nil, 0); got != "pods could not be removed" {
		t.Errorf("reason without a cause = %q", got)
	}
	if got := incompleteReason(errDeadline, 0); got != "deadline passed" {
		t.Errorf("reason at the deadline = %q", got)
	}
}

func TestFailedLogsEachKindOnce(t *testing.T) {
	var events []Step
	d := New(nil, Config{Observer: ObserverFunc(func(e Step) { events = append(events, e) })})
	r := newRun(d, "n1", Options{}, &podTracker{waiting: map[types.UID]chan struct{}{}}, &Result{})
	p := podWithGrace(1)
	p.Namespace, p.Name = "ns", "p"
	r.add([]corev1.Pod{*p})
	gr := schema.GroupResource{Resource: "pods"}
	internal := apierrors.NewInternalError(errors.New("more than one PodDisruptionBudget"))
	var last string
	for range 5 {
		last = r.failed(p, internal, last, "eviction failed, retrying")
	}
	last = r.failed(p, apierrors.NewForbidden(gr, "p", errors.New("budget")), last, "eviction failed, retrying")
	r.failed(p, apierrors.NewForbidden(gr, "p", errors.New("budget")), last, "eviction failed, retrying")
	if len(events) != 2 {
		t.Errorf("%d EvictionFailed events for 5 identical 500s and 2 identical 403s, want 2", len(events))
	}
}

func TestBudgetWaitUntil(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	if got := budgetWaitUntil(now, time.Time{}); !got.IsZero() {
		t.Errorf("no deadline: wait until %s, want no bound", got)
	}
	if got := budgetWaitUntil(now, now.Add(10*time.Minute)); !got.Equal(now.Add(5 * time.Minute)) {
		t.Errorf("10m to the deadline: wait until %s, want 5m", got)
	}
	if got := volumeWaitUntil(now, now.Add(time.Minute), 2*time.Second); !got.Equal(now.Add(58 * time.Second)) {
		t.Errorf("volume wait until %s", got)
	}
	if got := volumeWaitUntil(now, time.Time{}, 2*time.Second); !got.Equal(now.Add(5 * time.Minute)) {
		t.Errorf("volume wait without deadline until %s", got)
	}
}
