//go:build !lifeboat_agent

package cli

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lifeboat-dev/lifeboat/internal/metrics"
	"github.com/lifeboat-dev/lifeboat/internal/queue"
)

func TestQueueStatsBecomeMetrics(t *testing.T) {
	m := metrics.New("test")
	addQueueDeltas(m, queue.StatsSnapshot{}, queue.StatsSnapshot{Received: 5, Poison: 1, Drained: 3, Heartbeats: 7, CompleteErrors: 1})
	addQueueDeltas(m, queue.StatsSnapshot{Received: 5, Drained: 3}, queue.StatsSnapshot{Received: 6, Drained: 4})
	for _, c := range []struct {
		result string
		want   float64
	}{{"received", 6}, {"poison", 1}, {"drained", 4}} {
		if got := testutil.ToFloat64(m.QueueMessages.WithLabelValues(c.result)); got != c.want {
			t.Errorf("queue_messages_total{result=%q} = %v, want %v", c.result, got, c.want)
		}
	}
	if got := testutil.ToFloat64(m.LifecycleActions.WithLabelValues("heartbeat", "success")); got != 7 {
		t.Errorf("heartbeats = %v, want 7", got)
	}
	if got := testutil.ToFloat64(m.LifecycleActions.WithLabelValues("complete", "error")); got != 1 {
		t.Errorf("complete errors = %v, want 1", got)
	}
}
