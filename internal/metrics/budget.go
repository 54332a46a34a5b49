package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/report"
)

// BudgetObserver turns the drain budget's waits (drain.StepWaitingForBudget)
// into metrics: how many drains wait for a slot now
// (lifeboat_drain_budget_waiting) and how often a drain started to wait
// (lifeboat_drain_budget_waits_total). A node stops waiting at its next
// drain event (cordoned, started, failed, drained). A nil *BudgetObserver
// ignores events.
type BudgetObserver struct {
	// Waiting is the number of drains waiting for a slot now.
	Waiting prometheus.Gauge
	// Waits counts drains that had to wait for a slot.
	Waits prometheus.Counter

	mu      sync.Mutex
	waiting map[string]bool
}

var _ report.Reporter = (*BudgetObserver)(nil)

// NoticeReceived does nothing: the budget is told by drain steps.
func (b *BudgetObserver) NoticeReceived(notice.Notice) {}

// Finished does nothing: the budget is told by drain steps.
func (b *BudgetObserver) Finished(notice.Notice, report.Finish) {}

// NewBudgetObserver creates the drain budget metrics and registers them on
// m's registry.
func NewBudgetObserver(m *Metrics) *BudgetObserver {
	b := &BudgetObserver{
		Waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "drain_budget_waiting",
			Help: "Drains waiting for a slot of the cluster-wide drain budget (--max-concurrent-drains) now.",
		}),
		Waits: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "drain_budget_waits_total",
			Help: "Drains that had to wait for a slot of the cluster-wide drain budget.",
		}),
		waiting: map[string]bool{},
	}
	if m != nil {
		m.Registry.MustRegister(b.Waiting, b.Waits)
	}
	return b
}

// Observe implements drain.Observer.
func (b *BudgetObserver) Observe(e drain.Step) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case e.Type == drain.StepWaitingForBudget && !b.waiting[e.Node]:
		b.waiting[e.Node] = true
		b.Waits.Inc()
	case e.Type != drain.StepWaitingForBudget && b.waiting[e.Node]:
		delete(b.waiting, e.Node)
	}
	b.Waiting.Set(float64(len(b.waiting)))
}
