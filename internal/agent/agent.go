// Package agent is `lifeboat agent`: it runs on every node, turns the
// notices its sources report (cloud metadata, host shutdown) into actions
// through a per-kind policy, and carries them out with the drain engine.
//
// Every notice in force is tracked by its ID. The drain notices in force
// decide one drain (PlanFor: earliest deadline, strongest action); a newer
// notice takes a running drain over only when it is more urgent. A failed
// action is retried with backoff until it succeeds, its notice is withdrawn,
// or its deadline passes. The node's lifeboat mark records every notice in
// force, and withdrawing one releases only its own entry, so the node stays
// cordoned while any notice still justifies it. On start the agent undoes
// its own cordon once the reason is over, and it remembers on the Node which
// notices it has finished, so each is acted on once.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/decide"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/handled"
	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/report"
)

// Drainer is what the agent needs from the drain engine.
type Drainer interface {
	Drain(ctx context.Context, node string, opts drain.Options) (*drain.Result, error)
	Cordon(ctx context.Context, node string, opts drain.Options) (bool, error)
	Taint(ctx context.Context, node string, opts drain.Options) (bool, error)
	Release(ctx context.Context, node, noticeID string) (*drain.Mark, error)
	Uncordon(ctx context.Context, node string) (bool, error)
	RemoveShutdownLeftovers(ctx context.Context, node string) (int, error)
	Mark(ctx context.Context, node string) (*drain.Mark, bool, error)
}

var _ Drainer = (*drain.Drainer)(nil)

// Config configures an Agent.
type Config struct {
	// Client talks to the API server.
	Client kube.Interface
	// Node is this node's name.
	Node string
	// Drainer carries out actions.
	Drainer Drainer
	// Sources report notices.
	Sources []notice.Source
	// Actions maps notice kinds to actions (`--action`); see decide.Decide.
	Actions decide.Table
	// Drain is the base drain configuration (consent flags, taint, label...).
	Drain drain.Options
	// DeleteNode allows deleting the Node for drain-delete actions.
	DeleteNode bool
	// NoticeTimeout is the deadline, from detection, for drains whose notice
	// gives none and whose kind means "soon" (see EffectiveDeadline).
	NoticeTimeout time.Duration
	// SoftTaint is the taint decide.ActionTaint adds (rebalance recommendations).
	SoftTaint corev1.Taint
	// AckTimeout bounds acknowledging a notice to its platform.
	AckTimeout time.Duration
	// MaintenanceLead is how long before a reboot-type scheduled maintenance
	// its drain starts; until then the node only carries the at-risk taint
	// (see decide.Settings.MaintenanceLead). 0 drains at once.
	MaintenanceLead time.Duration
	// AtRiskTTL is how long the at-risk taint of a rebalance recommendation
	// stays when no interruption follows (0: until the notice is withdrawn).
	AtRiskTTL time.Duration
	// RebootWait is how long after start a reboot mark whose boot ID still
	// matches is re-checked, because the kubelet posts its new boot ID a
	// little after it starts (default 5m).
	RebootWait time.Duration
	// Clock tells time and paces retries.
	Clock clock.WithTicker
	// Log receives structured logs.
	Log *slog.Logger
	// DryRun is observe mode (--dry-run): Drainer is a drain.DryRun, and
	// the agent records nothing on the Node and acknowledges nothing.
	DryRun bool
	// Reporter hears every notice and how each ended (the drain engine
	// reports the drain steps to the same Reporter through its own config).
	Reporter report.Reporter
	// OnSourceReady, if set, is called once per notice source when it has
	// read its metadata successfully for the first time.
	OnSourceReady func(source string)
}

