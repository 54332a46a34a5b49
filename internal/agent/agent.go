// Package agent is `lifeboat agent`: it runs on every node, turns the
// notices its sources report (cloud metadata, host shutdown) into actions
// through a per-kind policy, and carries them out with the drain engine. On
// start it undoes its own cordon once the reason is over, and it remembers
// on the Node which notices it has finished, so each is acted on once.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/handled"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// Drainer is what the agent needs from the drain engine.
type Drainer interface {
	Drain(ctx context.Context, node string, opts drain.Options) (*drain.Result, error)
	Cordon(ctx context.Context, node string, opts drain.Options) (bool, error)
	Taint(ctx context.Context, node string, opts drain.Options) (bool, error)
	Uncordon(ctx context.Context, node string) (bool, error)
	RemoveShutdownLeftovers(ctx context.Context, node string) (int, error)
	Mark(ctx context.Context, node string) (*drain.Mark, bool, error)
}

var _ Drainer = (*drain.Drainer)(nil)

// Hooks let callers observe the agent (metrics, notifications). Each may be nil.
type Hooks struct {
	// OnNotice is called for every notice received.
	OnNotice func(notice.Notice)
	// OnAction is called after an action completed or failed.
	OnAction func(n notice.Notice, a Action, res *drain.Result, err error)
	// OnAck is called after a notice was acknowledged to its platform.
	OnAck func(n notice.Notice, err error)
}

// Config configures an Agent.
type Config struct {
	// Client talks to the API server.
	Client kubernetes.Interface
	// Node is this node's name.
	Node string
	// Drainer carries out actions.
	Drainer Drainer
	// Sources report notices.
	Sources []notice.Source
	// Policy maps notice kinds to actions.
	Policy Policy
	// Drain is the base drain configuration (consent flags, taint, label...).
	Drain drain.Options
	// DeleteNode allows deleting the Node for drain-delete actions.
	DeleteNode bool
	// NoticeTimeout is the deadline for drains whose notice gives none.
	NoticeTimeout time.Duration
	// SoftTaint is the taint ActionTaint adds (rebalance recommendations).
	SoftTaint corev1.Taint
	// AckTimeout bounds acknowledging a notice to its platform.
	AckTimeout time.Duration
	// Clock tells time.
	Clock clock.Clock
	// Log receives structured logs.
	Log *slog.Logger
	// Hooks observe the agent.
	Hooks Hooks
}

// Agent reacts to notices for one node.
type Agent struct {
	cfg     Config
	acks    map[string]notice.Acknowledger
	mu      sync.Mutex
	current *inflight
}

// inflight is a drain in progress, cancelable by a more urgent notice.
type inflight struct {
	n      notice.Notice
	opts   drain.Options
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns an agent.
func New(cfg Config) *Agent {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Policy == nil {
		cfg.Policy = DefaultPolicy()
	}
	if cfg.NoticeTimeout <= 0 {
		cfg.NoticeTimeout = 5 * time.Minute
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 10 * time.Second
	}
	if cfg.SoftTaint.Key == "" {
		cfg.SoftTaint = corev1.Taint{Key: drain.TaintAtRisk, Value: "true", Effect: corev1.TaintEffectPreferNoSchedule}
	}
	a := &Agent{cfg: cfg, acks: map[string]notice.Acknowledger{}}
	for _, s := range cfg.Sources {
		if ack, ok := s.(notice.Acknowledger); ok {
			a.acks[s.Name()] = ack
		}
	}
	return a
}

// Run starts the sources, reconciles the node's state left by an earlier
// run (see Reconcile), and acts on notices until ctx is done. It waits for
// an in-flight drain to stop before returning. ready, if not nil, is called
// once the sources are running; notices arriving meanwhile are queued.
func (a *Agent) Run(ctx context.Context, ready func()) error {
	notices := make(chan notice.Notice, 16)
	var wg sync.WaitGroup
	for _, s := range a.cfg.Sources {
		wg.Add(1)
		go func(s notice.Source) {
			defer wg.Done()
			if err := s.Run(ctx, notices); err != nil && !errors.Is(err, context.Canceled) {
				a.cfg.Log.Error("notice source stopped", "source", s.Name(), "err", err)
			}
		}(s)
	}
	if ready != nil {
		ready()
	}
	if err := a.Reconcile(ctx); err != nil {
		a.cfg.Log.Error("start-up reconciliation failed", "node", a.cfg.Node, "err", err)
	}
	a.cfg.Log.Info("agent watching for notices", "node", a.cfg.Node, "sources", len(a.cfg.Sources))
	for {
		select {
		case n := <-notices:
			a.handle(ctx, n)
		case <-ctx.Done():
			a.stopCurrent()
			wg.Wait()
			return nil
		}
	}
}

func (a *Agent) handle(ctx context.Context, n notice.Notice) {
	if n.Node == "" {
		n.Node = a.cfg.Node
	}
	if n.Detected.IsZero() {
		n.Detected = a.cfg.Clock.Now()
	}
	log := a.cfg.Log.With("node", n.Node, "event", string(n.Kind), "source", n.Source, "notice", n.ID)
	if a.cfg.Hooks.OnNotice != nil {
		a.cfg.Hooks.OnNotice(n)
	}
	if n.Canceled {
		log.Info("notice withdrawn", "reason", n.Reason)
		a.withdraw(ctx, n)
		return
	}
	if handled, err := a.handled(ctx, n.ID); err != nil {
		log.Warn("cannot read handled notices; acting anyway", "err", err)
	} else if handled {
		log.Info("notice already handled; ignoring")
		return
	}
	act := a.cfg.Policy.For(n.Kind)
	log.Info("notice received", "action", string(act), "deadline", n.Deadline, "reason", n.Reason)
	switch act {
	case ActionNone:
		a.finish(ctx, n, act, nil, nil)
	case ActionTaint, ActionCordon:
		opts := a.options(n, act)
		var err error
		if act == ActionTaint {
			opts.Taint = &a.cfg.SoftTaint
			opts.ExcludeFromLoadBalancers = false
			_, err = a.cfg.Drainer.Taint(ctx, n.Node, opts)
		} else {
			_, err = a.cfg.Drainer.Cordon(ctx, n.Node, opts)
		}
		a.finish(ctx, n, act, nil, err)
	default:
		a.startDrain(ctx, n, act)
	}
}

// options builds drain options for a notice.
func (a *Agent) options(n notice.Notice, act Action) drain.Options {
	o := a.cfg.Drain
	o.Reason = fmt.Sprintf("%s (%s)", n.Kind, n.Source)
	if n.Reason != "" {
		o.Reason = n.Reason
	}
	o.NoticeID, o.NoticeKind = n.ID, string(n.Kind)
	o.Deadline = n.Deadline
	if o.Deadline.IsZero() && (act == ActionDrain || act == ActionDrainDelete) {
		o.Deadline = a.cfg.Clock.Now().Add(a.cfg.NoticeTimeout)
	}
	o.DeleteNode = act == ActionDrainDelete && a.cfg.DeleteNode
	o.IgnoreMissing = true
	return o
}

// startDrain runs a drain in the background. A drain already running is
// stopped and folded into the new one: the earlier deadline and the stronger
// action win, and the engine resumes where the first one stopped.
func (a *Agent) startDrain(ctx context.Context, n notice.Notice, act Action) {
	opts := a.options(n, act)
	if prev := a.stopCurrent(); prev != nil {
		if !prev.opts.Deadline.IsZero() && prev.opts.Deadline.Before(opts.Deadline) {
			opts.Deadline = prev.opts.Deadline
		}
		opts.DeleteNode = opts.DeleteNode || prev.opts.DeleteNode
	}
	dctx, cancel := context.WithCancel(ctx)
	cur := &inflight{n: n, opts: opts, cancel: cancel, done: make(chan struct{})}
	a.mu.Lock()
	a.current = cur
	a.mu.Unlock()
	go func() {
		defer close(cur.done)
		defer cancel()
		res, err := a.cfg.Drainer.Drain(dctx, n.Node, opts)
		if dctx.Err() != nil && ctx.Err() == nil && errors.Is(context.Cause(dctx), context.Canceled) && a.superseded(cur) {
			return // replaced by a newer notice's drain
		}
		a.finish(ctx, n, act, res, err)
	}()
}

func (a *Agent) superseded(cur *inflight) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.current != cur
}

