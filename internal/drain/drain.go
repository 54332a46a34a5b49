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
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
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
// different nodes.
type Drainer struct {
	client       kubernetes.Interface
	clock        clock.WithTickerAndDelayedExecution
	log          *slog.Logger
	obs          Observer
	blockedRetry time.Duration
}

// New returns a Drainer using client.
func New(client kubernetes.Interface, cfg Config) *Drainer {
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
	return d
}

// Validate checks options that do not depend on the cluster.
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
// *ConsentError that pods need --force or --delete-emptydir-data,
// *NodeNotFoundError that the node does not exist.
func (d *Drainer) Drain(ctx context.Context, node string, opts Options) (*Result, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.OnDeadline == "" {
		opts.OnDeadline = OnDeadlineDelete
	}
	res := &Result{Node: node, Started: d.clock.Now()}
	n, err := d.getNode(ctx, node)
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
	err = d.drain(ctx, n, opts, res)
	res.Duration = d.clock.Since(res.Started)
	if err != nil {
		d.emit(Event{Type: EventDrainFailed, Node: node, Result: res, Err: err, Message: err.Error()})
		return res, err
	}
	d.emit(Event{Type: EventDrained, Node: node, Result: res, Message: fmt.Sprintf("drained in %s", res.Duration.Round(time.Millisecond))})
	return res, nil
}

func (d *Drainer) drain(ctx context.Context, n *corev1.Node, opts Options, res *Result) error {
	node := n.Name
	change, err := d.cordon(ctx, node, n, opts)
	if err != nil {
		return err
	}
	res.Cordoned = change.cordoned
	// One watch on the node's pods serves the whole drain: it lists what is
	// there (leftovers, skipped pods) and then reports every pod that goes.
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	tracker, err := trackPods(wctx, d, node)
	if err != nil {
		return err
	}
	if res.LeftoversRemoved, err = d.removeLeftovers(ctx, node, tracker.pods()); err != nil {
		return err
	}
	sel, err := d.selectPods(ctx, node, opts, tracker.pods())
	var ce *ConsentError
	if errors.As(err, &ce) {
		// Nothing was evicted: restore exactly what this call changed on
		// the node; other notices' entries and cordons stay.
		if rerr := d.revert(ctx, node, change); rerr != nil {
			err = errors.Join(err, rerr)
		}
		res.Cordoned = false
	}
	if err != nil {
		return err
	}
	res.Pods, res.Skipped = sel.total(), sel.skipped
	d.emit(Event{
		Type: EventDrainStarted, Node: node, Progress: Progress{Total: res.Pods, Left: res.Pods, Deadline: opts.Deadline},
		Message: fmt.Sprintf("draining %d pod(s), %d skipped", res.Pods, len(sel.skipped)),
	})
	if res.Pods > 0 {
		if err := d.removePods(ctx, node, opts, sel, tracker, res); err != nil {
			return err
		}
	}
	if opts.DeleteNode {
		err := d.client.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting node %s: %w", node, err)
		}
		res.NodeDeleted = true
		d.emit(Event{Type: EventNodeDeleted, Node: node, Message: "node object deleted"})
	}
	return nil
}

