package notify

import (
	"context"
	"strconv"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/metrics"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
)

// minDeliveryWindow is the least time a message gets for delivery even
// when the drain's deadline is closer (or past), so that the outcome of a
// drain that ran into its deadline is still reported.
const minDeliveryWindow = 10 * time.Second

// lifecycleTTL is how long an ended lifecycle is remembered, so that late
// steps (node deleted, acknowledged, uncordoned) join its thread.
const lifecycleTTL = 24 * time.Hour

// ObserverConfig configures an Observer.
type ObserverConfig struct {
	// Cluster is put into every message.
	Cluster string
	// TTL bounds delivery of messages of drains without a deadline (5m).
	TTL time.Duration
	// Clock dates messages without an event time (the real clock).
	Clock clock.PassiveClock
}

// Observer turns drain events and notices into lifecycle messages — one per
// meaningful step, never one per pod — and queues them on a Dispatcher
// without blocking. It implements drain.Observer.
type Observer struct {
	d     *Dispatcher
	cfg   ObserverConfig
	mu    sync.Mutex
	nodes map[string]*lifecycle
	seq   uint64
}

var _ drain.Observer = (*Observer)(nil)

// lifecycle is one node going away: a notice (if any) and one drain.
type lifecycle struct {
	key      string
	noticeID string
	base     notifier.Message // notice facts copied into every message
	ended    bool
	fellBack bool // a DeadlineFallback message was sent
	lastSeen time.Time
}