// Retry pacing of failed actions: doubling from retryMin up to retryMax,
// short because a preemption notice gives 30 s.
const (
	retryMin = 500 * time.Millisecond
	retryMax = 5 * time.Second
	// apiCallTimeout bounds the agent's own API calls (not drains).
	apiCallTimeout = 10 * time.Second
	// heartbeat is how often the main loop proves it is alive.
	heartbeat = 5 * time.Second
	// wedgedAfter is how long without a heartbeat makes Healthy fail.
	wedgedAfter = 45 * time.Second
	// ackAttempts bounds tries to acknowledge a notice to its platform.
	ackAttempts = 3
)

// Agent reacts to notices for one node.
type Agent struct {
	cfg  Config
	acks map[string]notice.Acknowledger

	mu       sync.Mutex
	current  *inflight           // the running drain, if any
	inForce  map[string]*inForce // drain notices in force, by ID
	jobs     map[string]*job     // running non-drain actions and releases, by notice ID
	nodeSeen bool                // this process has seen its Node

	drainDone chan *inflight     // drains report their end to the main loop
	redo      chan notice.Notice // deferred notices come back to the main loop
	stopping  chan struct{}      // closed when the main loop ends
	beat      atomic.Int64       // unix nanoseconds of the main loop's last beat
	ready     atomic.Bool
}

// inflight is a drain in progress.
type inflight struct {
	plan   DrainPlan
	opts   drain.Options
	cancel context.CancelFunc
	done   chan struct{}
	res    *drain.Result
	err    error
}

// job is a background action for one notice (taint, cordon, release).
type job struct {
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
	if cfg.Actions == nil {
		cfg.Actions = decide.DefaultTable()
	}
	if cfg.Reporter == nil {
		cfg.Reporter = report.Discard{}
	}
	if cfg.NoticeTimeout <= 0 {
		cfg.NoticeTimeout = 5 * time.Minute
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 10 * time.Second
	}
	if cfg.RebootWait <= 0 {
		cfg.RebootWait = 5 * time.Minute
	}
	if cfg.SoftTaint.Key == "" {
		cfg.SoftTaint = corev1.Taint{Key: drain.TaintAtRisk, Value: "true", Effect: corev1.TaintEffectPreferNoSchedule}
	}
	a := &Agent{
		cfg: cfg, acks: map[string]notice.Acknowledger{},
		inForce: map[string]*inForce{}, jobs: map[string]*job{},
		drainDone: make(chan *inflight, 1), redo: make(chan notice.Notice), stopping: make(chan struct{}),
	}
	for _, s := range cfg.Sources {
		if ack, ok := s.(notice.Acknowledger); ok {
			a.acks[s.Name()] = ack
		}
	}
	a.beat.Store(cfg.Clock.Now().UnixNano())
	return a
}

// Run starts the sources, reconciles the node's state left by an earlier
// run (see Reconcile, retried until it succeeds), and acts on notices until
// ctx is done. It waits for in-flight work to stop before returning. ready,
// if not nil, is called once the Node was found and reconciled and every
// source that can tell (notice.Readier) has read its metadata once; notices
// are acted on before that too.
func (a *Agent) Run(ctx context.Context, ready func()) error {
	notices := make(chan notice.Notice, 16)
	var wg sync.WaitGroup
	for _, s := range a.cfg.Sources {
		wg.Add(1)
		go func(s notice.Source) {
			defer wg.Done()
			if err := s.Run(ctx, notices); err != nil && !errors.Is(err, context.Canceled) {
				a.cfg.Log.Error("notice source stopped", "source", s.Name(), logging.KeyError, err)
			}
		}(s)
	}
	reconciled := make(chan struct{})
	wg.Go(func() { a.reconcileUntilDone(ctx, reconciled) })
	wg.Go(func() { a.waitReady(ctx, reconciled, ready) })
	a.cfg.Log.Info("agent watching for notices", "node", a.cfg.Node, "sources", len(a.cfg.Sources))
	tick := a.cfg.Clock.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		a.beat.Store(a.cfg.Clock.Now().UnixNano())
		select {
		case n := <-notices:
			a.handle(ctx, n)
		case cur := <-a.drainDone:
			a.drainEnded(ctx, cur)
		case n := <-a.redo:
			a.handle(ctx, n)
		case <-tick.C():
		case <-ctx.Done():
			close(a.stopping)
			a.stopCurrent()
			a.stopJobs()
			wg.Wait()
			return nil
		}
	}
}

