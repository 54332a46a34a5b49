// Package metrics defines every Prometheus metric lifeboat exports, in one
// place, on a registry of its own (never the global default). It also turns
// reports (notices, drain steps, finishes) into metrics (Reporter) and
// serves /metrics, /healthz, /readyz and, on request, pprof (Server).
//
// All methods of *Metrics accept a nil receiver and do nothing, so packages
// can take an optional *Metrics without checking it.
package metrics

import (
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// Namespace prefixes every lifeboat metric.
const Namespace = "lifeboat"

// drainDurationBuckets cover drains from a second to the 15 minutes a
// systemd stop timeout or a lifecycle hook usually allows.
var drainDurationBuckets = []float64{1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900}

// detectionDelayBuckets cover the delay between a cloud issuing a notice and
// lifeboat seeing it: sub-second for long-polls, seconds for pollers, minutes
// for queues.
var detectionDelayBuckets = []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300}

// Metrics holds every lifeboat metric and the registry they are registered on.
// Read them in tests with prometheus/testutil.
type Metrics struct {
	// Registry holds all metrics below plus the Go and process collectors.
	Registry *prometheus.Registry

	// Notices counts notices by source and kind (lifeboat_notices_total).
	Notices *prometheus.CounterVec
	// NoticeErrors counts malformed metadata or messages and fetch errors by
	// source and reason (lifeboat_notice_errors_total).
	NoticeErrors *prometheus.CounterVec
	// DetectionDelay observes Detected minus Issued per source
	// (lifeboat_detection_delay_seconds).
	DetectionDelay *prometheus.HistogramVec
	// NoticeFinishes counts how notices were finished, by finish and result
	// (lifeboat_notice_finishes_total).
	NoticeFinishes *prometheus.CounterVec
	// Drains counts finished drains by result (lifeboat_drains_total).
	Drains *prometheus.CounterVec
	// DrainDuration observes drain durations by result
	// (lifeboat_drain_duration_seconds).
	DrainDuration *prometheus.HistogramVec
	// Evictions counts pod removals and attempts by result
	// (lifeboat_evictions_total).
	Evictions *prometheus.CounterVec
	// PDBBlockedSeconds sums the time pods spent blocked by a PDB
	// (lifeboat_pdb_blocked_seconds_total).
	PDBBlockedSeconds prometheus.Counter
	// DeadlineFallbacks counts pods deleted because a PDB would have blocked
	// them past the deadline (lifeboat_deadline_fallbacks_total).
	DeadlineFallbacks prometheus.Counter
	// Notifications counts notification deliveries by notifier and result
	// (lifeboat_notifications_total).
	Notifications *prometheus.CounterVec
	// QueueMessages counts queue messages by result
	// (lifeboat_queue_messages_total).
	QueueMessages *prometheus.CounterVec
	// LifecycleActions counts Auto Scaling lifecycle calls by action and
	// result (lifeboat_lifecycle_actions_total).
	LifecycleActions *prometheus.CounterVec
	// BuildInfo is 1, labelled with the version (lifeboat_build_info).
	BuildInfo *prometheus.GaugeVec
	// Ready is 1 once the process is ready to act (the agent: its Node found
	// and reconciled, every notice source read once), else 0 (lifeboat_ready).
	Ready prometheus.Gauge
	// SourceReady is 1 per notice source once it has read its metadata
	// successfully, 0 before (lifeboat_notice_source_ready).
	SourceReady *prometheus.GaugeVec
}

