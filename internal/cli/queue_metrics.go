//go:build !lifeboat_agent

package cli

import (
	"context"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/metrics"
	"github.com/lifeboat-dev/lifeboat/internal/queue"
)

// exportQueueStats copies the queue consumer's counters into
// lifeboat_queue_messages_total and lifeboat_lifecycle_actions_total every
// interval (and once more when ctx ends), as deltas since the last copy.
func exportQueueStats(ctx context.Context, s *queue.Stats, m *metrics.Metrics, interval time.Duration) {
	var last queue.StatsSnapshot
	sync := func() {
		cur := s.Snapshot()
		addQueueDeltas(m, last, cur)
		last = cur
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			sync()
		case <-ctx.Done():
			sync()
			return
		}
	}
}

func addQueueDeltas(m *metrics.Metrics, prev, cur queue.StatsSnapshot) {
	messages := []struct {
		result   string
		was, now int64
	}{
		{"received", prev.Received, cur.Received},
		{"poison", prev.Poison, cur.Poison},
		{"ignored", prev.Ignored, cur.Ignored},
		{"deleted", prev.Deleted, cur.Deleted},
		{"delete_error", prev.DeleteErrors, cur.DeleteErrors},
		{"folded", prev.Folded, cur.Folded},
		{"redelivery", prev.Transient, cur.Transient},
		{"drained", prev.Drained, cur.Drained},
		{"drain_failed", prev.DrainFailed, cur.DrainFailed},
		{"tainted", prev.Tainted, cur.Tainted},
		{"cordoned", prev.Cordoned, cur.Cordoned},
		{"launched", prev.Launched, cur.Launched},
		{"node_not_found", prev.NotFound, cur.NotFound},
		{"not_managed", prev.NotManaged, cur.NotManaged},
		{"already_handled", prev.AlreadyHandled, cur.AlreadyHandled},
		{"given_up", prev.GivenUp, cur.GivenUp},
	}
	for _, c := range messages {
		if d := c.now - c.was; d > 0 {
			m.QueueMessages.WithLabelValues(c.result).Add(float64(d))
		}
	}
	hooks := []struct {
		action, result string
		was, now       int64
	}{
		{"heartbeat", "success", prev.Heartbeats, cur.Heartbeats},
		{"heartbeat", "error", prev.HeartbeatErrors, cur.HeartbeatErrors},
		{"complete", "success", prev.Completed, cur.Completed},
		{"complete", "error", prev.CompleteErrors, cur.CompleteErrors},
	}
	for _, c := range hooks {
		if d := c.now - c.was; d > 0 {
			m.LifecycleActions.WithLabelValues(c.action, c.result).Add(float64(d))
		}
	}
}
