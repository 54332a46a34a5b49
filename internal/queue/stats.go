package queue

import "sync/atomic"

// Stats counts what the consumer and processor did. All methods are safe for
// concurrent use; the zero value is ready.
type Stats struct {
	received, poison, ignored, deleted, deleteErrors atomic.Int64
	folded, extended, extendErrors, transient        atomic.Int64
	drained, drainFailed, tainted, cordoned          atomic.Int64
	launched, notFound, notManaged, alreadyHandled   atomic.Int64
	heartbeats, heartbeatErrors, completed           atomic.Int64
	completeErrors, givenUp                          atomic.Int64
}

// StatsSnapshot is a point-in-time copy of Stats.
type StatsSnapshot struct {
	// Received messages; Poison: unparseable ones; Ignored: well-formed ones
	// asking for nothing; Deleted: messages deleted after their work.
	Received, Poison, Ignored, Deleted, DeleteErrors int64
	// Folded duplicates joined an in-flight notice; Extended counts
	// visibility extensions; Transient counts work left for redelivery.
	Folded, Extended, ExtendErrors, Transient int64
	// Outcomes of events.
	Drained, DrainFailed, Tainted, Cordoned, Launched, NotFound, NotManaged, AlreadyHandled int64
	// Lifecycle hook calls.
	Heartbeats, HeartbeatErrors, Completed, CompleteErrors int64
	// GivenUp counts events failed for good after MaxAttempts deliveries.
	GivenUp int64
}

// Snapshot returns the current counts.
func (s *Stats) Snapshot() StatsSnapshot {
	return StatsSnapshot{
		Received: s.received.Load(), Poison: s.poison.Load(), Ignored: s.ignored.Load(),
		Deleted: s.deleted.Load(), DeleteErrors: s.deleteErrors.Load(),
		Folded: s.folded.Load(), Extended: s.extended.Load(), ExtendErrors: s.extendErrors.Load(),
		Transient: s.transient.Load(),
		Drained:   s.drained.Load(), DrainFailed: s.drainFailed.Load(), Tainted: s.tainted.Load(),
		Cordoned: s.cordoned.Load(), Launched: s.launched.Load(), NotFound: s.notFound.Load(),
		NotManaged: s.notManaged.Load(), AlreadyHandled: s.alreadyHandled.Load(),
		Heartbeats: s.heartbeats.Load(), HeartbeatErrors: s.heartbeatErrors.Load(),
		Completed: s.completed.Load(), CompleteErrors: s.completeErrors.Load(), GivenUp: s.givenUp.Load(),
	}
}

func (s *Stats) outcome(o Outcome) {
	switch o {
	case OutcomeDrained:
		s.drained.Add(1)
	case OutcomeDrainFailed:
		s.drainFailed.Add(1)
	case OutcomeTainted:
		s.tainted.Add(1)
	case OutcomeCordoned:
		s.cordoned.Add(1)
	case OutcomeLaunched:
		s.launched.Add(1)
	case OutcomeNotFound:
		s.notFound.Add(1)
	case OutcomeNotManaged:
		s.notManaged.Add(1)
	case OutcomeAlreadyHandled:
		s.alreadyHandled.Add(1)
	case OutcomeIgnored:
		s.ignored.Add(1)
	}
}