// New creates and registers every metric on a fresh registry, together with
// the Go runtime and process collectors, and sets lifeboat_build_info for
// version.
func New(version string) *Metrics {
	m := &Metrics{
		Registry:          prometheus.NewRegistry(),
		Notices:           counterVec("notices_total", "Notices that a node is going away, by source and kind.", "source", "kind"),
		NoticeErrors:      counterVec("notice_errors_total", "Notice sources' failures: malformed metadata or messages and fetch errors, by source and reason.", "source", "reason"),
		DetectionDelay:    histogramVec("detection_delay_seconds", "Seconds between a notice being issued and lifeboat detecting it, by source.", detectionDelayBuckets, "source"),
		NoticeFinishes:    newFinishes(),
		Drains:            counterVec("drains_total", "Finished drains by result.", "result"),
		DrainDuration:     histogramVec("drain_duration_seconds", "Duration of drains in seconds, by result.", drainDurationBuckets, "result"),
		Evictions:         counterVec("evictions_total", "Pod evictions, eviction attempts and deletions during drains, by result.", "result"),
		PDBBlockedSeconds: counter("pdb_blocked_seconds_total", "Seconds pods spent waiting for a PodDisruptionBudget to allow their eviction."),
		DeadlineFallbacks: counter("deadline_fallbacks_total", "Pods deleted instead of evicted because a PodDisruptionBudget would have blocked them past the deadline."),
		Notifications:     counterVec("notifications_total", "Notification deliveries by notifier and result.", "notifier", "result"),
		QueueMessages:     counterVec("queue_messages_total", "Queue messages handled in queue mode, by result.", "result"),
		LifecycleActions:  counterVec("lifecycle_actions_total", "Auto Scaling lifecycle actions (heartbeat, complete) by action and result.", "action", "result"),
		BuildInfo:         prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "build_info", Help: "Always 1; labelled with lifeboat's version and the Go version that built it."}, []string{"version", "goversion"}),
		Ready:             prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "ready", Help: "1 once lifeboat is ready to act (agent: its Node found and reconciled, every notice source read once), else 0."}),
		SourceReady:       prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "notice_source_ready", Help: "1 once a notice source has read its platform's metadata successfully, else 0."}, []string{"source"}),
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.Notices, m.NoticeErrors, m.DetectionDelay, m.Drains, m.DrainDuration, m.Evictions,
		m.PDBBlockedSeconds, m.DeadlineFallbacks, m.Notifications, m.QueueMessages, m.LifecycleActions, m.BuildInfo,
		m.Ready, m.SourceReady, m.NoticeFinishes,
	)
	m.BuildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	// Known label values start at zero so that rate() and absent() work
	// before the first drain.
	for _, r := range DrainResults {
		m.Drains.WithLabelValues(r)
	}
	for _, r := range EvictionResults {
		m.Evictions.WithLabelValues(r)
	}
	return m
}

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
}

func counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
}

func histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
}

// Notice counts a notice (lifeboat_notices_total) and, when the source knows
// when it was issued, observes the detection delay.
func (m *Metrics) Notice(n notice.Notice) {
	if m == nil {
		return
	}
	m.Notices.WithLabelValues(n.Source, string(n.Kind)).Inc()
	if !n.Issued.IsZero() && !n.Detected.IsZero() {
		d := max(n.Detected.Sub(n.Issued), 0)
		m.DetectionDelay.WithLabelValues(n.Source).Observe(d.Seconds())
	}
}

// SetReady sets lifeboat_ready.
func (m *Metrics) SetReady(ready bool) {
	if m == nil {
		return
	}
	m.Ready.Set(boolValue(ready))
}

// SetSourceReady sets lifeboat_notice_source_ready for a source.
func (m *Metrics) SetSourceReady(source string, ready bool) {
	if m == nil {
		return
	}
	m.SourceReady.WithLabelValues(source).Set(boolValue(ready))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// NoticeError counts a failure of a notice source. Use one of the
// NoticeError* reasons.
func (m *Metrics) NoticeError(source, reason string) {
	if m == nil {
		return
	}
	m.NoticeErrors.WithLabelValues(source, reason).Inc()
}

// Notification counts a notification delivery outcome.
func (m *Metrics) Notification(notifier, result string) {
	if m == nil {
		return
	}
	m.Notifications.WithLabelValues(notifier, result).Inc()
}

// QueueMessage counts a queue message outcome ("processed", "ignored",
// "malformed", "failed", ... chosen by the queue consumer).
func (m *Metrics) QueueMessage(result string) {
	if m == nil {
		return
	}
	m.QueueMessages.WithLabelValues(result).Inc()
}

// LifecycleAction counts an Auto Scaling lifecycle call, e.g.
// ("heartbeat", "success") or ("complete", "error").
func (m *Metrics) LifecycleAction(action, result string) {
	if m == nil {
		return
	}
	m.LifecycleActions.WithLabelValues(action, result).Inc()
}

// drain records one finished drain.
func (m *Metrics) drain(result string, d time.Duration) {
	if m == nil {
		return
	}
	m.Drains.WithLabelValues(result).Inc()
	m.DrainDuration.WithLabelValues(result).Observe(max(d, 0).Seconds())
}

// eviction counts one eviction outcome.
func (m *Metrics) eviction(result string) {
	if m == nil {
		return
	}
	m.Evictions.WithLabelValues(result).Inc()
}
