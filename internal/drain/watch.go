package drain

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
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
	left    int
	store   cache.Store
}

// trackPods starts a watch on the node's pods and returns once it is synced.
func trackPods(ctx context.Context, d *Drainer, node string) (*podTracker, error) {
	t := &podTracker{waiting: map[types.UID]chan struct{}{}}
	f := informers.NewSharedInformerFactoryWithOptions(d.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", node).String()
	}))
	inf := f.Core().V1().Pods().Informer()
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
	t.store = inf.GetStore()
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil, fmt.Errorf("watching pods on node %s: %w", node, context.Cause(ctx))
	}
	return t, nil
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

// track registers pods to wait for; those already gone are released at once.
func (t *podTracker) track(pods []corev1.Pod) {
	t.mu.Lock()
	for i := range pods {
		t.waiting[pods[i].UID] = make(chan struct{})
	}
	t.left = len(t.waiting)
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
		t.left--
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
	return t.left
}

// pdbWatch watches PodDisruptionBudgets (started on the first 429) and fires
// a signal on every change, so blocked evictions retry the moment a budget
// allows another disruption instead of sleeping a fixed interval.
type pdbWatch struct {
	once    sync.Once
	changed *signal
	lister  func(ns string) ([]*policyv1.PodDisruptionBudget, error)
	err     error
}

func newPDBWatch() *pdbWatch { return &pdbWatch{changed: newSignal()} }

func (w *pdbWatch) start(ctx context.Context, d *Drainer) error {
	w.once.Do(func() {
		f := informers.NewSharedInformerFactory(d.client, 0)
		pi := f.Policy().V1().PodDisruptionBudgets()
		inf := pi.Informer()
		fire := func(any) { w.changed.fire() }
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: fire, DeleteFunc: fire, UpdateFunc: func(_, n any) { fire(n) },
		}); err != nil {
			w.err = err
			return
		}
		f.Start(ctx.Done())
		if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			w.err = fmt.Errorf("watching PodDisruptionBudgets: %w", context.Cause(ctx))
			return
		}
		lister := pi.Lister()
		w.lister = func(ns string) ([]*policyv1.PodDisruptionBudget, error) {
			return lister.PodDisruptionBudgets(ns).List(labels.Everything())
		}
	})
	return w.err
}

// blocking names the budgets that select the pod ("ns/name, ns/other").
func (w *pdbWatch) blocking(p *corev1.Pod) string {
	if w.lister == nil {
		return ""
	}
	pdbs, err := w.lister(p.Namespace)
	if err != nil {
		return ""
	}
	name := ""
	for _, b := range pdbs {
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		if name != "" {
			name += ", "
		}
		name += b.Namespace + "/" + b.Name
	}
	return name
}
