package notify

import (
	"context"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
	"github.com/lifeboat-dev/lifeboat/internal/report"
)

// minDeliveryWindow is the least time a message gets for delivery even
// when the drain's deadline is closer (or past), so that the outcome of a
// drain that ran into its deadline is still reported.
const minDeliveryWindow = 10 * time.Second

// factsTTL is how long a notice's facts are kept after it was last
// reported, so that late steps (node deleted, acknowledged, uncordoned)
// still show them.
const factsTTL = 24 * time.Hour

// ObserverConfig configures an Observer.
type ObserverConfig struct {
	// Cluster is put into every message.
	Cluster string
	// TTL bounds delivery of messages of drains without a deadline (5m).
	TTL time.Duration
	// Clock dates messages without a time and computes expiry (the real
	// clock).
	Clock clock.PassiveClock
}

// Observer turns reports into messages — one per meaningful step, never
// one per pod — and queues them on a Dispatcher without blocking. It
// implements report.Reporter.
//
// Each message is mapped from the one report it describes (see
// noticeMessage, stepMessage, finishMessage); its lifecycle, which
// threading notifiers group by, is the node and the notice ID the report
// carries. The only thing kept between calls is each notice's descriptive
// facts (source, instance, region...), recorded by NoticeReceived under the
// notice ID so that drain steps, which carry only the ID, show them too.
type Observer struct {
	d   *Dispatcher
	cfg ObserverConfig

	mu      sync.Mutex
	notices map[string]facts // by notice ID
}

var _ report.Reporter = (*Observer)(nil)

// facts are a notice's descriptive fields, copied into its messages.
type facts struct {
	base     notifier.Message
	canceled bool
	seen     time.Time
}

// NewObserver returns an Observer sending to d.
func NewObserver(d *Dispatcher, c ObserverConfig) *Observer {
	if c.TTL <= 0 {
		c.TTL = 5 * time.Minute
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	return &Observer{d: d, cfg: c, notices: map[string]facts{}}
}

// Enabled reports whether any notifier is configured.
func (o *Observer) Enabled() bool { return o.d.Len() > 0 }

// Close flushes queued messages; see Dispatcher.Close.
func (o *Observer) Close(ctx context.Context) error { return o.d.Close(ctx) }

// NoticeReceived sends "notice received" (or "notice withdrawn") in the
// notice's lifecycle. The same notice reported again is not sent again.
func (o *Observer) NoticeReceived(n notice.Notice) {
	now := o.now(n.Detected)
	o.mu.Lock()
	prev, known := o.notices[n.ID]
	repeat := known && prev.canceled == n.Canceled
	if !repeat {
		o.prune(now)
		o.notices[n.ID] = facts{base: noticeFacts(n), canceled: n.Canceled, seen: now}
	}
	o.mu.Unlock()
	if !repeat {
		o.send(noticeMessage(n, now))
	}
}

// Finished reports how the notice was finished, in its lifecycle (not
// FinishDone: the drain's steps told that).
func (o *Observer) Finished(n notice.Notice, f report.Finish) {
	if m, ok := finishMessage(n, f, o.cfg.Clock.Now()); ok {
		o.send(m)
	}
}

// Observe sends a message for a drain step when the step matters to
// people; pod-level steps are summarised by the final message.
func (o *Observer) Observe(e drain.Step) {
	now := o.now(e.Time)
	o.mu.Lock()
	f := o.notices[e.NoticeID]
	o.mu.Unlock()
	if m, ok := stepMessage(e, f.base, now); ok {
		o.send(m)
	}
}

// send completes m with the cluster and its expiry and queues it.
func (o *Observer) send(m notifier.Message) {
	m.Cluster = o.cfg.Cluster
	m.Expires = expiry(o.cfg.Clock.Now(), m.Deadline, o.cfg.TTL)
	o.d.Send(m)
}

// prune forgets notices unseen for factsTTL. Callers hold o.mu.
func (o *Observer) prune(now time.Time) {
	for id, f := range o.notices {
		if now.Sub(f.seen) > factsTTL {
			delete(o.notices, id)
		}
	}
}

func (o *Observer) now(t time.Time) time.Time {
	if t.IsZero() {
		return o.cfg.Clock.Now()
	}
	return t
}

// lifecycle is the key threading notifiers group a node's messages by: the
// node and the notice (drain.ManualNoticeID for a drain without one).
func lifecycle(node, noticeID string) string {
	if noticeID == "" {
		noticeID = drain.ManualNoticeID
	}
	return node + "/" + noticeID
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
