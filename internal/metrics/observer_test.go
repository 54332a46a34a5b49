package metrics

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// ev builds a drain event on node n1 at t0+offset.
func ev(typ drain.EventType, offset time.Duration, pod string) drain.Event {
	return drain.Event{Type: typ, Time: t0.Add(offset), Node: "n1", Pod: pod}
}

func drained(offset time.Duration, r drain.Result) drain.Event {
	e := ev(drain.EventDrained, offset, "")
	e.Result = &r
	return e
}

func TestDrainObserver(t *testing.T) {
	type want struct {
		drains      map[string]float64
		evictions   map[string]float64
		blockedSecs float64
		fallbacks   float64
		durationSum float64
	}
	cases := []struct {
		name   string
		events []drain.Event
		want   want
	}{
		{
			name: "clean drain: evictions counted, duration from the result",
			events: []drain.Event{
				ev(drain.EventDrainStarted, 0, ""),
				ev(drain.EventPodEvicted, time.Second, "ns/a"),
				ev(drain.EventPodEvicted, time.Second, "ns/b"),
				ev(drain.EventPodDeleted, time.Second, "ns/job-done"),
				ev(drain.EventPodGone, 3*time.Second, "ns/a"),
				drained(5*time.Second, drain.Result{Node: "n1", Pods: 3, Evicted: 2, Deleted: 1, Duration: 4 * time.Second}),
			},
			want: want{
				drains:      map[string]float64{DrainSucceeded: 1},
				evictions:   map[string]float64{EvictionEvicted: 2, EvictionFinishedDeleted: 1},
				durationSum: 4,
			},
		},
		{
			name: "PDB blocks twice, then allows: blocked time runs from the first block to the eviction",
			events: []drain.Event{
				ev(drain.EventDrainStarted, 0, ""),
				ev(drain.EventPodBlocked, 1*time.Second, "ns/web-0"),
				ev(drain.EventPodBlocked, 6*time.Second, "ns/web-0"),
				ev(drain.EventPodEvicted, 11*time.Second, "ns/web-0"),
				ev(drain.EventPodGone, 20*time.Second, "ns/web-0"),
				drained(21*time.Second, drain.Result{Pods: 1, Evicted: 1}),
			},
			want: want{
				drains:      map[string]float64{DrainSucceeded: 1},
				evictions:   map[string]float64{EvictionBlocked: 2, EvictionEvicted: 1},
				blockedSecs: 10,
				durationSum: 21, // no Result.Duration: measured from DrainStarted
			},
		},
		{
			name: "deadline fallback deletes the blocked pod; the finished pod is told apart",
			events: []drain.Event{
				ev(drain.EventDrainStarted, 0, ""),
				ev(drain.EventPodDeleted, time.Second, "ns/finished"),
				ev(drain.EventPodBlocked, 2*time.Second, "ns/db-0"),
				ev(drain.EventDeadlineFallback, 0, ""), // drain-level announcement
				ev(drain.EventDeadlineFallback, 90*time.Second, "ns/db-0"),
				ev(drain.EventPodDeleted, 90*time.Second, "ns/db-0"),
				drained(100*time.Second, drain.Result{Pods: 2, Deleted: 2, Fallbacks: 1, Duration: 100 * time.Second}),
			},
			want: want{
				drains:      map[string]float64{DrainFallback: 1},
				evictions:   map[string]float64{EvictionBlocked: 1, EvictionFallbackDeleted: 1, EvictionFinishedDeleted: 1},
				blockedSecs: 88,
				fallbacks:   1,
				durationSum: 100,
			},
		},
		{
			name: "failed drain with a pod still blocked: blocked time counted until the end",
			events: []drain.Event{
				ev(drain.EventDrainStarted, 0, ""),
				ev(drain.EventEvictionFailed, time.Second, "ns/x"),
				ev(drain.EventPodBlocked, 10*time.Second, "ns/db-0"),
				{Type: drain.EventDrainFailed, Time: t0.Add(70 * time.Second), Node: "n1", Err: errors.New("deadline")},
			},
			want: want{
				drains:      map[string]float64{DrainFailed: 1},
				evictions:   map[string]float64{EvictionError: 1, EvictionBlocked: 1},
				blockedSecs: 60,
				durationSum: 70,
			},
		},
		{
			name: "incomplete drain",
			events: []drain.Event{
				drained(time.Second, drain.Result{Pods: 1, Left: []drain.PodRef{{Namespace: "ns", Name: "db-0"}}, Duration: time.Second}),
			},
			want: want{drains: map[string]float64{DrainIncomplete: 1}, durationSum: 1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := New("test")
			o := NewDrainObserver(m, nil)
			for _, e := range tc.events {
				o.Observe(e)
			}
			for _, r := range DrainResults {
				if got := testutil.ToFloat64(m.Drains.WithLabelValues(r)); got != tc.want.drains[r] {
					t.Errorf("drains_total{result=%q} = %v, want %v", r, got, tc.want.drains[r])
				}
			}
			for _, r := range EvictionResults {
				if got := testutil.ToFloat64(m.Evictions.WithLabelValues(r)); got != tc.want.evictions[r] {
					t.Errorf("evictions_total{result=%q} = %v, want %v", r, got, tc.want.evictions[r])
				}
			}
			if got := testutil.ToFloat64(m.PDBBlockedSeconds); got != tc.want.blockedSecs {
				t.Errorf("pdb_blocked_seconds_total = %v, want %v", got, tc.want.blockedSecs)
			}
			if got := testutil.ToFloat64(m.DeadlineFallbacks); got != tc.want.fallbacks {
				t.Errorf("deadline_fallbacks_total = %v, want %v", got, tc.want.fallbacks)
			}
			if got := histogramSum(t, m); got != tc.want.durationSum {
				t.Errorf("drain_duration_seconds sum = %v, want %v", got, tc.want.durationSum)
			}
			if len(o.nodes) != 0 {
				t.Errorf("observer still tracks %d nodes after the drain ended", len(o.nodes))
			}
		})
	}
}

