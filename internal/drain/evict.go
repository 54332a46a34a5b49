package drain

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

// run is the state of one drain's pod removal.
type run struct {
	d       *Drainer
	node    string
	opts    Options
	tm      timing
	tracker *podTracker
	pdbs    *pdbWatch
	sem     chan struct{} // bounds API requests in flight; nil: unbounded

	mu     sync.Mutex
	res    *Result
	pods   []corev1.Pod         // every pod the drain set out to remove
	states map[string]*podState // by key(pod)
}

// podState is what happened to one pod, to report why it is left.
type podState struct {
	tried        bool      // an eviction or deletion was sent
	removed      bool      // an eviction was accepted or a deletion succeeded
	blocked      string    // the PDB refusing the eviction, while it does
	blockedSince time.Time // when the PDB started refusing it
	lastErr      string    // the last failure, while not removed
}

// unblock ends the pod's PDB block at now and returns how long it lasted
// (0 if it was not blocked).
func (s *podState) unblock(now time.Time) time.Duration {
	var d time.Duration
	if s.blocked != "" && !s.blockedSince.IsZero() {
		d = max(now.Sub(s.blockedSince), 0)
	}
	s.blocked, s.blockedSince = "", time.Time{}
	return d
}

// leftReason says why a pod is still on the node when the drain ends.
func leftReason(s podState) string {
	switch {
	case s.blocked != "":
		return "blocked by PDB " + s.blocked
	case s.removed:
		return "still terminating"
	case s.lastErr != "":
		return "not removed: " + s.lastErr
	case s.tried:
		return "not removed"
	default:
		return "not attempted: the drain ended before its turn"
	}
}

func newRun(d *Drainer, node string, opts Options, tracker *podTracker, res *Result) *run {
	r := &run{
		d: d, node: node, opts: opts, tm: newTiming(opts), tracker: tracker, pdbs: d.pdbs, res: res,
		states: map[string]*podState{},
	}
	if opts.MaxConcurrency > 0 {
		r.sem = make(chan struct{}, opts.MaxConcurrency)
	}
	return r
}

// add registers pods the drain will remove.
func (r *run) add(pods []corev1.Pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range pods {
		if _, ok := r.states[key(&pods[i])]; !ok {
			r.states[key(&pods[i])] = &podState{}
			r.pods = append(r.pods, pods[i])
		}
	}
}

func (r *run) state(p *corev1.Pod, f func(*podState)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.states[key(p)]; s != nil {
		f(s)
	}
}

// change applies f to p's state and the result and returns the progress
// right after it, in one critical section: concurrent steps then agree on
// which was first (Progress.FirstBlockBy, Progress.Fallbacks).
func (r *run) change(p *corev1.Pod, f func(*podState, *Result)) Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.states[key(p)]
	if s == nil {
		s = &podState{}
	}
	f(s, r.res)
	return r.progressLocked()
}

// removed records that p's eviction was accepted or its deletion
// succeeded, counting it with count, and returns how long a PDB had
// blocked it and the progress after it.
func (r *run) removed(p *corev1.Pod, count func(*Result)) (time.Duration, Progress) {
	now := r.d.clock.Now()
	var blocked time.Duration
	prog := r.change(p, func(s *podState, res *Result) {
		count(res)
		s.removed, s.lastErr = true, ""
		blocked = s.unblock(now)
	})
	return blocked, prog
}

// endBlocks ends the blocks of pods still blocked when the drain ends and
// returns their summed duration.
func (r *run) endBlocks() time.Duration {
	now := r.d.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var sum time.Duration
	for _, s := range r.states {
		sum += s.unblock(now)
	}
	return sum
}

