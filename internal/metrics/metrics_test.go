package metrics

import (
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// allLifeboatMetrics is every metric lifeboat exports; docs/NOTIFICATIONS.md
// must list each of them.
var allLifeboatMetrics = []string{
	"lifeboat_build_info",
	"lifeboat_deadline_fallbacks_total",
	"lifeboat_detection_delay_seconds",
	"lifeboat_drain_duration_seconds",
	"lifeboat_drains_total",
	"lifeboat_evictions_total",
	"lifeboat_lifecycle_actions_total",
	"lifeboat_notice_errors_total",
	"lifeboat_notice_source_ready",
	"lifeboat_notices_total",
	"lifeboat_notifications_total",
	"lifeboat_pdb_blocked_seconds_total",
	"lifeboat_queue_messages_total",
	"lifeboat_ready",
}

// touched returns metrics with one series in every vector, so that Gather
// returns every family.
func touched(t *testing.T) *Metrics {
	t.Helper()
	m := New("v1.2.3")
	now := time.Now()
	m.Notice(notice.Notice{Source: "aws", Kind: notice.KindSpotInterruption, Issued: now.Add(-3 * time.Second), Detected: now})
	m.NoticeError("aws", NoticeErrorMalformed)
	m.Notification("slack", NotificationSent)
	m.QueueMessage("processed")
	m.LifecycleAction("complete", "success")
	m.drain(string(drain.OutcomeSucceeded), 42*time.Second)
	m.PDBBlockedSeconds.Add(1)
	m.DeadlineFallbacks.Inc()
	m.SetSourceReady("aws", true)
	return m
}

func lifeboatFamilies(t *testing.T, m *Metrics) []string {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var names []string
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), Namespace+"_") {
			names = append(names, mf.GetName())
		}
	}
	return names
}

func TestMetricNamesFollowPrometheusConventions(t *testing.T) {
	m := touched(t)
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatalf("Lint: %v", err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, Namespace+"_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
	if got := lifeboatFamilies(t, m); !slices.Equal(got, allLifeboatMetrics) {
		t.Errorf("registered metrics = %v, want %v", got, allLifeboatMetrics)
	}
}

func TestRegistryHasGoAndProcessCollectors(t *testing.T) {
	m := New("dev")
	n, err := testutil.GatherAndCount(m.Registry, "go_goroutines")
	if err != nil || n != 1 {
		t.Errorf("go_goroutines series = %d, %v; want 1", n, err)
	}
	if runtime.GOOS == "linux" {
		if n, err := testutil.GatherAndCount(m.Registry, "process_resident_memory_bytes"); err != nil || n != 1 {
			t.Errorf("process_resident_memory_bytes series = %d, %v; want 1", n, err)
		}
	}
}

func TestBuildInfo(t *testing.T) {
	m := New("v1.2.3")
	want := "# HELP lifeboat_build_info Always 1; labelled with lifeboat's version and the Go version that built it.\n" +
		"# TYPE lifeboat_build_info gauge\n" +
		`lifeboat_build_info{goversion="` + runtime.Version() + `",version="v1.2.3"} 1` + "\n"
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "lifeboat_build_info"); err != nil {
		t.Error(err)
	}
}

func TestKnownResultsStartAtZero(t *testing.T) {
	m := New("dev")
	n, err := testutil.GatherAndCount(m.Registry, "lifeboat_drains_total", "lifeboat_evictions_total")
	if err != nil {
		t.Fatal(err)
	}
	if want := len(DrainResults) + len(EvictionResults); n != want {
		t.Errorf("pre-initialised series = %d, want %d", n, want)
	}
}

