package metrics

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// QueueResults are the values of lifeboat_queue_messages_total's result
// label; they start at zero.
var QueueResults = []string{
	"received", "poison", "ignored", "deleted", "delete_error", "folded", "redelivery", "superseded",
	"drained", "drain_failed", "tainted", "cordoned", "launched", "launch_timeout",
	"node_not_found", "not_managed", "already_handled", "given_up",
}

// QueueTaskStates are the values of lifeboat_queue_tasks' state label.
var QueueTaskStates = []string{"waiting", "running", "launch_wait"}

// Queue is what queue mode reports to, as it happens: message and event
// results (lifeboat_queue_messages_total), Auto Scaling lifecycle calls
// (lifeboat_lifecycle_actions_total) and the tasks waiting for or holding a
// drain worker (lifeboat_queue_tasks). A nil *Queue does nothing.
type Queue struct {
	m     *Metrics
	tasks *prometheus.GaugeVec
}

// NewQueue registers lifeboat_queue_tasks on m's registry (once; later
// calls share it) and starts the known results at zero. A nil m gives a nil
// *Queue.
func NewQueue(m *Metrics) (*Queue, error) {
	if m == nil {
		return nil, nil
	}
	tasks := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace,
		Name:      "queue_tasks",
		Help:      "Queue-mode tasks by state: waiting for a drain worker or their instance's turn, running on a worker, waiting for a launching instance's Node.",
	}, []string{"state"})
	if err := m.Registry.Register(tasks); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, fmt.Errorf("registering lifeboat_queue_tasks: %w", err)
		}
		existing, ok := are.ExistingCollector.(*prometheus.GaugeVec)
		if !ok {
			return nil, fmt.Errorf("registering lifeboat_queue_tasks: %w", err)
		}
		tasks = existing
	}
	for _, s := range QueueTaskStates {
		tasks.WithLabelValues(s)
	}
	for _, r := range QueueResults {
		m.QueueMessages.WithLabelValues(r)
	}
	return &Queue{m: m, tasks: tasks}, nil
}

// Message counts one queue message or event result.
func (q *Queue) Message(result string) {
	if q == nil {
		return
	}
	q.m.QueueMessage(result)
}

// LifecycleAction counts one Auto Scaling lifecycle call.
func (q *Queue) LifecycleAction(action, result string) {
	if q == nil {
		return
	}
	q.m.LifecycleAction(action, result)
}

// Tasks moves the number of tasks in a state by delta.
func (q *Queue) Tasks(state string, delta int) {
	if q == nil {
		return
	}
	q.tasks.WithLabelValues(state).Add(float64(delta))
}
