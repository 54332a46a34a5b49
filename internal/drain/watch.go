package drain

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

// signal is a broadcast: wait returns a channel closed at the next fire.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

func (s *signal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}

// podTracker watches the node's pods: it tells which pods are there, and
// when a tracked pod is gone, so the drain never polls for deletions.
type podTracker struct {
	mu      sync.Mutex
	waiting map[types.UID]chan struct{}
	store   cache.Store
	// watchFailed is when the watch last failed (unix nanoseconds; 0:
	// never). Its reflector then backs off for up to 30 s, so pods that go
	// meanwhile are looked for with a LIST (see resync).
	watchFailed atomic.Int64
}

// Resync pacing after a watch failure: a LIST every resyncEvery while pods
// are awaited, for resyncFor after the last failure.
const (
	resyncEvery = 3 * time.Second
	resyncFor   = 2 * time.Minute
)

// trackPods starts a watch on the node's pods and returns once it is
// synced. A failure of the initial list is returned at once as the API
// error it is (the caller retries the drain); a list that neither succeeds
// nor fails is given up after a bounded wait.
func trackPods(ctx context.Context, d *Drainer, node string, deadline time.Time) (*podTracker, error) {
	t := &podTracker{waiting: map[types.UID]chan struct{}{}}
	onNode := fields.OneTermEqualSelector("spec.nodeName", node).String()
	inf := cache.NewSharedIndexInformer(kube.ListWatch(d.client, d.client.CoreV1().Pods(metav1.NamespaceAll), func(o *metav1.ListOptions) {
		o.FieldSelector = onNode
	}), &corev1.Pod{}, 0, cache.Indexers{})
	if err := inf.SetTransform(kube.StripManagedFields); err != nil {
		return nil, err
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if p, ok := obj.(*corev1.Pod); ok {
			t.release(p.UID)
		}
	}}); err != nil {
		return nil, err
	}
	listErr := make(chan error, 1)
	if err := inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		t.watchFailed.Store(d.clock.Now().UnixNano())
		select {
		case listErr <- err:
		default:
		}
	}); err != nil {
		return nil, err
	}
	t.store = inf.GetStore()
	go inf.RunWithContext(ctx)
	if err := waitSynced(ctx, d.clock, inf.HasSynced, listErr, max(callTimeout(d.clock.Now(), deadline), 5*time.Second)); err != nil {
		return nil, fmt.Errorf("watching pods on node %s: %w", node, err)
	}
	go t.resync(ctx, d, node)
	return t, nil
}

// resync covers for a watch that failed (an API server restart): while the
// reflector backs off, pods that are gone would only be noticed when it
// lists again, up to a minute later, eating into the deadline. So after a
// watch failure, and while pods are awaited, the node's pods are listed
// every resyncEvery and every awaited pod missing from the list is
// released. A healthy watch costs no request.
func (t *podTracker) resync(ctx context.Context, d *Drainer, node string) {
	tick := d.clock.NewTicker(resyncEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
		}
		failed := t.watchFailed.Load()
		if failed == 0 || d.clock.Since(time.Unix(0, failed)) > resyncFor || t.remaining() == 0 {
			continue
		}
		pods, err := d.podsOnNode(ctx, node, time.Time{})
		if err != nil {
			continue // the API is still away; the next tick asks again
		}
		t.releaseAbsent(pods)
	}
}

// suspect starts the resync as a watch failure does: a call of the drain
// got no answer from the API server at now, so the watch may have broken
// too (client-go's reflector retries a refused connection without calling
// the watch error handler).
func (t *podTracker) suspect(now time.Time) { t.watchFailed.Store(now.UnixNano()) }

// releaseAbsent releases every awaited pod that is not among pods (an
// authoritative list of the node's pods).
func (t *podTracker) releaseAbsent(pods []corev1.Pod) {
	present := make(map[types.UID]bool, len(pods))
	for i := range pods {
		present[pods[i].UID] = true
	}
	t.mu.Lock()
	var absent []types.UID
	for uid := range t.waiting {
		if !present[uid] {
			absent = append(absent, uid)
		}
	}
	t.mu.Unlock()
	for _, uid := range absent {
		t.release(uid)
	}
}

// waitSynced waits until synced reports true, the informer reports an error
// (returned), timeout passes or ctx ends.
func waitSynced(ctx context.Context, clk clock.WithTickerAndDelayedExecution, synced func() bool, errs <-chan error, timeout time.Duration) error {
	done := make(chan struct{})
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		if cache.WaitForCacheSync(stop, synced) {
			close(done)
		}
	}()
	t := clk.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case err := <-errs:
		if synced() {
			return nil
		}
		return err
	case <-t.C():
		return fmt.Errorf("no complete list within %s", timeout)
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// pods returns the pods on the node as the watch sees them now.
func (t *podTracker) pods() []corev1.Pod {
	objs := t.store.List()
	out := make([]corev1.Pod, 0, len(objs))
	for _, o := range objs {
		out = append(out, *o.(*corev1.Pod))
	}
	return out
}

// track registers pods (taken from the watch's store) to wait for; those
// deleted since are released at once.
func (t *podTracker) track(pods []corev1.Pod) {
	t.mu.Lock()
	for i := range pods {
		if _, ok := t.waiting[pods[i].UID]; !ok {
			t.waiting[pods[i].UID] = make(chan struct{})
		}
	}
	t.mu.Unlock()
	present := map[types.UID]bool{}
	for _, obj := range t.store.List() {
		present[obj.(*corev1.Pod).UID] = true
	}
	for i := range pods {
		if !present[pods[i].UID] {
			t.release(pods[i].UID)
		}
	}
}