func TestNoticeCountsAndDetectionDelay(t *testing.T) {
	m := New("dev")
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m.Notice(notice.Notice{Source: "aws", Kind: notice.KindSpotInterruption, Issued: now.Add(-1500 * time.Millisecond), Detected: now})
	m.Notice(notice.Notice{Source: "aws", Kind: notice.KindSpotInterruption, Detected: now}) // no issue time: no delay
	m.Notice(notice.Notice{Source: "gcp", Kind: notice.KindPreemption, Issued: now.Add(time.Second), Detected: now})

	if got := testutil.ToFloat64(m.Notices.WithLabelValues("aws", "spot-interruption")); got != 2 {
		t.Errorf("notices{aws,spot-interruption} = %v, want 2", got)
	}
	want := `
# HELP lifeboat_detection_delay_seconds Seconds between a notice being issued and lifeboat detecting it, by source.
# TYPE lifeboat_detection_delay_seconds histogram
lifeboat_detection_delay_seconds_bucket{source="aws",le="0.1"} 0
lifeboat_detection_delay_seconds_bucket{source="aws",le="0.25"} 0
lifeboat_detection_delay_seconds_bucket{source="aws",le="0.5"} 0
lifeboat_detection_delay_seconds_bucket{source="aws",le="1"} 0
lifeboat_detection_delay_seconds_bucket{source="aws",le="2"} 1
lifeboat_detection_delay_seconds_bucket{source="aws",le="5"} 1
lifeboat_detection_delay_seconds_bucket{source="aws",le="10"} 1
lifeboat_detection_delay_seconds_bucket{source="aws",le="20"} 1
lifeboat_detection_delay_seconds_bucket{source="aws",le="30"} 1
lifeboat_detection_delay_seconds_bucket{source="aws",le="60"} 1
lifeboat_detection_delay_seconds_bucket{source="aws",le="120"} 1
lifeboat_detection_delay_seconds_bucket{source="aws",le="300"} 1
lifeboat_detection_delay_seconds_bucket{source="aws",le="+Inf"} 1
lifeboat_detection_delay_seconds_sum{source="aws"} 1.5
lifeboat_detection_delay_seconds_count{source="aws"} 1
lifeboat_detection_delay_seconds_bucket{source="gcp",le="0.1"} 1
lifeboat_detection_delay_seconds_bucket{source="gcp",le="0.25"} 1
lifeboat_detection_delay_seconds_bucket{source="gcp",le="0.5"} 1
lifeboat_detection_delay_seconds_bucket{source="gcp",le="1"} 1
lifeboat_detection_delay_seconds_bucket{source="gcp",le="2"} 1
lifeboat_detection_delay_seconds_bucket{source="gcp",le="5"} 1
lifeboat_detection_delay_seconds_bucket{source="gcp",le="10"} 1
lifeboat_detection_delay_seconds_bucket{source="gcp",le="20"} 1
lifeboat_detection_delay_seconds_bucket{source="gcp",le="30"} 1
lifeboat_detection_delay_seconds_bucket{source="gcp",le="60"} 1
lifeboat_detection_delay_seconds_bucket{source="gcp",le="120"} 1
lifeboat_detection_delay_seconds_bucket{source="gcp",le="300"} 1
lifeboat_detection_delay_seconds_bucket{source="gcp",le="+Inf"} 1
lifeboat_detection_delay_seconds_sum{source="gcp"} 0
lifeboat_detection_delay_seconds_count{source="gcp"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "lifeboat_detection_delay_seconds"); err != nil {
		t.Error(err)
	}
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *Metrics
	m.Notice(notice.Notice{Source: "aws"})
	m.NoticeError("aws", NoticeErrorFetch)
	m.Notification("slack", NotificationSent)
	m.QueueMessage("processed")
	m.LifecycleAction("complete", "success")
	m.drain(string(drain.OutcomeFailed), time.Second)
	m.eviction(EvictionEvicted)
}

func TestDocsListEveryMetric(t *testing.T) {
	doc, err := os.ReadFile("../../docs/NOTIFICATIONS.md")
	if err != nil {
		t.Fatalf("reading docs: %v", err)
	}
	_, metricsSection, ok := strings.Cut(string(doc), "\n## Metrics\n")
	if !ok {
		t.Fatal(`docs/NOTIFICATIONS.md has no "## Metrics" section`)
	}
	for _, name := range allLifeboatMetrics {
		if !strings.Contains(metricsSection, "`"+name+"`") {
			t.Errorf("docs/NOTIFICATIONS.md section Metrics does not list `%s`", name)
		}
	}
}