// waitReady calls ready once the node is reconciled and every source that
// can tell has read its metadata once.
func (a *Agent) waitReady(ctx context.Context, reconciled <-chan struct{}, ready func()) {
	for _, s := range a.cfg.Sources {
		r, ok := s.(notice.Readier)
		if !ok {
			continue
		}
		select {
		case <-r.ReadOnce():
			if a.cfg.OnSourceReady != nil {
				a.cfg.OnSourceReady(s.Name())
			}
		case <-ctx.Done():
			return
		}
	}
	select {
	case <-reconciled:
	case <-ctx.Done():
		return
	}
	a.ready.Store(true)
	a.cfg.Log.Info("agent ready: node found, state reconciled, notice sources reading", "node", a.cfg.Node)
	if ready != nil {
		ready()
	}
}

// Ready reports whether the agent is ready (see Run).
func (a *Agent) Ready() bool { return a.ready.Load() }

// Healthy returns an error when the main loop has not come round for a
// while (it is wedged), for a liveness probe.
func (a *Agent) Healthy() error {
	since := a.cfg.Clock.Since(time.Unix(0, a.beat.Load()))
	if since > wedgedAfter {
		return fmt.Errorf("agent main loop has not run for %s", since.Round(time.Second))
	}
	return nil
}

func (a *Agent) logFor(n notice.Notice) *slog.Logger {
	return a.cfg.Log.With("node", n.Node, logging.KeyKind, string(n.Kind), "source", n.Source, "notice", n.ID)
}

// decide is the plan for notice n (decide.Decide with the agent's settings).
func (a *Agent) decide(n notice.Notice) decide.Plan {
	_, acks := a.acks[n.Source]
	s := decide.Settings{
		DeleteNode: a.cfg.DeleteNode, NoticeTimeout: a.cfg.NoticeTimeout, Acknowledges: acks,
		MaintenanceLead: a.cfg.MaintenanceLead,
	}
	return decide.Decide(n, a.cfg.Actions, s, a.cfg.Clock.Now())
}

func (a *Agent) handle(ctx context.Context, n notice.Notice) {
	if n.Node == "" {
		n.Node = a.cfg.Node
	}
	if n.Detected.IsZero() {
		n.Detected = a.cfg.Clock.Now()
	}
	log := a.logFor(n)
	plan := a.decide(n)
	if n.Canceled {
		log.Info("notice withdrawn", "reason", n.Reason)
		a.cfg.Reporter.NoticeReceived(n)
		a.withdraw(ctx, n)
		return
	}
	a.mu.Lock()
	prev, known := a.inForce[n.ID]
	a.mu.Unlock()
	if known {
		if prev.n.Deadline.Equal(n.Deadline) {
			return // the same notice again
		}
		log.Info("notice rescheduled", "from", prev.n.Deadline, "to", n.Deadline)
		n.Detected = prev.n.Detected
		a.mu.Lock()
		a.inForce[n.ID] = &inForce{n: n, plan: a.decide(n)}
		a.mu.Unlock()
		a.replan(ctx, false)
		return
	}
	if done, err := a.handled(ctx, n.ID); err != nil {
		log.Warn("cannot read handled notices; acting anyway", logging.KeyError, err)
	} else if done {
		if plan.Finish == decide.FinishAcknowledge {
			// Handled before a restart that came between the record and
			// the acknowledgement: the platform still waits for it.
			log.Info("notice already handled; acknowledging it again")
			a.startJob(ctx, n.ID, func(jctx context.Context) { a.acknowledge(jctx, n) })
			return
		}
		log.Info("notice already handled; ignoring")
		return
	}
	log.Info("notice received", "action", string(plan.Action), "deadline", plan.Deadline, "reason", n.Reason)
	a.cfg.Reporter.NoticeReceived(n)
	switch {
	case plan.Deferred():
		log.Info("maintenance is far off: at-risk taint now, drain later", "drainAt", plan.DrainAt)
		a.startJob(ctx, n.ID, func(jctx context.Context) {
			if a.markNode(jctx, n, plan) {
				a.handleAt(jctx, n, plan.DrainAt)
			}
		})
	case plan.Action == decide.ActionNone:
		a.startJob(ctx, n.ID, func(jctx context.Context) { a.finish(jctx, n, plan) })
	case plan.Action.IsDrain():
		a.mu.Lock()
		a.inForce[n.ID] = &inForce{n: n, plan: plan}
		a.mu.Unlock()
		a.replan(ctx, true)
	default:
		a.startJob(ctx, n.ID, func(jctx context.Context) {
			if a.markNode(jctx, n, plan) {
				a.finish(jctx, n, plan)
			}
		})
	}
}

