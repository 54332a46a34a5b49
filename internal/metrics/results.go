package metrics

import "github.com/lifeboat-dev/lifeboat/internal/drain"

// Results of a drain (label "result" of lifeboat_drains_total and
// lifeboat_drain_duration_seconds). Notifications use the same words.
const (
	// DrainSucceeded: every pod that had to go was evicted or deleted
	// without a deadline fallback.
	DrainSucceeded = "succeeded"
	// DrainFallback: the node is empty, but some PDB-blocked pods were
	// deleted because of the deadline.
	DrainFallback = "fallback"
	// DrainIncomplete: the drain ended with pods left on the node.
	DrainIncomplete = "incomplete"
	// DrainFailed: the drain returned an error.
	DrainFailed = "failed"
	// DrainMissing: the node did not exist and that was allowed.
	DrainMissing = "missing"
	// DrainDryRun: a dry run that only computed the plan.
	DrainDryRun = "dry_run"
)

// DrainResults lists every drain result label value.
var DrainResults = []string{DrainSucceeded, DrainFallback, DrainIncomplete, DrainFailed, DrainMissing, DrainDryRun}

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

// DrainResult classifies a finished drain from its EventDrained or
// EventDrainFailed event; it returns "" for any other event.
func DrainResult(e drain.Event) string {
	switch e.Type {
	case drain.EventDrainFailed:
		return DrainFailed
	case drain.EventDrained:
	default:
		return ""
	}
	r := e.Result
	switch {
	case r == nil:
		return DrainSucceeded
	case r.Missing:
		return DrainMissing
	case len(r.Plan) > 0:
		return DrainDryRun
	case !r.Complete():
		return DrainIncomplete
	case r.Fallbacks > 0:
		return DrainFallback
	default:
		return DrainSucceeded
	}
}
