package notify

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/metrics"
	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
)

// DispatcherConfig configures a Dispatcher; zero fields take the defaults
// in parentheses.
type DispatcherConfig struct {
	// QueueSize bounds each notifier's queue (100); a full queue drops the
	// message, counted as queue_full.
	QueueSize int
	// TTL is the delivery deadline of a message sent without one (5m).
	TTL time.Duration
	// Backoff is the wait before the first retry (1s); it doubles with each
	// retry up to MaxBackoff, or is what the endpoint asked (Retry-After).
	Backoff time.Duration
	// MaxBackoff caps the wait between retries (30s).
	MaxBackoff time.Duration
	// Clock times expiry and backoff (the real clock).
	Clock clock.WithTicker
	// Log receives delivery failures (discarded).
	Log *slog.Logger
	// Metrics counts lifeboat_notifications_total (none).
	Metrics *metrics.Metrics
}

func (c *DispatcherConfig) defaults() {
	if c.QueueSize <= 0 {
		c.QueueSize = 100
	}
	if c.TTL <= 0 {
		c.TTL = 5 * time.Minute
	}
	if c.Backoff <= 0 {
		c.Backoff = time.Second
	}
	if c.MaxBackoff < c.Backoff {
		c.MaxBackoff = max(30*time.Second, c.Backoff)
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Dispatcher delivers messages asynchronously: one bounded queue and one
// goroutine per notifier, so a slow or hanging endpoint delays only itself
// and never the caller. Each message is retried with backoff until it is
// delivered, refused for good, or its Expires time passes.
type Dispatcher struct {
	cfg     DispatcherConfig
	ctx     context.Context //nolint:containedctx // canceled by Close to abort deliveries in flight
	cancel  context.CancelFunc
	nextID  atomic.Uint64
	wg      sync.WaitGroup
	closing chan struct{}

	mu      sync.RWMutex
	closed  bool
	workers []*worker
}

// worker is one notifier's queue.
type worker struct {
	n       notifier.Notifier
	retries int
	q       chan notifier.Message
}

// NewDispatcher returns a dispatcher without notifiers; Add them.
func NewDispatcher(cfg DispatcherConfig) *Dispatcher {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Dispatcher{cfg: cfg, ctx: ctx, cancel: cancel, closing: make(chan struct{})}
}

// Add starts delivering to n, retrying a failed message up to retries times.
func (d *Dispatcher) Add(n notifier.Notifier, retries int) {
	w := &worker{n: n, retries: max(retries, 0), q: make(chan notifier.Message, d.cfg.QueueSize)}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.workers = append(d.workers, w)
	d.wg.Add(1)
	go d.run(w)
}

// Len is the number of notifiers.
func (d *Dispatcher) Len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.workers)
}

// Send queues m for every notifier and returns at once. A message without
// Expires gets TTL. A full queue or a closed dispatcher drops the message
// (logged and counted).
func (d *Dispatcher) Send(m notifier.Message) {
	m.ID = d.nextID.Add(1)
	if m.Expires.IsZero() {
		m.Expires = d.cfg.Clock.Now().Add(d.cfg.TTL)
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, w := range d.workers {
		if d.closed {
			d.drop(w.n.Name(), m, metrics.NotificationCanceled)
			continue
		}
		select {
		case w.q <- m:
		default:
			d.drop(w.n.Name(), m, metrics.NotificationQueueFull)
		}
	}
}

func (d *Dispatcher) drop(name string, m notifier.Message, result string) {
	d.cfg.Metrics.Notification(name, result)
	d.cfg.Log.Warn("notification dropped", "notifier", name, "reason", result,
		logging.KeyStep, m.Step, logging.KeyNode, m.Node)
}

// Close stops accepting messages and waits until every queued message is
// delivered, failed or expired. If ctx ends first, deliveries in progress
// are canceled, the rest are dropped (counted as canceled) and ctx's error
// is returned. Close is bounded by the latest Expires of the queued
// messages even with a Background context.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.closing)
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		d.cancel()
		return nil
	case <-ctx.Done():
		d.cancel()
		<-done
		return ctx.Err()
	}
}

// run delivers w's messages in order until the dispatcher closes and the
// queue is empty.
func (d *Dispatcher) run(w *worker) {
	defer d.wg.Done()
	for {
		select {
		case m := <-w.q:
			d.deliver(w, m)
		case <-d.closing:
			for {
				select {
				case m := <-w.q:
					d.deliver(w, m)
				default:
					return
				}
			}
		}
	}
}
