package drain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

// Config holds a Drainer's collaborators.
type Config struct {
	// Clock tells time and makes timers; nil means the real clock.
	Clock clock.WithTickerAndDelayedExecution
	// Log receives structured progress lines; nil discards them.
	Log *slog.Logger
	// Observer receives every drain event; may be nil.
	Observer Observer
	// BlockedRetry is the safety-net interval after which a PDB-blocked
	// eviction is retried even if no budget change was seen; 0 means 10 s.
	BlockedRetry time.Duration
}

// Drainer cordons and drains nodes. It is safe for concurrent use on
// different nodes; its drains share one PodDisruptionBudget informer.
type Drainer struct {
	client       kube.Interface
	clock        clock.WithTickerAndDelayedExecution
	log          *slog.Logger
	obs          Observer
	blockedRetry time.Duration
	pdbs         *pdbWatch
}

// New returns a Drainer using client.
func New(client kube.Interface, cfg Config) *Drainer {
	d := &Drainer{client: client, clock: cfg.Clock, log: cfg.Log, obs: cfg.Observer, blockedRetry: cfg.BlockedRetry}
	if d.clock == nil {
		d.clock = clock.RealClock{}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.blockedRetry <= 0 {
		d.blockedRetry = 10 * time.Second
	}
	d.pdbs = newPDBWatch(client, d.clock, d.log)
	return d
}

// Validate checks options that do not depend on the cluster. A
// GracePeriodSeconds of 0 is accepted and used as 1 (see timing.ownGrace).
func (o *Options) Validate() error {
	switch o.OnDeadline {
	case "", OnDeadlineDelete, OnDeadlineAbort:
	default:
		return fmt.Errorf("--on-deadline must be %q or %q, got %q", OnDeadlineDelete, OnDeadlineAbort, o.OnDeadline)
	}
	if o.GracePeriodSeconds < -1 {
		return fmt.Errorf("--grace-period must be -1 (the pod's own) or a number of seconds, got %d", o.GracePeriodSeconds)
	}
	if o.MaxConcurrency < 0 {
		return fmt.Errorf("max concurrency must not be negative, got %d", o.MaxConcurrency)
	}
	return nil
}

// Drain cordons the node and removes its pods. It is idempotent: a second run
// continues a half-done drain, and on an empty node it only checks. The
// result is returned also on error; *IncompleteError means pods were left,
// *ConsentError that pods need --force or --delete-emptydir-data (nothing
// was evicted, and what this call changed on the node is restored),
// *NodeNotFoundError that the node does not exist. Any other error is the
// API failure it is: the node stays cordoned and the drain can be retried.
func (d *Drainer) Drain(ctx context.Context, node string, opts Options) (*Result, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.OnDeadline == "" {
		opts.OnDeadline = OnDeadlineDelete
	}
	res := &Result{Node: node, Started: d.clock.Now()}
	n, err := d.getNode(ctx, node, opts.Deadline)
	var nf *NodeNotFoundError
	if errors.As(err, &nf) && opts.IgnoreMissing {
		res.Missing = true
		return res, nil
	}
	if err != nil {
		return res, err
	}
	if opts.DryRun {
		return res, d.plan(ctx, n, opts, res)
	}
	if opts.Budget != nil {
		slot, err := d.acquireSlot(ctx, n, opts)
		switch {
		case err != nil && opts.Voluntary:
			return res, fmt.Errorf("waiting for a drain budget slot: %w", err)
		case err != nil:
			// A drain that cannot wait never fails for the budget's sake.
			d.log.Warn("cannot take a drain budget slot; draining anyway", logging.KeyNode, node, logging.KeyError, err)
		default:
			defer slot.Release(context.WithoutCancel(ctx))
		}
	}
	blocked, err := d.drain(ctx, n, opts, res)
	res.Duration = d.clock.Since(res.Started)
	if res.marked && !res.NodeDeleted && !stoppedByCaller(ctx) {
		d.drainEndConditions(context.WithoutCancel(ctx), node, opts, res, err)
	}
	end := opts.step(StepDrained, node)
	end.Result, end.BlockedFor = res, blocked
	if err != nil {
		var claimed *ClaimedError
		switch {
		case stoppedByCaller(ctx):
			// Replaced by a more urgent drain, its notice withdrawn, the
			// process stopping: not a failure to report.
			d.log.Info("drain stopped before it finished", logging.KeyNode, node, logging.KeyNotice, opts.NoticeID, logging.KeyError, err)
			return res, err
		case errors.As(err, &claimed):
			// Another lifeboat mode drains for the same event.
			d.log.Info("not draining: another lifeboat mode acts on this event", logging.KeyNode, node, logging.KeyNotice, opts.NoticeID, logging.KeyError, err)
			return res, err
		}
		end.Type, end.Outcome, end.Err, end.Message = StepDrainFailed, OutcomeFailed, err, err.Error()
		d.emit(end)
		return res, err
	}
	end.Outcome, end.Message = res.Outcome(), fmt.Sprintf("drained in %s", res.Duration.Round(time.Millisecond))
	d.emit(end)
	return res, nil
}

// step starts a step about node carrying the drain's notice and deadline.
func (o *Options) step(t StepType, node string) Step {
	return Step{Type: t, Node: node, NoticeID: o.NoticeID, NoticeKind: o.NoticeKind, Progress: Progress{Deadline: o.Deadline}}
}

// drain does the work of Drain; it returns the time pods still blocked by
// a PDB at its end had been waiting (see Step.BlockedFor).
func (d *Drainer) drain(ctx context.Context, n *corev1.Node, opts Options, res *Result) (time.Duration, error) {
	node := n.Name
	change, err := d.cordon(ctx, node, n, opts, true)
	if err != nil {
		return 0, err
	}
	res.Cordoned, res.marked = change.cordoned, true
	// One watch on the node's pods serves the whole drain: pods are chosen
	// from it, and it reports every pod that goes.
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	tracker, err := trackPods(wctx, d, node, opts.Deadline)
	if err != nil {
		return 0, err
	}
	onNode := tracker.pods()
	done := map[types.UID]bool{}
	for i := range onNode {
		if isShutdownLeftover(&onNode[i]) {
			done[onNode[i].UID] = true
		}
	}
	if res.LeftoversRemoved, err = d.removeLeftovers(ctx, node, onNode, opts); err != nil {
		return 0, err
	}
	sel, err := d.selectPods(ctx, opts, onNode, done)
	if err != nil {
		return 0, err // an API failure: the cordon stays, the caller retries
	}
	if ce := sel.consent(node); ce != nil {
		// Nothing was evicted: restore exactly what this call changed on
		// the node; other notices' entries and cordons stay.
		res.Cordoned, res.marked = false, false
		if rerr := d.revert(ctx, node, opts, change); rerr != nil {
			return 0, errors.Join(ce, rerr)
		}
		d.writeConditions(ctx, node, opts.Deadline, nil, change.conds)
		return 0, ce
	}
	res.Pods, res.Skipped = sel.total(), sel.skipped
	start := opts.step(StepDrainStarted, node)
	start.Progress = Progress{Total: res.Pods, Left: res.Pods, Deadline: opts.Deadline}
	start.Message = fmt.Sprintf("draining %d pod(s), %d skipped", res.Pods, len(sel.skipped))
	d.emit(start)
	var evicted []corev1.Pod
	for _, w := range sel.waves() {
		evicted = append(evicted, w...)
	}
	blocked, err := d.removePods(ctx, node, opts, sel, tracker, res, done)
	if err != nil {
		return blocked, err
	}
	if opts.WaitForVolumeDetach {
		d.waitVolumesDetached(ctx, node, evicted, opts, res)
	}
	if opts.DeleteNode {
		return blocked, d.deleteNode(ctx, node, opts, res)
	}
	return blocked, nil
}

// deleteNode deletes the emptied Node object.
func (d *Drainer) deleteNode(ctx context.Context, node string, opts Options, res *Result) error {
	cctx, cancel := context.WithTimeout(ctx, callTimeout(d.clock.Now(), opts.Deadline))
	defer cancel()
	err := d.client.CoreV1().Nodes().Delete(cctx, node, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting node %s: %w", node, err)
	}
	res.NodeDeleted = true
	e := opts.step(StepNodeDeleted, node)
	e.Message = "node object deleted"
	d.emit(e)
	return nil
}

// maxSweeps bounds how often a drain looks again for pods that arrived on
// the node after it chose its pods (a binding in flight at the cordon).
const maxSweeps = 3

// removePods runs the evictions wave by wave, then removes pods that
// arrived meanwhile, and fills res. It returns how long the pods still
// blocked by a PDB at the end had been waiting.
func (d *Drainer) removePods(ctx context.Context, node string, opts Options, sel *selection, tracker *podTracker, res *Result, done map[types.UID]bool) (time.Duration, error) {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if !opts.Deadline.IsZero() {
		// A deadline that is (nearly) past still gets a short window in which
		// every pod is asked to stop with the shortest grace period.
		window := max(opts.Deadline.Sub(d.clock.Now()), DefaultSafetyMargin)
		stop := d.clock.AfterFunc(window, func() { cancel(errDeadline) })
		defer stop.Stop()
	}
	d.pdbs.acquire()
	defer d.pdbs.release()
	r := newRun(d, node, opts, tracker, res)
	var refused []PodRef
	for sweep := 0; ; sweep++ {
		waves := sel.waves()
		for _, w := range waves {
			r.add(w)
			tracker.track(w)
		}
		for _, uid := range sel.judged {
			done[uid] = true
		}
		refused = append(refused, sel.refused...)
		r.runWaves(runCtx, waves)
		if runCtx.Err() != nil || sweep == maxSweeps {
			break
		}
		late, err := d.selectPods(runCtx, opts, tracker.pods(), done)
		if err != nil {
			d.log.Warn("cannot check for pods that arrived during the drain", logging.KeyNode, node, logging.KeyError, err)
			break
		}
		if late.total() == 0 && len(late.refused) == 0 && len(late.skipped) == 0 {
			break
		}
		if late.total() > 0 {
			d.log.Info("pods arrived on the node during the drain; removing them too", logging.KeyNode, node, "pods", late.total())
		}
		res.Skipped = append(res.Skipped, late.skipped...)
		sel = late
	}
	res.Pods = len(r.pods)
	res.Left = append(r.left(), refused...)
	blocked := r.endBlocks()
	if len(res.Left) == 0 {
		return blocked, nil
	}
	return blocked, &IncompleteError{Node: node, Reason: incompleteReason(context.Cause(runCtx), len(refused)), Left: res.Left}
}

var errDeadline = errors.New("deadline passed")

// incompleteReason says why a drain ended with pods left.
func incompleteReason(cause error, refused int) string {
	switch {
	case errors.Is(cause, errDeadline):
		return "deadline passed"
	case cause != nil:
		return cause.Error()
	case refused > 0:
		return "pods that arrived during the drain need consent"
	default:
		return "pods could not be removed"
	}
}

// runWaves evicts wave after wave; a later wave starts when the earlier one
// is done, or earlier if waiting longer would not leave its pods their grace
// period before the deadline.
func (r *run) runWaves(ctx context.Context, waves [waveCount][]corev1.Pod) {
	var all sync.WaitGroup
	var prev chan struct{}
	for _, pods := range waves {
		if len(pods) == 0 {
			continue
		}
		if prev != nil && !r.waitPrevious(ctx, prev, pods) {
			break
		}
		done := make(chan struct{})
		var wg sync.WaitGroup
		for i := range pods {
			wg.Add(1)
			all.Add(1)
			go func(p *corev1.Pod) {
				defer all.Done()
				defer wg.Done()
				r.removePod(ctx, p)
			}(&pods[i])
		}
		go func() { wg.Wait(); close(done) }()
		prev = done
	}
	all.Wait()
}

// waitPrevious waits until the previous wave is done or the next one must
// start to fit the deadline; false when the drain ended meanwhile.
func (r *run) waitPrevious(ctx context.Context, prev <-chan struct{}, next []corev1.Pod) bool {
	var latest <-chan time.Time
	if start := r.tm.waveStart(next); !start.IsZero() {
		t := r.d.clock.NewTimer(start.Sub(r.d.clock.Now()))
		defer t.Stop()
		latest = t.C()
	}
	select {
	case <-prev:
		return true
	case <-latest:
		r.d.log.Warn("starting the next eviction wave early to fit the deadline", logging.KeyNode, r.node, logging.KeyNotice, r.opts.NoticeID)
		return true
	case <-ctx.Done():
		return false
	}
}

func (d *Drainer) emit(e Step) {
	if e.Time.IsZero() {
		e.Time = d.clock.Now()
	}
	d.log.Log(context.Background(), logLevel(e.Type), e.Message, stepAttrs(e)...)
	if d.obs != nil {
		d.obs.Observe(e)
	}
}

// stepAttrs are the log attributes of a step: only the keys it has.
func stepAttrs(e Step) []any {
	args := []any{logging.KeyNode, e.Node, logging.KeyStep, string(e.Type)}
	for _, kv := range [][2]string{
		{logging.KeyNotice, e.NoticeID}, {logging.KeyPod, e.Pod}, {logging.KeyPDB, e.PDB},
	} {
		if kv[1] != "" {
			args = append(args, kv[0], kv[1])
		}
	}
	if e.Err != nil {
		args = append(args, logging.KeyError, e.Err)
	}
	return args
}

func logLevel(t StepType) slog.Level {
	switch t {
	case StepPodEvicted, StepPodGone, StepPodDeleted:
		return slog.LevelDebug
	case StepDrainFailed, StepEvictionFailed, StepDeadlineFallback:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// stoppedByCaller reports that the caller canceled ctx on purpose (not a
// timeout: a host-shutdown drain running out of time did fail).
func stoppedByCaller(ctx context.Context) bool {
	return errors.Is(ctx.Err(), context.Canceled)
}

func key(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
