package metrics

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/report"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// sample is what one report changes, read back from the registry.
type sample struct {
	drains      map[string]float64
	evictions   map[string]float64
	blockedSecs float64
	fallbacks   float64
	durationSum float64
}

func read(t *testing.T, m *Metrics) sample {
	t.Helper()
	s := sample{drains: map[string]float64{}, evictions: map[string]float64{}}
	for _, r := range DrainResults {
		if v := testutil.ToFloat64(m.Drains.WithLabelValues(r)); v != 0 {
			s.drains[r] = v
		}
	}
	for _, r := range EvictionResults {
		if v := testutil.ToFloat64(m.Evictions.WithLabelValues(r)); v != 0 {
			s.evictions[r] = v
		}
	}
	s.blockedSecs = testutil.ToFloat64(m.PDBBlockedSeconds)
	s.fallbacks = testutil.ToFloat64(m.DeadlineFallbacks)
	s.durationSum = histogramSum(t, m)
	return s
}

// TestReporterMapsEachStepAlone feeds every step to a fresh Reporter: what
// a step counts depends on that step only (the Reporter keeps no state).
func TestReporterMapsEachStepAlone(t *testing.T) {
	none := map[string]float64{}
	cases := []struct {
		name string
		step drain.Step
		want sample
	}{
		{"drain started: nothing", drain.Step{Type: drain.StepDrainStarted}, sample{drains: none, evictions: none}},
		{"evicted", drain.Step{Type: drain.StepPodEvicted, Pod: "ns/a"}, sample{drains: none, evictions: map[string]float64{EvictionEvicted: 1}}},
		{
			"evicted after a PDB block: the blocked time comes with the step",
			drain.Step{Type: drain.StepPodEvicted, Pod: "ns/a", BlockedFor: 10 * time.Second},
			sample{drains: none, evictions: map[string]float64{EvictionEvicted: 1}, blockedSecs: 10},
		},
		{"blocked", drain.Step{Type: drain.StepPodBlocked, Pod: "ns/a", PDB: "ns/pdb"}, sample{drains: none, evictions: map[string]float64{EvictionBlocked: 1}}},
		{"eviction failed", drain.Step{Type: drain.StepEvictionFailed, Pod: "ns/a"}, sample{drains: none, evictions: map[string]float64{EvictionError: 1}}},
		{"finished pod deleted", drain.Step{Type: drain.StepPodDeleted, Pod: "ns/job"}, sample{drains: none, evictions: map[string]float64{EvictionFinishedDeleted: 1}}},
		{
			"fallback deletion: told apart by the step's Fallback",
			drain.Step{Type: drain.StepPodDeleted, Pod: "ns/db-0", Fallback: true, BlockedFor: 88 * time.Second},
			sample{drains: none, evictions: map[string]float64{EvictionFallbackDeleted: 1}, blockedSecs: 88},
		},
		{"deadline fallback of a pod", drain.Step{Type: drain.StepDeadlineFallback, Pod: "ns/db-0", Fallback: true}, sample{drains: none, evictions: none, fallbacks: 1}},
		{"pod gone after a block by someone else's deletion", drain.Step{Type: drain.StepPodGone, Pod: "ns/a", BlockedFor: 3 * time.Second}, sample{drains: none, evictions: none, blockedSecs: 3}},
		{
			"drained with fallbacks",
			drain.Step{Type: drain.StepDrained, Outcome: drain.OutcomeFallback, Result: &drain.Result{Fallbacks: 1, Duration: 100 * time.Second}},
			sample{drains: map[string]float64{"fallback": 1}, evictions: none, durationSum: 100},
		},
		{
			"failed with a pod still blocked: its time comes with the final step",
			drain.Step{Type: drain.StepDrainFailed, Outcome: drain.OutcomeFailed, Err: errors.New("deadline"), BlockedFor: time.Minute, Result: &drain.Result{Duration: 70 * time.Second}},
			sample{drains: map[string]float64{"failed": 1}, evictions: none, blockedSecs: 60, durationSum: 70},
		},
		{"failed without a result", drain.Step{Type: drain.StepDrainFailed, Outcome: drain.OutcomeFailed}, sample{drains: map[string]float64{"failed": 1}, evictions: none}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := New("test")
			NewReporter(m).Observe(tc.step)
			got := read(t, m)
			if !equalCounts(got.drains, tc.want.drains) || !equalCounts(got.evictions, tc.want.evictions) ||
				got.blockedSecs != tc.want.blockedSecs || got.fallbacks != tc.want.fallbacks || got.durationSum != tc.want.durationSum {
				t.Errorf("after %s: %+v, want %+v", tc.step.Type, got, tc.want)
			}
		})
	}
}

func equalCounts(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
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

func TestReporterCountsNoticesAndDetectionDelay(t *testing.T) {
	m := New("test")
	r := NewReporter(m)
	r.NoticeReceived(notice.Notice{Source: "sqs", Kind: notice.KindSpotInterruption, Issued: t0, Detected: t0.Add(3 * time.Second)})
	r.NoticeReceived(notice.Notice{Source: "sqs", Kind: notice.KindSpotInterruption, Canceled: true, Issued: t0, Detected: t0})
	if got := testutil.ToFloat64(m.Notices.WithLabelValues("sqs", "spot-interruption")); got != 1 {
		t.Errorf("notices_total{sqs,spot-interruption} = %v, want 1 (a withdrawal is not counted)", got)
	}
	if got := testutil.CollectAndCount(m.DetectionDelay); got != 1 {
		t.Errorf("detection_delay_seconds has %d series, want 1", got)
	}
}

func TestReporterCountsFinishes(t *testing.T) {
	cases := []struct {
		f          report.Finish
		wantResult string
	}{
		{report.Finish{Kind: report.FinishAcknowledged}, FinishOK},
		{report.Finish{Kind: report.FinishAcknowledged, Err: errors.New("503")}, FinishError},
		{report.Finish{Kind: report.FinishHookCompleted, Result: "CONTINUE"}, "continue"},
		{report.Finish{Kind: report.FinishHookCompleted, Result: "ABANDON"}, "abandon"},
		{report.Finish{Kind: report.FinishReleased}, FinishOK},
		{report.Finish{Kind: report.FinishDone}, FinishOK},
		{report.Finish{Kind: report.FinishDone, Err: errors.New("deadline passed")}, FinishError},
	}
	for _, tc := range cases {
		m := New("test")
		NewReporter(m).Finished(notice.Notice{ID: "x"}, tc.f)
		if got := testutil.ToFloat64(m.NoticeFinishes.WithLabelValues(string(tc.f.Kind), tc.wantResult)); got != 1 {
			t.Errorf("%+v: notice_finishes_total{%s,%s} = %v, want 1", tc.f, tc.f.Kind, tc.wantResult, got)
		}
	}
}