// replan starts, takes over or adapts the drain for the notices in force.
// joining is set when a notice was added: a running drain is then replaced
// only by a more urgent plan, and the newcomer's mark entry is written
// alongside it. Otherwise (a notice withdrawn or rescheduled) any change of
// plan restarts the drain.
func (a *Agent) replan(ctx context.Context, joining bool) {
	a.mu.Lock()
	notices := make([]inForce, 0, len(a.inForce))
	for _, id := range slices.Sorted(maps.Keys(a.inForce)) {
		notices = append(notices, *a.inForce[id])
	}
	cur := a.current
	a.mu.Unlock()
	p, ok := PlanFor(notices)
	switch {
	case !ok:
		if cur != nil {
			a.cfg.Log.Info("no notice justifies the drain any more: stopping it", "node", a.cfg.Node, "notice", cur.plan.Lead.ID)
			a.stopCurrent()
		}
		return
	case cur == nil:
		a.startDrain(ctx, p)
	case joining && p.MoreUrgentThan(cur.plan):
		a.cfg.Log.Info("a more urgent notice takes the drain over", "node", a.cfg.Node,
			"notice", p.Lead.ID, "from", cur.plan.Lead.ID, "deadline", p.Deadline, "deleteNode", p.DeleteNode)
		a.stopCurrent()
		a.startDrain(ctx, p)
	case joining:
		// The running drain already serves the newcomer: record its entry in
		// the mark so that withdrawing the other notice keeps the cordon.
		for _, id := range p.Notices {
			if !slices.Contains(cur.plan.Notices, id) {
				a.mu.Lock()
				f := *a.inForce[id]
				cur.plan.Notices = append(cur.plan.Notices, id)
				a.mu.Unlock()
				a.cfg.Log.Info("notice joins the running drain", "node", a.cfg.Node, "notice", id, "lead", cur.plan.Lead.ID)
				a.startJob(ctx, id, func(jctx context.Context) { a.markNode(jctx, f.n, decide.Plan{Action: decide.ActionCordon}) })
			}
		}
	case !p.Same(cur.plan):
		a.cfg.Log.Info("the notices in force changed: restarting the drain", "node", a.cfg.Node,
			"notice", p.Lead.ID, "deadline", p.Deadline, "deleteNode", p.DeleteNode)
		a.stopCurrent()
		a.startDrain(ctx, p)
	}
}

// options builds drain options for notice n carried out by plan.
func (a *Agent) options(n notice.Notice, plan decide.Plan) drain.Options {
	o := a.cfg.Drain
	o.Reason = fmt.Sprintf("%s (%s)", n.Kind, n.Source)
	if n.Reason != "" {
		o.Reason = n.Reason
	}
	o.NoticeID, o.NoticeKind, o.Actor = n.ID, string(n.Kind), string(decide.ModeAgent)
	o.Voluntary = decide.Voluntary(n.Kind)
	o.Deadline = plan.Deadline
	if plan.Action.IsDrain() && plan.OnDeadline == decide.DeadlineGiveUp {
		o.OnDeadline = drain.OnDeadlineAbort
	}
	o.DeleteNode = plan.DeleteNode
	// A node this process has seen and that is gone now was deleted (by this
	// drain or the cloud): nothing is left to do. A node never seen is a
	// wrong --node, an error retried until it appears.
	o.IgnoreMissing = a.seenNode()
	return o
}