// removePod evicts one pod and waits until it is gone. While a PDB blocks
// it, the eviction is retried on every budget change; once waiting longer
// would cost the pod its grace period before the deadline, the OnDeadline
// policy applies. Any other failure (a 409 from PDB update conflicts, 5xx,
// 403, a timeout) is retried with backoff while the pod exists.
func (r *run) removePod(ctx context.Context, p *corev1.Pod) {
	gone := r.tracker.gone(p.UID)
	if isFinished(p) {
		r.deletePod(ctx, p, gone, false, "finished pod deleted")
		return
	}
	var lastFail string
	for fails := 0; !isClosed(gone) && ctx.Err() == nil; {
		changed := r.pdbs.changed(p.Namespace)
		grace := r.grace(p)
		err := r.evict(ctx, p, grace)
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			blocked, prog := r.removed(p, func(res *Result) { res.Evicted++ })
			r.emitAt(Step{
				Type: StepPodEvicted, Pod: key(p), PodUID: p.UID, GracePeriodSeconds: r.graceValue(grace, p), BlockedFor: blocked,
				Message: "eviction accepted",
			}, prog)
			r.waitGone(ctx, p, gone)
			return
		case apierrors.IsNotFound(err):
			r.waitGone(ctx, p, gone) // deleted meanwhile: the watch reports it
			return
		case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
			r.deletePod(ctx, p, gone, false, "pod deleted (namespace terminating)")
			return
		case apierrors.IsTooManyRequests(err):
			lastFail = "" // a failure after the block is news again
			if r.block(ctx, p, err) {
				r.fallback(ctx, p, gone)
				return
			}
			r.waitRetry(ctx, p, gone, changed, err)
		default:
			lastFail = r.failed(p, err, lastFail, "eviction failed, retrying")
			if r.shouldFallBack(p) {
				r.fallback(ctx, p, gone)
				return
			}
			now := r.d.clock.Now()
			r.sleep(ctx, gone, retryDelay(now, r.tm.fallbackAt(p), fails))
			fails++
		}
	}
}

// evict sends one eviction (UID precondition).
func (r *run) evict(ctx context.Context, p *corev1.Pod, grace *int64) error {
	uid := p.UID
	ev := &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name},
		DeleteOptions: &metav1.DeleteOptions{GracePeriodSeconds: grace, Preconditions: &metav1.Preconditions{UID: &uid}},
	}
	return r.call(ctx, p, func(cctx context.Context) error {
		return r.d.client.PolicyV1().Evictions(p.Namespace).Evict(cctx, ev)
	})
}

// remove sends one deletion (UID precondition).
func (r *run) remove(ctx context.Context, p *corev1.Pod, grace *int64) error {
	uid := p.UID
	return r.call(ctx, p, func(cctx context.Context) error {
		return r.d.client.CoreV1().Pods(p.Namespace).Delete(cctx, p.Name, metav1.DeleteOptions{
			GracePeriodSeconds: grace, Preconditions: &metav1.Preconditions{UID: &uid},
		})
	})
}

// call makes one removal request about p: it holds a request slot only for
// the call, marks p as tried, and bounds the call with callCtx.
func (r *run) call(ctx context.Context, p *corev1.Pod, do func(context.Context) error) error {
	release, err := r.slot(ctx)
	if err != nil {
		return err
	}
	defer release()
	r.state(p, func(s *podState) { s.tried = true })
	cctx, cancel := r.callCtx(ctx, p)
	defer cancel()
	return do(cctx)
}

// callCtx bounds one API call about p so that it cannot eat the time its
// deadline fallback needs (client-go's own Retry-After loop included).
func (r *run) callCtx(ctx context.Context, p *corev1.Pod) (context.Context, context.CancelFunc) {
	now := r.d.clock.Now()
	return context.WithTimeout(ctx, callTimeout(now, r.tm.podCallLimit(now, p)))
}