func (t *podTracker) release(uid types.UID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ch, ok := t.waiting[uid]; ok {
		close(ch)
		delete(t.waiting, uid)
	}
}

// gone returns a channel closed when the pod with uid no longer exists.
func (t *podTracker) gone(uid types.UID) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ch, ok := t.waiting[uid]; ok {
		return ch
	}
	closed := make(chan struct{})
	close(closed)
	return closed
}

func (t *podTracker) remaining() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.waiting)
}

// pdbSyncWait bounds how long the first blocked eviction waits for the PDB
// informer before relying on the retry timer alone.
const pdbSyncWait = 5 * time.Second

// pdbWatch is one Drainer's PodDisruptionBudget informer, shared by all its
// drains. It starts on the first eviction a budget refuses, in the
// background, and stops when no drain uses it any more. Every budget change
// that may allow a disruption fires its namespace's signal, so blocked
// evictions retry the moment a budget allows it instead of sleeping a fixed
// interval. If budgets cannot be listed (RBAC, API down), blocked evictions
// retry on their timer and the deadline fallback is unaffected.
type pdbWatch struct {
	client kube.Interface
	clock  clock.WithTickerAndDelayedExecution
	log    *slog.Logger

	mu      sync.Mutex
	users   int
	stop    context.CancelFunc
	inf     cache.SharedIndexInformer
	ready   chan struct{} // closed once synced or once pdbSyncWait passed
	signals map[string]*signal
	warned  bool
}

func newPDBWatch(client kube.Interface, clk clock.WithTickerAndDelayedExecution, log *slog.Logger) *pdbWatch {
	return &pdbWatch{client: client, clock: clk, log: log, signals: map[string]*signal{}}
}

// acquire registers a drain that may use the watch; release ends its use.
func (w *pdbWatch) acquire() {
	w.mu.Lock()
	w.users++
	w.mu.Unlock()
}

func (w *pdbWatch) release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.users--; w.users > 0 || w.stop == nil {
		return
	}
	w.stop()
	w.stop, w.inf, w.ready, w.warned = nil, nil, nil, false
	w.signals = map[string]*signal{}
}

// changed returns a channel closed at the next budget change in ns that may
// allow a disruption.
func (w *pdbWatch) changed(ns string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.signalLocked(ns).wait()
}

func (w *pdbWatch) signalLocked(ns string) *signal {
	s, ok := w.signals[ns]
	if !ok {
		s = newSignal()
		w.signals[ns] = s
	}
	return s
}

func (w *pdbWatch) fire(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if b, ok := obj.(*policyv1.PodDisruptionBudget); ok {
		w.mu.Lock()
		s := w.signalLocked(b.Namespace)
		w.mu.Unlock()
		s.fire()
	}
}

// mayAllow reports a budget update after which a refused eviction may
// succeed: it allows disruptions now and did not before, or its spec or
// observed generation moved.
func mayAllow(old, cur *policyv1.PodDisruptionBudget) bool {
	if cur.Status.DisruptionsAllowed <= 0 {
		return false
	}
	return old.Status.DisruptionsAllowed <= 0 || old.Generation != cur.Generation || old.Status.ObservedGeneration != cur.Status.ObservedGeneration
}

// start starts the informer if it is not running and returns a channel
// closed once it has synced or pdbSyncWait has passed. It never blocks.
func (w *pdbWatch) start() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ready != nil {
		return w.ready
	}
	ctx, cancel := context.WithCancel(context.Background())
	inf := cache.NewSharedIndexInformer(kube.ListWatch(w.client, w.client.PolicyV1().PodDisruptionBudgets(metav1.NamespaceAll), nil),
		&policyv1.PodDisruptionBudget{}, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	_ = inf.SetTransform(kube.StripManagedFields)
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    w.fire,
		DeleteFunc: w.fire,
		UpdateFunc: func(o, n any) {
			ob, ok1 := o.(*policyv1.PodDisruptionBudget)
			nb, ok2 := n.(*policyv1.PodDisruptionBudget)
			if ok1 && ok2 && mayAllow(ob, nb) {
				w.fire(nb)
			}
		},
	})
	_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		w.mu.Lock()
		first := !w.warned
		w.warned = true
		w.mu.Unlock()
		if first {
			w.log.Warn("cannot watch PodDisruptionBudgets; blocked evictions retry on a timer", logging.KeyError, err)
		}
	})
	go inf.RunWithContext(ctx)
	ready := make(chan struct{})
	go func() {
		defer close(ready)
		_ = waitSynced(ctx, w.clock, inf.HasSynced, nil, pdbSyncWait)
	}()
	w.stop, w.inf, w.ready = cancel, inf, ready
	return ready
}

// blocking names the budgets that select the pod ("ns/name, ns/other"), or
// "" when the informer has not synced.
func (w *pdbWatch) blocking(p *corev1.Pod) string {
	w.mu.Lock()
	inf := w.inf
	w.mu.Unlock()
	if inf == nil || !inf.HasSynced() {
		return ""
	}
	var names []string
	_ = cache.ListAllByNamespace(inf.GetIndexer(), p.Namespace, labels.Everything(), func(obj any) {
		b, ok := obj.(*policyv1.PodDisruptionBudget)
		if !ok {
			return
		}
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(p.Labels)) {
			return
		}
		names = append(names, b.Namespace+"/"+b.Name)
	})
	slices.Sort(names)
	return strings.Join(names, ", ")
}