func (a *Agent) planOptions(p DrainPlan) drain.Options {
	o := a.options(p.Lead, decide.Plan{Action: p.Action, Deadline: p.Deadline, OnDeadline: p.OnDeadline, DeleteNode: p.DeleteNode})
	return o
}

// shutdownOptions are the options of a host-shutdown drain for notice n
// planned as plan: the notices still in force join it, so a spot
// interruption's earlier deadline or its Node deletion is not lost to the
// shutdown.
func (a *Agent) shutdownOptions(n notice.Notice, plan decide.Plan) drain.Options {
	a.mu.Lock()
	notices := []inForce{{n: n, plan: plan}}
	for _, id := range slices.Sorted(maps.Keys(a.inForce)) {
		notices = append(notices, *a.inForce[id])
	}
	a.mu.Unlock()
	p, _ := PlanFor(notices)
	opts := a.options(n, plan)
	if !p.Deadline.IsZero() && p.Deadline.Before(opts.Deadline) {
		opts.Deadline = p.Deadline
	}
	opts.DeleteNode = p.DeleteNode
	return opts
}

// startDrain runs the plan's drain in the background, retrying failures.
func (a *Agent) startDrain(ctx context.Context, p DrainPlan) {
	dctx, cancel := context.WithCancel(ctx)
	cur := &inflight{plan: p, opts: a.planOptions(p), cancel: cancel, done: make(chan struct{})}
	a.mu.Lock()
	a.current = cur
	var others []inForce
	for _, id := range p.Notices {
		if f, ok := a.inForce[id]; ok && id != p.Lead.ID {
			others = append(others, *f)
		}
	}
	a.mu.Unlock()
	// The drain records its lead notice in lifeboat's mark; every other
	// notice it serves gets its own entry, so withdrawing the lead keeps the
	// cordon while they are in force.
	for _, f := range others {
		a.startJob(ctx, f.n.ID, func(jctx context.Context) { a.markNode(jctx, f.n, decide.Plan{Action: decide.ActionCordon}) })
	}
	go func() {
		defer close(cur.done)
		defer cancel()
		cur.res, cur.err = a.drainUntilDone(dctx, cur)
		if dctx.Err() != nil && ctx.Err() == nil {
			return // stopped by stopCurrent: replaced or withdrawn
		}
		select {
		case a.drainDone <- cur:
		case <-a.stopping:
		case <-dctx.Done(): // stopped while reporting: replaced or withdrawn
		}
	}()
}

// drainUntilDone runs the drain, and again after each failure that a retry
// may fix (an API error, a node not found yet), with backoff, until it
// succeeds, fails for good, ctx ends or the deadline passes.
func (a *Agent) drainUntilDone(ctx context.Context, cur *inflight) (*drain.Result, error) {
	log := a.logFor(cur.plan.Lead)
	opts := cur.opts
	for attempt := 1; ; attempt++ {
		opts.IgnoreMissing = a.seenNode()
		res, err := a.cfg.Drainer.Drain(ctx, a.cfg.Node, opts)
		if err == nil {
			if res != nil && !res.Missing {
				a.sawNode()
			}
			return res, nil
		}
		if ctx.Err() != nil {
			return res, err
		}
		if !Retryable(err) {
			return res, err
		}
		var claimed *drain.ClaimedError
		if errors.As(err, &claimed) {
			// Queue mode acts on the same cloud event: wait for its result.
			if done, herr := a.handled(ctx, cur.plan.Lead.ID); herr == nil && done {
				log.Info("lifeboat "+claimed.By+" handled the same event; nothing left to do", "notice", claimed.ClaimedID)
				return &drain.Result{}, nil
			}
		}
		wait := RetryDelay(attempt)
		if !opts.Deadline.IsZero() && !a.cfg.Clock.Now().Add(wait).Before(opts.Deadline) {
			log.Error("drain failed and its deadline passes before another attempt", "attempt", attempt, logging.KeyError, err)
			return res, err
		}
		log.Warn("drain attempt failed; retrying", "attempt", attempt, "retryIn", wait, logging.KeyError, err)
		if !a.sleep(ctx, wait) {
			return res, err
		}
	}
}

