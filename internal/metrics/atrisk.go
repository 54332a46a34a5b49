package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// AtRisk holds the metrics of `lifeboat plan --serve`: what a notice of each
// configured length would do to the cluster now (see internal/atrisk).
// Register it on a Metrics registry with NewAtRisk. A nil *AtRisk does
// nothing.
type AtRisk struct {
	// Pods counts pods that would not get a graceful exit, by reason,
	// namespace and notice length (lifeboat_pods_at_risk). A pod with two
	// reasons counts once under each.
	Pods *prometheus.GaugeVec
	// NodeFits is 1 when a node's drain fits the notice, else 0
	// (lifeboat_node_drain_fits{node,notice}).
	NodeFits *prometheus.GaugeVec
	// NodeExpectedDrain is a node's expected drain time in seconds
	// (lifeboat_node_expected_drain_seconds{node,notice}).
	NodeExpectedDrain *prometheus.GaugeVec
	// LastRefresh is when the assessment last ran, as a Unix time
	// (lifeboat_plan_last_refresh_timestamp_seconds).
	LastRefresh prometheus.Gauge
	// Refreshes counts assessments by trigger: timer or change
	// (lifeboat_plan_refreshes_total).
	Refreshes *prometheus.CounterVec
}

// Refresh triggers of lifeboat_plan_refreshes_total.
const (
	RefreshTimer  = "timer"
	RefreshChange = "change"
)

// NewAtRisk creates the at-risk metrics and registers them on m's registry.
func NewAtRisk(m *Metrics) *AtRisk {
	a := &AtRisk{
		Pods: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "pods_at_risk",
			Help: "Pods that would not get a graceful, PDB-respecting exit if their node got a notice of this length now, by reason code, namespace and notice.",
		}, []string{"reason", "namespace", "notice"}),
		NodeFits: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "node_drain_fits",
			Help: "1 when the node's expected drain fits a notice of this length (every removed pod leaves gracefully in time), else 0.",
		}, []string{"node", "notice"}),
		NodeExpectedDrain: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "node_expected_drain_seconds",
			Help: "Expected drain time of the node after a notice of this length, in seconds.",
		}, []string{"node", "notice"}),
		LastRefresh: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "plan_last_refresh_timestamp_seconds",
			Help: "Unix time of the last at-risk assessment.",
		}),
		Refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "plan_refreshes_total",
			Help: "At-risk assessments by trigger (timer, change).",
		}, []string{"trigger"}),
	}
	if m != nil {
		m.Registry.MustRegister(a.Pods, a.NodeFits, a.NodeExpectedDrain, a.LastRefresh, a.Refreshes)
	}
	for _, t := range []string{RefreshTimer, RefreshChange} {
		a.Refreshes.WithLabelValues(t)
	}
	return a
}

// NodeFit is one node's line of an assessment.
type NodeFit struct {
	Node            string
	Fits            bool
	ExpectedSeconds float64
}

// SetAssessment replaces every series of one notice length with a new
// assessment: counts by (reason, namespace) and the nodes' fit. A scrape
// during the replacement may miss series of that notice for a moment.
func (a *AtRisk) SetAssessment(notice string, counts map[[2]string]int, nodes []NodeFit) {
	if a == nil {
		return
	}
	a.Pods.DeletePartialMatch(prometheus.Labels{"notice": notice})
	a.NodeFits.DeletePartialMatch(prometheus.Labels{"notice": notice})
	a.NodeExpectedDrain.DeletePartialMatch(prometheus.Labels{"notice": notice})
	for k, n := range counts {
		a.Pods.WithLabelValues(k[0], k[1], notice).Set(float64(n))
	}
	for _, n := range nodes {
		a.NodeFits.WithLabelValues(n.Node, notice).Set(boolValue(n.Fits))
		a.NodeExpectedDrain.WithLabelValues(n.Node, notice).Set(n.ExpectedSeconds)
	}
}

// Refreshed counts one assessment (of every notice length) by trigger and
// records its time.
func (a *AtRisk) Refreshed(trigger string, at time.Time) {
	if a == nil {
		return
	}
	a.Refreshes.WithLabelValues(trigger).Inc()
	a.LastRefresh.Set(float64(at.Unix()))
}
