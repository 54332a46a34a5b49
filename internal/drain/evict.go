package drain

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// run is the state of one drain's pod removal.
type run struct {
	d       *Drainer
	node    string
	opts    Options
	margin  time.Duration
	tracker *podTracker
	pdbs    *pdbWatch
	total   int

	mu      sync.Mutex
	res     *Result
	blocked map[string]string // pod -> PDB, while blocked
	left    map[string]string // pod -> why it was given up
}

// removePod evicts one pod and waits until it is gone. While a PDB blocks
// it, the eviction is retried on every budget change; once waiting longer
// would cost the pod its grace period before the deadline, the OnDeadline
// policy applies.
func (r *run) removePod(ctx context.Context, p *corev1.Pod) {
	gone := r.tracker.gone(p.UID)
	backoff := 250 * time.Millisecond
	for !isClosed(gone) && ctx.Err() == nil {
		changed := r.pdbs.changed.wait()
		grace := r.grace(p)
		err := r.evict(ctx, p, grace)
		switch {
		case err == nil:
			r.count(func(res *Result) { res.Evicted++ })
			r.unblock(p)
			r.emit(Event{Type: EventPodEvicted, Pod: key(p), GracePeriodSeconds: graceValue(grace, p), Message: "eviction accepted"})
			r.waitGone(ctx, p, gone)
			return
		case apierrors.IsNotFound(err), apierrors.IsConflict(err):
			return // gone, or replaced by a pod with the same name
		case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
			r.deletePod(ctx, p, grace, false, gone)
			return
		case apierrors.IsTooManyRequests(err):
			r.block(ctx, p, err)
			if r.shouldFallBack(p) {
				r.fallback(ctx, p, gone)
				return
			}
			r.waitRetry(ctx, p, gone, changed, err)
		default:
			r.emit(Event{Type: EventEvictionFailed, Pod: key(p), Err: err, Message: "eviction failed, retrying"})
			if r.shouldFallBack(p) {
				r.fallback(ctx, p, gone)
				return
			}
			r.sleep(ctx, gone, min(backoff, r.untilFallback(p)))
			backoff = min(2*backoff, 5*time.Second)
		}
	}
	r.giveUp(p, gone)
}

func (r *run) evict(ctx context.Context, p *corev1.Pod, grace *int64) error {
	uid := p.UID
	ev := &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name},
		DeleteOptions: &metav1.DeleteOptions{GracePeriodSeconds: grace, Preconditions: &metav1.Preconditions{UID: &uid}},
	}
	return r.d.client.PolicyV1().Evictions(p.Namespace).Evict(ctx, ev)
}

// block records that a PDB refused the eviction, reporting each new block once.
func (r *run) block(ctx context.Context, p *corev1.Pod, err error) {
	if werr := r.pdbs.start(ctx, r.d); werr != nil {
		r.d.log.Warn("cannot watch PodDisruptionBudgets; retrying on a timer", "node", r.node, "err", werr)
	}
	pdb := r.pdbs.blocking(p)
	if pdb == "" {
		pdb = "unknown"
	}
	r.mu.Lock()
	prev, was := r.blocked[key(p)]
	r.blocked[key(p)] = pdb
	r.mu.Unlock()
	if r.opts.OnDeadline == OnDeadlineAbort {
		r.setLeft(p, "blocked by PDB "+pdb)
	}
	if !was || prev != pdb {
		r.emit(Event{Type: EventPodBlocked, Pod: key(p), PDB: pdb, Message: fmt.Sprintf("eviction blocked by PodDisruptionBudget %s: %v", pdb, err)})
	}
}

func (r *run) unblock(p *corev1.Pod) {
	r.mu.Lock()
	delete(r.blocked, key(p))
	delete(r.left, key(p))
	r.mu.Unlock()
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
	if at := r.fallbackAt(p); !at.IsZero() && r.opts.OnDeadline == OnDeadlineDelete {
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
	r.mu.Lock()
	pdb := r.blocked[key(p)]
	r.mu.Unlock()
	r.count(func(res *Result) { res.Fallbacks++ })
	r.emit(Event{
		Type: EventDeadlineFallback, Pod: key(p), PDB: pdb, GracePeriodSeconds: graceValue(grace, p),
		Message: fmt.Sprintf("deadline near: deleting pod with a %ds grace period instead of waiting for PDB %s", graceValue(grace, p), pdb),
	})
	r.deletePod(ctx, p, grace, true, gone)
}

// deletePod deletes p (UID precondition) and waits until it is gone.
func (r *run) deletePod(ctx context.Context, p *corev1.Pod, grace *int64, fallback bool, gone <-chan struct{}) {
	uid := p.UID
	err := r.d.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
		GracePeriodSeconds: grace, Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		r.emit(Event{Type: EventEvictionFailed, Pod: key(p), Err: err, Message: "deleting pod failed"})
		r.giveUp(p, gone)
		return
	}
	r.unblock(p)
	r.count(func(res *Result) { res.Deleted++ })
	msg := "finished pod deleted"
	if fallback {
		msg = "pod deleted (deadline fallback)"
	}
	r.emit(Event{Type: EventPodDeleted, Pod: key(p), GracePeriodSeconds: graceValue(grace, p), Message: msg})
	r.waitGone(ctx, p, gone)
}