// Retryable tells a failure that another attempt may fix (an API error, a
// node not registered yet, a drain cut short for a reason other than its
// deadline) from one it cannot: consent refused, or the deadline passed.
func Retryable(err error) bool {
	var consent *drain.ConsentError
	var incomplete *drain.IncompleteError
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.As(err, &consent):
		return false
	case errors.As(err, &incomplete):
		return incomplete.Reason != reasonDeadlinePassed
	}
	return true
}

// reasonDeadlinePassed is the drain engine's IncompleteError reason for a
// drain cut short by its deadline.
const reasonDeadlinePassed = "deadline passed"

// RetryDelay is the pause before attempt+1 after attempt failures:
// doubling from retryMin, capped at retryMax.
func RetryDelay(attempt int) time.Duration {
	d := retryMin
	for i := 1; i < attempt && d < retryMax; i++ {
		d *= 2
	}
	return min(d, retryMax)
}

func (a *Agent) sleep(ctx context.Context, d time.Duration) bool {
	t := a.cfg.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	}
}

func (a *Agent) sawNode() {
	a.mu.Lock()
	a.nodeSeen = true
	a.mu.Unlock()
}

func (a *Agent) seenNode() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nodeSeen
}

// drainEnded is called on the main loop when a drain ended by itself.
func (a *Agent) drainEnded(ctx context.Context, cur *inflight) {
	a.mu.Lock()
	if a.current != cur {
		a.mu.Unlock()
		return
	}
	a.current = nil
	var served []inForce
	for _, id := range cur.plan.Notices {
		if f, ok := a.inForce[id]; ok {
			served = append(served, *f)
			delete(a.inForce, id)
		}
	}
	a.mu.Unlock()
	for _, f := range served {
		if cur.err != nil {
			a.logFor(f.n).Error("action failed", "action", string(f.plan.Action), logging.KeyError, cur.err)
			a.cfg.Reporter.Finished(f.n, report.Finish{Kind: report.FinishDone, Node: a.cfg.Node, Err: cur.err})
			continue
		}
		a.startJob(ctx, f.n.ID, func(jctx context.Context) { a.finish(jctx, f.n, f.plan) })
	}
	// Notices that arrived while the drain ended keep their own drain.
	a.replan(ctx, true)
}

// handleAt hands n back to the main loop at t (a deferred maintenance whose
// drain is due), unless ctx ends first (the notice was withdrawn or
// rescheduled).
func (a *Agent) handleAt(ctx context.Context, n notice.Notice, t time.Time) {
	if !a.sleep(ctx, t.Sub(a.cfg.Clock.Now())) {
		return
	}
	select {
	case a.redo <- n:
	case <-ctx.Done():
	}
}

// expireAtRisk releases a rebalance recommendation's taint once AtRiskTTL
// has passed since at (no interruption followed), unless ctx ends first.
func (a *Agent) expireAtRisk(ctx context.Context, n notice.Notice, at time.Time) {
	if a.cfg.AtRiskTTL <= 0 || !a.sleep(ctx, at.Add(a.cfg.AtRiskTTL).Sub(a.cfg.Clock.Now())) {
		return
	}
	a.logFor(n).Info("no interruption followed the rebalance recommendation: at-risk taint expired", "ttl", a.cfg.AtRiskTTL)
	a.release(ctx, n)
}

