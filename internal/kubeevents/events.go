// Package kubeevents records what lifeboat does as Kubernetes Events, so
// that `kubectl describe node` and `kubectl get events` tell the story of a
// drain. It is one of the reporters behind report.Reporter. Node-level
// steps (notice received, cordoned, drain started, a PDB blocking, deadline
// fallback, drained or failed, node deleted, acknowledged, hook completed,
// released) are recorded on the Node; pod-level ones (eviction, PDB block,
// fallback deletion) on the Pod, which keeps each object under client-go's
// spam filter (a burst of 25 events per object). Reasons are the
// drain.StepType strings, so users can filter on them.
//
// Each report is mapped to Events on its own (mapping.go); recording never
// blocks the caller: events go through a bounded queue to one goroutine and
// a client-go EventBroadcaster.
package kubeevents

import (
	"context"
	"log/slog"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/report"
)

// DefaultComponent is the event source component.
const DefaultComponent = "lifeboat"

// Config configures a Recorder; zero fields take the defaults in
// parentheses.
type Config struct {
	// Component is the reporting component (DefaultComponent).
	Component string
	// Host is the reporting instance: the node name for the agent, the pod
	// name in queue mode (empty).
	Host string
	// QueueSize bounds events waiting to be recorded (1000); more are
	// dropped and logged.
	QueueSize int
	// Log receives dropped and failed events (discarded).
	Log *slog.Logger
	// Clock times write retries (the real clock).
	Clock clock.WithTicker
}

// Recorder records lifeboat's steps as Kubernetes Events. It implements
// report.Reporter.
type Recorder struct {
	cfg         Config
	client      kube.Interface
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	sink        *sink
	work        chan item
	stop        chan struct{}
	stopped     chan struct{}
	ctx         context.Context //nolint:containedctx // canceled by Close to abort API calls of the background goroutines
	cancel      context.CancelFunc
	pending     counter // events handed to the broadcaster, not yet written

	mu     sync.Mutex // guards closed and sending to work
	closed bool
}

var _ report.Reporter = (*Recorder)(nil)

// New starts a Recorder writing through client. Close it to flush.
func New(client kube.Interface, c Config) *Recorder {
	if c.Component == "" {
		c.Component = DefaultComponent
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 1000
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Recorder{
		cfg: c, client: client,
		broadcaster: record.NewBroadcaster(record.WithContext(ctx)),
		work:        make(chan item, c.QueueSize),
		stop:        make(chan struct{}),
		stopped:     make(chan struct{}),
		ctx:         ctx, cancel: cancel,
	}
	r.sink = newSink(client.CoreV1(), c.Clock, c.Log)
	r.broadcaster.StartEventWatcher(func(e *corev1.Event) {
		defer r.pending.add(-1)
		r.sink.write(ctx, e)
	})
	r.recorder = r.broadcaster.NewRecorder(kube.Scheme, corev1.EventSource{Component: c.Component, Host: c.Host})
	go r.run()
	return r
}

// Observe records the events a drain step deserves.
func (r *Recorder) Observe(e drain.Step) { r.enqueue(fromStep(e)) }

// NoticeReceived records NoticeReceived (or NoticeCanceled) on n.Node.
func (r *Recorder) NoticeReceived(n notice.Notice) { r.enqueue(fromNotice(n)) }

// Finished records Acknowledged, HookCompleted or Released on the node.
func (r *Recorder) Finished(n notice.Notice, f report.Finish) { r.enqueue(fromFinish(n, f)) }

// enqueue hands items to the recording goroutine without blocking.
func (r *Recorder) enqueue(items []item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, it := range items {
		if r.closed {
			r.cfg.Log.Warn("Kubernetes event dropped: recorder closed", logging.KeyNode, it.node, logging.KeyStep, it.reason)
			continue
		}
		select {
		case r.work <- it:
		default:
			r.cfg.Log.Warn("Kubernetes event dropped: queue full", logging.KeyNode, it.node, logging.KeyPod, it.pod, logging.KeyStep, it.reason)
		}
	}
}

// run records queued items until Close, then the rest of the queue.
func (r *Recorder) run() {
	defer close(r.stopped)
	for {
		select {
		case it := <-r.work:
			r.record(it)
		case <-r.stop:
			for {
				select {
				case it := <-r.work:
					r.record(it)
				default:
					return
				}
			}
		}
	}
}

// Close stops accepting events and waits until the queued ones are written
// or ctx ends, then shuts the broadcaster down. It returns ctx's error if
// events were still pending.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.stop)
	}
	r.mu.Unlock()
	var err error
	select {
	case <-r.stopped:
		err = r.pending.wait(ctx)
	case <-ctx.Done():
		err = ctx.Err()
	}
	r.cancel()
	r.broadcaster.Shutdown()
	return err
}

// counter counts events in flight; wait returns when it reaches zero.
type counter struct {
	mu   sync.Mutex
	n    int
	zero chan struct{}
}

func (c *counter) add(d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += d
	if c.n == 0 && c.zero != nil {
		close(c.zero)
		c.zero = nil
	}
}

func (c *counter) wait(ctx context.Context) error {
	c.mu.Lock()
	if c.n == 0 {
		c.mu.Unlock()
		return nil
	}
	if c.zero == nil {
		c.zero = make(chan struct{})
	}
	zero := c.zero
	c.mu.Unlock()
	select {
	case <-zero:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