func histogramSum(t *testing.T, m *Metrics) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == "lifeboat_drain_duration_seconds" {
			for _, s := range mf.GetMetric() {
				sum += s.GetHistogram().GetSampleSum()
			}
		}
	}
	return sum
}

func TestDrainObserverSeparatesNodes(t *testing.T) {
	m := New("test")
	o := NewDrainObserver(m, nil)
	o.Observe(drain.Event{Type: drain.EventPodBlocked, Time: t0, Node: "a", Pod: "ns/p"})
	o.Observe(drain.Event{Type: drain.EventPodBlocked, Time: t0, Node: "b", Pod: "ns/q"})
	o.Observe(drain.Event{Type: drain.EventDrainFailed, Time: t0.Add(5 * time.Second), Node: "a"})
	if got := testutil.ToFloat64(m.PDBBlockedSeconds); got != 5 {
		t.Errorf("after node a ended: pdb_blocked_seconds_total = %v, want 5", got)
	}
	o.Observe(drain.Event{Type: drain.EventPodEvicted, Time: t0.Add(7 * time.Second), Node: "b", Pod: "ns/q"})
	if got := testutil.ToFloat64(m.PDBBlockedSeconds); got != 12 {
		t.Errorf("after ns/q evicted on b: pdb_blocked_seconds_total = %v, want 12", got)
	}
}

func TestDrainObserverCountsNotices(t *testing.T) {
	m := New("test")
	o := NewDrainObserver(m, nil)
	o.NoticeReceived(notice.Notice{Source: "azure", Kind: notice.KindPreemption})
	if got := testutil.ToFloat64(m.Notices.WithLabelValues("azure", "preemption")); got != 1 {
		t.Errorf("notices_total{azure,preemption} = %v, want 1", got)
	}
}