// NewObserver returns an Observer sending to d.
func NewObserver(d *Dispatcher, c ObserverConfig) *Observer {
	if c.TTL <= 0 {
		c.TTL = 5 * time.Minute
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	return &Observer{d: d, cfg: c, nodes: map[string]*lifecycle{}}
}

// Enabled reports whether any notifier is configured.
func (o *Observer) Enabled() bool { return o.d.Len() > 0 }

// Close flushes queued messages; see Dispatcher.Close.
func (o *Observer) Close(ctx context.Context) error { return o.d.Close(ctx) }

// NoticeReceived starts a node's lifecycle with a "notice received" message
// (or reports a canceled notice in its lifecycle). n.Node must be set. A
// repeated notice with the same ID is ignored.
func (o *Observer) NoticeReceived(n notice.Notice) {
	now := o.now(n.Detected)
	o.mu.Lock()
	lc := o.nodes[n.Node]
	if n.Canceled {
		if lc == nil || lc.noticeID != n.ID {
			lc = o.begin(n.Node, n.ID, now)
		}
	} else {
		if lc != nil && lc.noticeID == n.ID {
			o.mu.Unlock()
			return
		}
		lc = o.begin(n.Node, n.ID, now)
	}
	lc.base = fromNotice(n)
	m := o.message(lc, notifier.StepNoticeReceived, now)
	o.mu.Unlock()
	m.Text = noticeText(n, now)
	if n.Canceled {
		m.Step = notifier.StepNoticeCanceled
	}
	o.d.Send(m)
}

// Acknowledged reports that lifeboat told the platform it is done with the
// notice (e.g. Azure StartRequests), in the node's lifecycle.
func (o *Observer) Acknowledged(n notice.Notice) {
	now := o.cfg.Clock.Now()
	o.mu.Lock()
	lc := o.nodes[n.Node]
	if lc == nil {
		lc = o.begin(n.Node, n.ID, now)
		lc.base = fromNotice(n)
	}
	m := o.message(lc, notifier.StepAcknowledged, now)
	o.mu.Unlock()
	m.Text = "acknowledged the notice to " + orUnknown(n.Source) + ": the platform may proceed"
	o.d.Send(m)
}

// Observe turns a drain event into a message when the step matters to
// people; pod-level events are summarised by the final message.
func (o *Observer) Observe(e drain.Event) {
	step, ok := steps[e.Type]
	if !ok {
		return
	}
	now := o.now(e.Time)
	o.mu.Lock()
	lc := o.nodes[e.Node]
	switch {
	case lc == nil || (lc.ended && startsLifecycle[e.Type]):
		lc = o.begin(e.Node, "", now)
	case e.Type == drain.EventDeadlineFallback && lc.fellBack:
		o.mu.Unlock()
		return
	}
	lc.fellBack = lc.fellBack || e.Type == drain.EventDeadlineFallback
	if !e.Progress.Deadline.IsZero() && lc.base.Deadline.IsZero() {
		lc.base.Deadline = e.Progress.Deadline
	}
	m := o.message(lc, step, now)
	if e.Type == drain.EventDrained || e.Type == drain.EventDrainFailed {
		lc.ended = true
	}
	o.mu.Unlock()
	fill(&m, e)
	o.d.Send(m)
}

// steps maps the drain events worth a message to their step.
var steps = map[drain.EventType]notifier.Step{
	drain.EventCordoned:         notifier.StepCordoned,
	drain.EventUncordoned:       notifier.StepUncordoned,
	drain.EventDrainStarted:     notifier.StepDrainStarted,
	drain.EventDeadlineFallback: notifier.StepDeadlineFallback,
	drain.EventDrained:          notifier.StepDrained,
	drain.EventDrainFailed:      notifier.StepDrainFailed,
	drain.EventNodeDeleted:      notifier.StepNodeDeleted,
}

// startsLifecycle are the events that begin a new lifecycle after the
// previous one ended; the others join the ended one.
var startsLifecycle = map[drain.EventType]bool{
	drain.EventCordoned:     true,
	drain.EventDrainStarted: true,
}

// begin starts a node's new lifecycle. Callers hold o.mu.
func (o *Observer) begin(node, noticeID string, now time.Time) *lifecycle {
	o.prune(now)
	o.seq++
	key := node + "/" + strconv.FormatUint(o.seq, 10)
	if noticeID != "" {
		key = node + "/" + noticeID
	}
	lc := &lifecycle{key: key, noticeID: noticeID, base: notifier.Message{Node: node}}
	o.nodes[node] = lc
	return lc
}

// prune forgets lifecycles unseen for lifecycleTTL. Callers hold o.mu.
func (o *Observer) prune(now time.Time) {
	for node, lc := range o.nodes {
		if now.Sub(lc.lastSeen) > lifecycleTTL {
			delete(o.nodes, node)
		}
	}
}

// message starts a message of lc at now (the step's time); its expiry
// is computed from the clock. Callers hold o.mu.
func (o *Observer) message(lc *lifecycle, step notifier.Step, now time.Time) notifier.Message {
	lc.lastSeen = now
	m := lc.base
	m.Lifecycle, m.Step, m.Time, m.Cluster = lc.key, step, now, o.cfg.Cluster
	m.Expires = expiry(o.cfg.Clock.Now(), m.Deadline, o.cfg.TTL)
	return m
}

// expiry is when a message created at now stops being worth delivering:
// after TTL, or at the drain's deadline if that is sooner — but never
// sooner than minDeliveryWindow (capped by TTL).
func expiry(now, deadline time.Time, ttl time.Duration) time.Time {
	exp := now.Add(ttl)
	if deadline.IsZero() || !deadline.Before(exp) {
		return exp
	}
	floor := now.Add(min(minDeliveryWindow, ttl))
	if deadline.Before(floor) {
		return floor
	}
	return deadline
}

func (o *Observer) now(t time.Time) time.Time {
	if t.IsZero() {
		return o.cfg.Clock.Now()
	}
	return t
}

// fromNotice copies the notice facts every message of the lifecycle shows.
func fromNotice(n notice.Notice) notifier.Message {
	return notifier.Message{
		Node: n.Node, Trigger: n.Source, Kind: string(n.Kind), NoticeID: n.ID, Reason: n.Reason,
		Deadline: n.Deadline, InstanceID: n.InstanceID, InstanceType: n.Attributes["instance-type"],
		Region: n.Attributes["region"], Zone: n.Attributes["zone"],
	}
}

// fill adds the event's facts and text to m.
func fill(m *notifier.Message, e drain.Event) {
	if e.Progress.Total > 0 {
		m.PodsTotal, m.PodsLeft = e.Progress.Total, e.Progress.Left
	}
	if r := e.Result; r != nil {
		m.PodsTotal, m.PodsEvicted, m.PodsDeleted = r.Pods, r.Evicted, r.Deleted
		m.PodsLeft, m.Fallbacks, m.Duration = len(r.Left), r.Fallbacks, r.Duration
	}
	m.Result = metrics.DrainResult(e)
	if e.Err != nil {
		m.Error = e.Err.Error()
	}
	m.Text = eventText(e, *m)
}