// finish ends a notice whose action is done: it records the notice as
// handled, reports it, and then, if its plan says so, acknowledges it to its
// platform — in this order, because an acknowledged event may reboot the
// machine at once, and the record must survive that.
func (a *Agent) finish(ctx context.Context, n notice.Notice, plan decide.Plan) {
	if !a.record(ctx, n, plan.Action) {
		return
	}
	a.cfg.Reporter.Finished(n, report.Finish{Kind: report.FinishDone, Node: a.cfg.Node})
	if plan.Finish == decide.FinishAcknowledge {
		a.acknowledge(ctx, n)
	}
	if n.Kind == notice.KindRebalance && plan.Action == decide.ActionTaint {
		a.expireAtRisk(ctx, n, n.Detected)
	}
}

// acknowledge tells the notice's platform, if it wants to hear, that
// lifeboat is done with it.
func (a *Agent) acknowledge(ctx context.Context, n notice.Notice) {
	ack, ok := a.acks[n.Source]
	if !ok {
		return
	}
	if a.cfg.DryRun {
		a.logFor(n).Info("dry run: would acknowledge the notice to its platform")
		return
	}
	log := a.logFor(n)
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, a.cfg.AckTimeout)
		aerr := ack.Ack(actx, n)
		cancel()
		switch {
		case aerr == nil:
			log.Info("notice acknowledged: the platform may proceed now")
		case isShared(aerr):
			log.Info("notice not acknowledged", "reason", aerr.Error())
		case attempt < ackAttempts && ctx.Err() == nil:
			log.Warn("acknowledging the notice failed; retrying", "attempt", attempt, logging.KeyError, aerr)
			if a.sleep(ctx, RetryDelay(attempt)) {
				continue
			}
		default:
			// The platform starts the event at its NotBefore anyway.
			log.Warn("acknowledging the notice failed", logging.KeyError, aerr)
		}
		if !isShared(aerr) {
			a.cfg.Reporter.Finished(n, report.Finish{Kind: report.FinishAcknowledged, Node: a.cfg.Node, Err: aerr})
		}
		return
	}
}

// record writes the notice into the Node's handled list, retrying while the
// API fails (bounded by ctx). It reports whether the record is written.
func (a *Agent) record(ctx context.Context, n notice.Notice, act decide.Action) bool {
	log := a.logFor(n)
	if a.cfg.DryRun {
		log.Info("dry run: the notice is not recorded as handled", "action", string(act))
		return true
	}
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, apiCallTimeout)
		err := handled.Record(cctx, a.cfg.Client, a.cfg.Node, n.ID)
		cancel()
		if err == nil {
			log.Info("action done", "action", string(act))
			return true
		}
		var invalid *handled.InvalidIDError
		if errors.As(err, &invalid) || ctx.Err() != nil || attempt >= 20 {
			log.Error("cannot record the notice as handled", logging.KeyError, err)
			return false
		}
		log.Warn("cannot record the notice as handled; retrying", "attempt", attempt, logging.KeyError, err)
		if !a.sleep(ctx, RetryDelay(attempt)) {
			return false
		}
	}
}

// markNode writes n's taint or cordon (and its entry in lifeboat's mark),
// retrying while the API fails, until it succeeds (true) or ctx ends (the
// notice was withdrawn).
func (a *Agent) markNode(ctx context.Context, n notice.Notice, plan decide.Plan) bool {
	act := plan.Action
	opts := a.options(n, plan)
	opts.Deadline = time.Time{}
	if act == decide.ActionTaint {
		opts.Taint = &a.cfg.SoftTaint
		opts.ExcludeFromLoadBalancers = false
	}
	for attempt := 1; ; attempt++ {
		var err error
		if act == decide.ActionTaint {
			_, err = a.cfg.Drainer.Taint(ctx, n.Node, opts)
		} else {
			_, err = a.cfg.Drainer.Cordon(ctx, n.Node, opts)
		}
		var nf *drain.NodeNotFoundError
		switch {
		case err == nil:
			a.sawNode()
			return true
		case errors.As(err, &nf) && opts.IgnoreMissing:
			return true
		case ctx.Err() != nil:
			return false
		}
		wait := RetryDelay(attempt)
		a.logFor(n).Warn("action failed; retrying", "action", string(act), "attempt", attempt, "retryIn", wait, logging.KeyError, err)
		if !a.sleep(ctx, wait) {
			return false
		}
	}
}