// removePods runs the evictions wave by wave and fills res.
func (d *Drainer) removePods(ctx context.Context, node string, opts Options, sel *selection, tracker *podTracker, res *Result) error {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if !opts.Deadline.IsZero() {
		// A deadline that is (nearly) past still gets a short window in which
		// every pod is asked to stop with the shortest grace period.
		window := max(opts.Deadline.Sub(d.clock.Now()), DefaultSafetyMargin)
		stop := d.clock.AfterFunc(window, func() { cancel(errDeadline) })
		defer stop.Stop()
	}
	var all []corev1.Pod
	all = append(all, sel.finished...)
	for _, w := range sel.evict {
		all = append(all, w...)
	}
	tracker.track(all)
	r := &run{
		d: d, node: node, opts: opts, tracker: tracker, pdbs: newPDBWatch(), res: res,
		blocked: map[string]string{}, left: map[string]string{}, total: len(all),
	}
	r.margin = opts.SafetyMargin
	if r.margin <= 0 {
		r.margin = DefaultSafetyMargin
	}
	r.deleteFinished(runCtx, sel.finished)
	r.runWaves(runCtx, sel.evict)
	for i := range all {
		p := &all[i]
		if isClosed(tracker.gone(p.UID)) {
			continue
		}
		reason := r.left[key(p)]
		if reason == "" {
			reason = "still terminating"
		}
		res.Left = append(res.Left, PodRef{Namespace: p.Namespace, Name: p.Name, Reason: reason})
	}
	if len(res.Left) == 0 {
		return nil
	}
	why := "context canceled"
	if cause := context.Cause(runCtx); errors.Is(cause, errDeadline) {
		why = "deadline passed"
	} else if cause != nil {
		why = cause.Error()
	}
	return &IncompleteError{Node: node, Reason: why, Left: res.Left}
}

var errDeadline = errors.New("deadline passed")

// runWaves evicts wave after wave; a later wave starts when the earlier one
// is done, or earlier if waiting longer would not leave its pods their grace
// period before the deadline.
func (r *run) runWaves(ctx context.Context, waves [waveCount][]corev1.Pod) {
	var all sync.WaitGroup
	var prev chan struct{}
	var sem chan struct{}
	if r.opts.MaxConcurrency > 0 {
		sem = make(chan struct{}, r.opts.MaxConcurrency)
	}
	for _, pods := range waves {
		if len(pods) == 0 {
			continue
		}
		if prev != nil {
			r.waitPrevious(ctx, prev, pods)
		}
		done := make(chan struct{})
		var wg sync.WaitGroup
		for i := range pods {
			wg.Add(1)
			all.Add(1)
			go func(p *corev1.Pod) {
				defer all.Done()
				defer wg.Done()
				if sem != nil {
					select {
					case sem <- struct{}{}:
						defer func() { <-sem }()
					case <-ctx.Done():
						return
					}
				}
				r.removePod(ctx, p)
			}(&pods[i])
		}
		go func() { wg.Wait(); close(done) }()
		prev = done
	}
	all.Wait()
}

func (r *run) waitPrevious(ctx context.Context, prev <-chan struct{}, next []corev1.Pod) {
	var latest <-chan time.Time
	if !r.opts.Deadline.IsZero() {
		var maxGrace int64
		for i := range next {
			maxGrace = max(maxGrace, r.ownGrace(&next[i]))
		}
		start := r.opts.Deadline.Add(-r.margin - time.Duration(maxGrace)*time.Second)
		t := r.d.clock.NewTimer(start.Sub(r.d.clock.Now()))
		defer t.Stop()
		latest = t.C()
	}
	select {
	case <-prev:
	case <-latest:
		r.d.log.Warn("starting the next eviction wave early to fit the deadline", "node", r.node)
	case <-ctx.Done():
	}
}

func (d *Drainer) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = d.clock.Now()
	}
	args := []any{"node", e.Node, "event", string(e.Type)}
	if e.Pod != "" {
		args = append(args, "pod", e.Pod)
	}
	if e.PDB != "" {
		args = append(args, "pdb", e.PDB)
	}
	if e.Err != nil {
		args = append(args, "err", e.Err)
	}
	lvl := slog.LevelInfo
	switch e.Type {
	case EventPodEvicted, EventPodGone, EventPodDeleted:
		lvl = slog.LevelDebug
	case EventDrainFailed, EventEvictionFailed, EventDeadlineFallback:
		lvl = slog.LevelWarn
	}
	d.log.Log(context.Background(), lvl, e.Message, args...)
	if d.obs != nil {
		d.obs.Observe(e)
	}
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