func (r *run) deleteFinished(ctx context.Context, pods []corev1.Pod) {
	for i := range pods {
		p := &pods[i]
		zero := int64(0)
		r.deletePod(ctx, p, &zero, false, nil)
	}
}

func (r *run) waitGone(ctx context.Context, p *corev1.Pod, gone <-chan struct{}) {
	if gone == nil {
		return // finished pods: their removal is checked at the end
	}
	select {
	case <-gone:
		r.emit(Event{Type: EventPodGone, Pod: key(p), Message: "pod gone"})
	case <-ctx.Done():
		r.giveUp(p, gone)
	}
}

func (r *run) giveUp(p *corev1.Pod, gone <-chan struct{}) {
	if gone != nil && isClosed(gone) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.left[key(p)] != "" {
		return
	}
	if pdb, ok := r.blocked[key(p)]; ok {
		r.left[key(p)] = "blocked by PDB " + pdb
	}
}

func (r *run) setLeft(p *corev1.Pod, why string) {
	r.mu.Lock()
	r.left[key(p)] = why
	r.mu.Unlock()
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

// ownGrace is the grace period a pod would get without a deadline.
func (r *run) ownGrace(p *corev1.Pod) int64 {
	if r.opts.GracePeriodSeconds >= 0 {
		return r.opts.GracePeriodSeconds
	}
	if p.Spec.TerminationGracePeriodSeconds != nil {
		return *p.Spec.TerminationGracePeriodSeconds
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}

// grace is the grace period to request: nil for the pod's own, otherwise the
// override, capped so that it ends SafetyMargin before the deadline.
func (r *run) grace(p *corev1.Pod) *int64 {
	own := r.ownGrace(p)
	var g *int64
	if r.opts.GracePeriodSeconds >= 0 {
		g = &own
	}
	if r.opts.Deadline.IsZero() {
		return g
	}
	avail := int64(r.opts.Deadline.Sub(r.d.clock.Now()).Truncate(time.Second)/time.Second) - int64(r.margin/time.Second)
	avail = max(avail, 1)
	if own > avail {
		return &avail
	}
	return g
}

// fallbackAt is the last moment a blocked pod can wait and still get its own
// grace period before the deadline; zero without a deadline. One second of
// slack covers grace periods being whole seconds.
func (r *run) fallbackAt(p *corev1.Pod) time.Time {
	if r.opts.Deadline.IsZero() {
		return time.Time{}
	}
	return r.opts.Deadline.Add(-r.margin - time.Second - time.Duration(r.ownGrace(p))*time.Second)
}

// shouldFallBack reports that a pod that could not be evicted must now be
// deleted instead, to keep its grace period before the deadline.
func (r *run) shouldFallBack(p *corev1.Pod) bool {
	at := r.fallbackAt(p)
	return r.opts.OnDeadline == OnDeadlineDelete && !at.IsZero() && !r.d.clock.Now().Before(at)
}

// untilFallback is the time left before the pod's fallback moment.
func (r *run) untilFallback(p *corev1.Pod) time.Duration {
	at := r.fallbackAt(p)
	if at.IsZero() {
		return time.Hour
	}
	return max(at.Sub(r.d.clock.Now()), 0)
}

func graceValue(g *int64, p *corev1.Pod) int64 {
	if g != nil {
		return *g
	}
	if p.Spec.TerminationGracePeriodSeconds != nil {
		return *p.Spec.TerminationGracePeriodSeconds
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}

func (r *run) count(f func(*Result)) {
	r.mu.Lock()
	f(r.res)
	r.mu.Unlock()
}

func (r *run) emit(e Event) {
	e.Node = r.node
	e.Progress = r.progress()
	r.d.emit(e)
}

func (r *run) progress() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := make(map[string]string, len(r.blocked))
	for k, v := range r.blocked {
		b[k] = v
	}
	return Progress{Total: r.total, Left: r.tracker.remaining(), Blocked: b, Deadline: r.opts.Deadline}
}