// slot waits for a free request slot (MaxConcurrency) and returns its release.
func (r *run) slot(ctx context.Context) (func(), error) {
	if r.sem == nil {
		return func() {}, nil
	}
	select {
	case r.sem <- struct{}{}:
		return func() { <-r.sem }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// failed reports a failed call: a new kind of failure as an event (Warn),
// a repeat of the same one only at Debug, so a failure retried for weeks
// does not flood the log. It returns the failure's kind.
func (r *run) failed(p *corev1.Pod, err error, last, msg string) string {
	kind := err.Error()
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		kind = fmt.Sprintf("%d %s", st.Status().Code, st.Status().Reason)
	} else {
		// No answer from the API server (refused, reset, timed out): the
		// pod watch may have broken with it, and a reflector does not
		// always report a refused connection, so list pods for a while.
		r.tracker.suspect(r.d.clock.Now())
	}
	r.state(p, func(s *podState) { s.lastErr = err.Error() })
	if kind == last {
		r.d.log.Debug(msg, logging.KeyNode, r.node, logging.KeyNotice, r.opts.NoticeID, logging.KeyPod, key(p), logging.KeyError, err)
		return kind
	}
	r.emit(Step{Type: StepEvictionFailed, Pod: key(p), PodUID: p.UID, Err: err, Message: msg})
	return kind
}

// block records that a PDB refused the eviction, reporting each new block
// once, and reports whether the pod must now fall back to a deletion. The
// fallback decision comes first: nothing here waits past the fallback point.
func (r *run) block(ctx context.Context, p *corev1.Pod, err error) bool {
	fallBack := r.shouldFallBack(p)
	ready := r.pdbs.start()
	if !fallBack {
		// Give the budget informer a moment to name the budget, never past
		// the pod's fallback point (the informer's own wait is bounded).
		t := r.d.clock.NewTimer(r.untilFallback(p))
		select {
		case <-ready:
		case <-t.C():
		case <-ctx.Done():
		}
		t.Stop()
	}
	pdb := r.pdbs.blocking(p)
	if pdb == "" {
		pdb = "unknown"
	}
	now := r.d.clock.Now()
	var prev string
	prog := r.change(p, func(s *podState, _ *Result) {
		prev, s.blocked = s.blocked, pdb
		if s.blockedSince.IsZero() {
			s.blockedSince = now
		}
	})
	if prev != pdb {
		r.emitAt(Step{Type: StepPodBlocked, Pod: key(p), PodUID: p.UID, PDB: pdb, Message: fmt.Sprintf("eviction blocked by PodDisruptionBudget %s: %v", pdb, err)}, prog)
	}
	return fallBack || r.shouldFallBack(p)
}

// waitRetry waits for whatever can unblock the eviction: a budget change,
// the pod going away, the fallback moment, or the safety-net timer (or the
// server's Retry-After for API throttling).
func (r *run) waitRetry(ctx context.Context, p *corev1.Pod, gone, changed <-chan struct{}, err error) {
	retry := r.d.blockedRetry
	if s, ok := apierrors.SuggestsClientDelay(err); ok && s > 0 && time.Duration(s)*time.Second < retry {
		retry = time.Duration(s) * time.Second
	}
	safety := r.d.clock.NewTimer(retry)
	defer safety.Stop()
	var fallback <-chan time.Time
	if at := r.tm.fallbackAt(p); !at.IsZero() && r.opts.OnDeadline == OnDeadlineDelete {
		t := r.d.clock.NewTimer(at.Sub(r.d.clock.Now()))
		defer t.Stop()
		fallback = t.C()
	}
	select {
	case <-gone:
	case <-changed:
	case <-safety.C():
	case <-fallback:
	case <-ctx.Done():
	}
}

// fallback deletes a pod that could not be evicted in time, with a grace
// period that still ends before the deadline.
func (r *run) fallback(ctx context.Context, p *corev1.Pod, gone <-chan struct{}) {
	grace := r.grace(p)
	var pdb string
	prog := r.change(p, func(s *podState, res *Result) {
		pdb = s.blocked
		res.Fallbacks++
	})
	r.emitAt(Step{
		Type: StepDeadlineFallback, Pod: key(p), PodUID: p.UID, PDB: pdb, Fallback: true, GracePeriodSeconds: r.graceValue(grace, p),
		Message: fmt.Sprintf("deadline near: deleting pod with a %ds grace period instead of waiting for PDB %s", r.graceValue(grace, p), pdb),
	}, prog)
	r.deletePod(ctx, p, gone, true, "pod deleted (deadline fallback)")
}

// deletePod deletes p (UID precondition) and waits until it is gone. A
// failed deletion is retried with backoff while time remains, each time
// with the grace period that still fits before the deadline. fallback says
// that the deletion replaces an eviction because of the deadline.
func (r *run) deletePod(ctx context.Context, p *corev1.Pod, gone <-chan struct{}, fallback bool, msg string) {
	var lastFail string
	for fails := 0; !isClosed(gone) && ctx.Err() == nil; fails++ {
		grace := r.grace(p)
		if isFinished(p) {
			zero := int64(0) // nothing runs any more: no grace to give
			grace = &zero
		}
		err := r.remove(ctx, p, grace)
		switch {
		case ctx.Err() != nil:
			return
		case err == nil, apierrors.IsNotFound(err), apierrors.IsConflict(err):
			// Conflict: the UID precondition failed, the pod is gone.
			blocked, prog := r.removed(p, func(res *Result) { res.Deleted++ })
			r.emitAt(Step{
				Type: StepPodDeleted, Pod: key(p), PodUID: p.UID, Fallback: fallback, GracePeriodSeconds: r.graceValue(grace, p), BlockedFor: blocked,
				Message: msg,
			}, prog)
			r.waitGone(ctx, p, gone)
			return
		}
		lastFail = r.failed(p, err, lastFail, "deleting pod failed, retrying")
		delay := retryDelay(r.d.clock.Now(), time.Time{}, fails)
		if !r.opts.Deadline.IsZero() {
			delay = min(delay, time.Second) // time is short: retry soon
		}
		r.sleep(ctx, gone, delay)
	}
}

func (r *run) waitGone(ctx context.Context, p *corev1.Pod, gone <-chan struct{}) {
	select {
	case <-gone:
		// A pod deleted by someone else while blocked ends its block here.
		now := r.d.clock.Now()
		var blocked time.Duration
		prog := r.change(p, func(s *podState, _ *Result) { blocked = s.unblock(now) })
		r.emitAt(Step{Type: StepPodGone, Pod: key(p), PodUID: p.UID, BlockedFor: blocked, Message: "pod gone"}, prog)
	case <-ctx.Done():
	}
}

func (r *run) sleep(ctx context.Context, gone <-chan struct{}, d time.Duration) {
	t := r.d.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
	case <-gone:
	case <-ctx.Done():
	}
}