// startJob runs fn for a notice in the background, replacing (and first
// stopping) an earlier job for the same notice.
func (a *Agent) startJob(ctx context.Context, id string, fn func(context.Context)) {
	a.stopJob(id)
	jctx, cancel := context.WithCancel(ctx)
	j := &job{cancel: cancel, done: make(chan struct{})}
	a.mu.Lock()
	a.jobs[id] = j
	a.mu.Unlock()
	go func() {
		defer close(j.done)
		defer cancel()
		fn(jctx)
		a.mu.Lock()
		if a.jobs[id] == j {
			delete(a.jobs, id)
		}
		a.mu.Unlock()
	}()
}

func (a *Agent) stopJob(id string) {
	a.mu.Lock()
	j := a.jobs[id]
	delete(a.jobs, id)
	a.mu.Unlock()
	if j != nil {
		j.cancel()
		<-j.done
	}
}

func (a *Agent) stopJobs() {
	a.mu.Lock()
	ids := slices.Collect(maps.Keys(a.jobs))
	a.mu.Unlock()
	for _, id := range ids {
		a.stopJob(id)
	}
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

// withdraw handles a notice that was canceled or completed: it stops the
// notice's own action, lets the drain go on if other notices still justify
// it, and releases the notice's entry in lifeboat's mark (the node is
// uncordoned only when no notice in force is left). A withdrawn notice is
// not recorded as handled: if it comes back, it is acted on again.
func (a *Agent) withdraw(ctx context.Context, n notice.Notice) {
	a.stopJob(n.ID)
	a.mu.Lock()
	_, wasDrain := a.inForce[n.ID]
	delete(a.inForce, n.ID)
	a.mu.Unlock()
	if wasDrain {
		a.replan(ctx, false)
	}
	a.startJob(ctx, n.ID, func(jctx context.Context) { a.release(jctx, n) })
}

// release removes n's entry from lifeboat's mark, retrying while the API
// fails, until it succeeds or ctx ends.
func (a *Agent) release(ctx context.Context, n notice.Notice) {
	log := a.logFor(n)
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, apiCallTimeout)
		left, err := a.cfg.Drainer.Release(cctx, a.cfg.Node, n.ID)
		cancel()
		var nf *drain.NodeNotFoundError
		switch {
		case err == nil && left == nil:
			log.Info("lifeboat's mark for the notice released; no notice left in force")
			return
		case err == nil:
			log.Info("lifeboat's mark for the notice released; other notices keep it", "left", markIDs(left))
			return
		case errors.As(err, &nf), ctx.Err() != nil:
			return
		}
		wait := RetryDelay(attempt)
		log.Warn("cannot release lifeboat's mark; retrying", "attempt", attempt, "retryIn", wait, logging.KeyError, err)
		if !a.sleep(ctx, wait) {
			return
		}
	}
}

func markIDs(m *drain.Mark) []string {
	ids := make([]string, 0, len(m.Notices))
	for _, e := range m.Notices {
		ids = append(ids, e.ID)
	}
	return ids
}

// isShared reports an acknowledgement refused because the event is shared
// with other machines that are not done yet (not a failure).
func isShared(err error) bool {
	type shared interface{ SharedEvent() bool }
	var s shared
	return errors.As(err, &s) && s.SharedEvent()
}
