package metrics

import "github.com/lifeboat-dev/lifeboat/internal/drain"

// DrainResults lists every drain result label value (of
// lifeboat_drains_total and lifeboat_drain_duration_seconds): the drain
// engine's outcomes.
var DrainResults = outcomes()

func outcomes() []string {
	out := make([]string, 0, len(drain.Outcomes))
	for _, o := range drain.Outcomes {
		out = append(out, string(o))
	}
	return out
}

// Results of lifeboat_evictions_total.
const (
	// EvictionEvicted: the Eviction API accepted the eviction.
	EvictionEvicted = "evicted"
	// EvictionBlocked: an eviction attempt was refused (429) by a PDB.
	EvictionBlocked = "blocked"
	// EvictionError: an eviction attempt failed otherwise.
	EvictionError = "error"
	// EvictionFallbackDeleted: a PDB-blocked pod was deleted because of the
	// deadline.
	EvictionFallbackDeleted = "fallback_deleted"
	// EvictionFinishedDeleted: a finished (Succeeded/Failed) pod was deleted.
	EvictionFinishedDeleted = "finished_deleted"
)

// EvictionResults lists every eviction result label value.
var EvictionResults = []string{EvictionEvicted, EvictionBlocked, EvictionError, EvictionFallbackDeleted, EvictionFinishedDeleted}

// Reasons for lifeboat_notice_errors_total, for the notice sources.
const (
	// NoticeErrorFetch: the metadata endpoint or queue could not be read.
	NoticeErrorFetch = "fetch"
	// NoticeErrorStatus: the endpoint answered with an unexpected HTTP status.
	NoticeErrorStatus = "status"
	// NoticeErrorMalformed: the metadata or message could not be parsed.
	NoticeErrorMalformed = "malformed"
)

// Results of lifeboat_notifications_total.
const (
	// NotificationSent: delivered (possibly after retries).
	NotificationSent = "sent"
	// NotificationSkipped: the template rendered an empty body, so nothing
	// was sent on purpose.
	NotificationSkipped = "skipped"
	// NotificationFailed: the endpoint refused it or every retry failed.
	NotificationFailed = "failed"
	// NotificationExpired: its deadline passed before it could be delivered.
	NotificationExpired = "expired"
	// NotificationQueueFull: dropped because the notifier's queue was full.
	NotificationQueueFull = "queue_full"
	// NotificationCanceled: dropped because lifeboat was shutting down.
	NotificationCanceled = "canceled"
)