func (r *run) grace(p *corev1.Pod) *int64 { return r.tm.grace(r.d.clock.Now(), p) }

// shouldFallBack reports that a pod that could not be evicted must now be
// deleted instead, to keep its grace period before the deadline.
func (r *run) shouldFallBack(p *corev1.Pod) bool {
	at := r.tm.fallbackAt(p)
	return r.opts.OnDeadline == OnDeadlineDelete && !at.IsZero() && !r.d.clock.Now().Before(at)
}

// untilFallback is the time left before the pod's fallback moment.
func (r *run) untilFallback(p *corev1.Pod) time.Duration {
	at := r.tm.fallbackAt(p)
	if at.IsZero() {
		return pdbSyncWait
	}
	return max(at.Sub(r.d.clock.Now()), 0)
}

func (r *run) graceValue(g *int64, p *corev1.Pod) int64 {
	if g != nil {
		return *g
	}
	return r.tm.ownGrace(p)
}

func (r *run) emit(e Step) { r.emitAt(e, r.progress()) }

// emitAt reports a step of the run with the progress taken with its change.
func (r *run) emitAt(e Step, prog Progress) {
	e.Node, e.NoticeID, e.NoticeKind = r.node, r.opts.NoticeID, r.opts.NoticeKind
	e.Progress = prog
	r.d.emit(e)
}

func (r *run) progress() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.progressLocked()
}

// progressLocked is progress; callers hold r.mu.
func (r *run) progressLocked() Progress {
	b := map[string]string{}
	for k, s := range r.states {
		if s.blocked != "" {
			b[k] = s.blocked
		}
	}
	return Progress{Total: len(r.pods), Left: r.tracker.remaining(), Blocked: b, Fallbacks: r.res.Fallbacks, Deadline: r.opts.Deadline}
}

// left lists the pods still on the node, each with why.
func (r *run) left() []PodRef {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []PodRef
	for i := range r.pods {
		p := &r.pods[i]
		if isClosed(r.tracker.gone(p.UID)) {
			continue
		}
		out = append(out, PodRef{Namespace: p.Namespace, Name: p.Name, Reason: leftReason(*r.states[key(p)])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
