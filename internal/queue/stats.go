package queue

import "sync/atomic"

// Metrics receives queue mode's counts as they happen; internal/metrics'
// *metrics.Queue implements it (lifeboat_queue_messages_total,
// lifeboat_lifecycle_actions_total, lifeboat_queue_tasks).
type Metrics interface {
	// Message counts one message or event result ("received", "drained", ...).
	Message(result string)
	// LifecycleAction counts one Auto Scaling call: ("heartbeat"|"complete",
	// "success"|"error").
	LifecycleAction(action, result string)
	// Tasks moves the number of tasks in a state ("waiting" for a drain
	// worker, "running" on one, "launch_wait") by delta.
	Tasks(state string, delta int)
}

// Task states reported through Metrics.Tasks.
const (
	TasksWaiting    = "waiting"
	TasksRunning    = "running"
	TasksLaunchWait = "launch_wait"
)

// counter is one count, also reported to Metrics when bound by NewStats.
type counter struct {
	n    atomic.Int64
	emit func()
}

// Add counts n more.
func (c *counter) Add(n int64) {
	c.n.Add(n)
	for c.emit != nil && n > 0 {
		c.emit()
		n--
	}
}

// Load returns the count.
func (c *counter) Load() int64 { return c.n.Load() }

// gauge is a current number, also reported to Metrics when bound.
type gauge struct {
	n     atomic.Int64
	state string
	m     Metrics
}

func (g *gauge) add(d int) {
	g.n.Add(int64(d))
	if g.m != nil {
		g.m.Tasks(g.state, d)
	}
}

// Stats counts what the consumer and processor did, and reports each count
// to Metrics at once when made by NewStats. All methods are safe for
// concurrent use; the zero value counts without reporting.
type Stats struct {
	received, poison, ignored, deleted, deleteErrors counter
	folded, extended, extendErrors, transient        counter
	superseded                                       counter
	drained, drainFailed, tainted, cordoned          counter
	launched, launchTimeouts                         counter
	notFound, notManaged, alreadyHandled             counter
	heartbeats, heartbeatErrors, completed           counter
	completeErrors, givenUp                          counter

	waiting, running, launchWaits gauge
}

// NewStats returns Stats that also report every count to m.
func NewStats(m Metrics) *Stats {
	s := &Stats{}
	if m == nil {
		return s
	}
	for _, c := range []struct {
		c      *counter
		result string
	}{
		{&s.received, "received"},
		{&s.poison, "poison"},
		{&s.ignored, "ignored"},
		{&s.deleted, "deleted"},
		{&s.deleteErrors, "delete_error"},
		{&s.folded, "folded"},
		{&s.transient, "redelivery"},
		{&s.superseded, "superseded"},
		{&s.drained, "drained"},
		{&s.drainFailed, "drain_failed"},
		{&s.tainted, "tainted"},
		{&s.cordoned, "cordoned"},
		{&s.launched, "launched"},
		{&s.launchTimeouts, "launch_timeout"},
		{&s.notFound, "node_not_found"},
		{&s.notManaged, "not_managed"},
		{&s.alreadyHandled, "already_handled"},
		{&s.givenUp, "given_up"},
	} {
		c.c.emit = func() { m.Message(c.result) }
	}
	for _, c := range []struct {
		c              *counter
		action, result string
	}{
		{&s.heartbeats, "heartbeat", "success"},
		{&s.heartbeatErrors, "heartbeat", "error"},
		{&s.completed, "complete", "success"},
		{&s.completeErrors, "complete", "error"},
	} {
		c.c.emit = func() { m.LifecycleAction(c.action, c.result) }
	}
	s.waiting = gauge{state: TasksWaiting, m: m}
	s.running = gauge{state: TasksRunning, m: m}
	s.launchWaits = gauge{state: TasksLaunchWait, m: m}
	return s
}

// StatsSnapshot is a point-in-time copy of Stats.
type StatsSnapshot struct {
	// Received messages; Poison: unparseable ones; Ignored: well-formed ones
	// asking for nothing; Deleted: messages deleted after their work.
	Received, Poison, Ignored, Deleted, DeleteErrors int64
	// Folded duplicates joined an in-flight notice; Extended counts
	// visibility extensions; Transient counts work left for redelivery;
	// Superseded counts work canceled for a more urgent notice for the same
	// instance (and run again after it).
	Folded, Extended, ExtendErrors, Transient, Superseded int64
	// Outcomes of events.
	Drained, DrainFailed, Tainted, Cordoned, Launched, LaunchTimeouts, NotFound, NotManaged, AlreadyHandled int64
	// Lifecycle hook calls.
	Heartbeats, HeartbeatErrors, Completed, CompleteErrors int64
	// GivenUp counts events failed for good after MaxAttempts deliveries.
	GivenUp int64
	// Waiting tasks wait for a drain worker (or for their instance's
	// running task), Running ones hold a worker, LaunchWaits watch for a
	// launching instance's Node.
	Waiting, Running, LaunchWaits int64
}

// Snapshot returns the current counts.
func (s *Stats) Snapshot() StatsSnapshot {
	return StatsSnapshot{
		Received: s.received.Load(), Poison: s.poison.Load(), Ignored: s.ignored.Load(),
		Deleted: s.deleted.Load(), DeleteErrors: s.deleteErrors.Load(),
		Folded: s.folded.Load(), Extended: s.extended.Load(), ExtendErrors: s.extendErrors.Load(),
		Transient: s.transient.Load(), Superseded: s.superseded.Load(),
		Drained: s.drained.Load(), DrainFailed: s.drainFailed.Load(), Tainted: s.tainted.Load(),
		Cordoned: s.cordoned.Load(), Launched: s.launched.Load(), LaunchTimeouts: s.launchTimeouts.Load(),
		NotFound: s.notFound.Load(), NotManaged: s.notManaged.Load(), AlreadyHandled: s.alreadyHandled.Load(),
		Heartbeats: s.heartbeats.Load(), HeartbeatErrors: s.heartbeatErrors.Load(),
		Completed: s.completed.Load(), CompleteErrors: s.completeErrors.Load(), GivenUp: s.givenUp.Load(),
		Waiting: s.waiting.n.Load(), Running: s.running.n.Load(), LaunchWaits: s.launchWaits.n.Load(),
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
	case OutcomeLaunchTimeout:
		s.launchTimeouts.Add(1)
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