// stopCurrent cancels the in-flight drain, waits for it, and returns it.
func (a *Agent) stopCurrent() *inflight {
	a.mu.Lock()
	cur := a.current
	a.current = nil
	a.mu.Unlock()
	if cur != nil {
		cur.cancel()
		<-cur.done
	}
	return cur
}

// Wait blocks until the in-flight drain, if any, has ended.
func (a *Agent) Wait() {
	a.mu.Lock()
	cur := a.current
	a.mu.Unlock()
	if cur != nil {
		<-cur.done
	}
}

// finish acknowledges the notice if its platform wants that, records it
// as handled and reports the outcome.
func (a *Agent) finish(ctx context.Context, n notice.Notice, act Action, res *drain.Result, err error) {
	log := a.cfg.Log.With("node", n.Node, "event", string(n.Kind), "source", n.Source, "notice", n.ID)
	if a.cfg.Hooks.OnAction != nil {
		a.cfg.Hooks.OnAction(n, act, res, err)
	}
	if err != nil {
		log.Error("action failed", "action", string(act), "err", err)
		return
	}
	if ack, ok := a.acks[n.Source]; ok && act != ActionNone {
		actx, cancel := context.WithTimeout(ctx, a.cfg.AckTimeout)
		aerr := ack.Ack(actx, n)
		cancel()
		if a.cfg.Hooks.OnAck != nil {
			a.cfg.Hooks.OnAck(n, aerr)
		}
		if aerr != nil {
			log.Warn("acknowledging the notice failed", "err", aerr)
		} else {
			log.Info("notice acknowledged: the platform may proceed now")
		}
	}
	if err := handled.Record(ctx, a.cfg.Client, a.cfg.Node, n.ID); err != nil {
		log.Warn("cannot record the notice as handled", "err", err)
	}
	log.Info("action done", "action", string(act))
}

// withdraw undoes lifeboat's own cordon made for a notice that was
// canceled or completed, and stops its drain if one runs.
func (a *Agent) withdraw(ctx context.Context, n notice.Notice) {
	a.mu.Lock()
	cur := a.current
	a.mu.Unlock()
	if cur != nil && cur.n.ID == n.ID {
		a.stopCurrent()
	}
	mark, has, err := a.cfg.Drainer.Mark(ctx, a.cfg.Node)
	if err != nil || !has || mark.NoticeID != n.ID {
		return // not our cordon for this notice: leave it
	}
	if _, err := a.cfg.Drainer.Uncordon(ctx, a.cfg.Node); err != nil {
		a.cfg.Log.Error("cannot undo lifeboat's cordon", "node", a.cfg.Node, "err", err)
		return
	}
	a.cfg.Log.Info("lifeboat's cordon undone: notice withdrawn", "node", a.cfg.Node, "notice", n.ID)
	_ = handled.Record(ctx, a.cfg.Client, a.cfg.Node, n.ID)
}
