//go:build linux

package drain_test

import (
	"context"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

// env is one test's slice of the shared cluster: a namespace and a pool of
// nodes whose Deployments stay on them.
type env struct {
	t    *testing.T
	c    *testbed.Cluster
	ns   string
	pool string
	ctx  context.Context
}

func newEnv(t *testing.T) *env {
	c := testbed.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return &env{t: t, c: c, ns: c.Namespace(t), pool: testbed.UniqueName("pool"), ctx: ctx}
}

// node adds a kwok node in the env's pool.
func (e *env) node(mutate ...func(*corev1.Node)) string {
	name := testbed.UniqueName("node")
	mutate = append([]func(*corev1.Node){func(n *corev1.Node) { n.Labels[testbed.LabelPool] = e.pool }}, mutate...)
	e.c.AddNode(e.t, name, mutate...)
	return name
}

// deployment creates a Deployment on the env's pool and waits until its
// replicas are Ready. Create it while the pool has only the node to drain,
// then add spare nodes: replacements go there.
func (e *env) deployment(name string, replicas int32, mutate ...func(*appsv1.Deployment)) {
	e.t.Helper()
	d := testbed.Deployment(e.ns, name, e.pool, replicas, mutate...)
	if _, err := e.c.Client.AppsV1().Deployments(e.ns).Create(e.ctx, d, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.waitReady("app="+name, int(replicas))
}

func (e *env) waitReady(selector string, n int) {
	e.t.Helper()
	e.c.Eventually(e.t, 90*time.Second, func() (bool, error) {
		got, err := e.c.ReadyPods(e.ctx, e.ns, selector)
		return got >= n, err
	})
}

func (e *env) pod(p *corev1.Pod) *corev1.Pod {
	e.t.Helper()
	got, err := e.c.Client.CoreV1().Pods(e.ns).Create(e.ctx, p, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

func (e *env) pdb(name, app string, maxUnavailable int) {
	e.t.Helper()
	if _, err := e.c.Client.PolicyV1().PodDisruptionBudgets(e.ns).Create(e.ctx, testbed.PDB(e.ns, name, app, maxUnavailable), metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	// Wait until the disruption controller has computed the budget.
	e.c.Eventually(e.t, 60*time.Second, func() (bool, error) {
		b, err := e.c.Client.PolicyV1().PodDisruptionBudgets(e.ns).Get(e.ctx, name, metav1.GetOptions{})
		return err == nil && b.Status.ObservedGeneration == b.Generation && b.Status.ExpectedPods > 0, err
	})
}

func (e *env) drainer(obs drain.Observer) *drain.Drainer {
	return drain.New(e.c.API, drain.Config{Log: logging.Discard(), Observer: obs})
}

func (e *env) podsOn(node string) []corev1.Pod {
	e.t.Helper()
	l, err := e.c.Client.CoreV1().Pods(e.ns).List(e.ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		e.t.Fatal(err)
	}
	return l.Items
}

func (e *env) getNode(name string) *corev1.Node {
	e.t.Helper()
	n, err := e.c.Client.CoreV1().Nodes().Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// readyWatcher tracks the minimum number of Ready pods matching a selector
// (overall and per "app" label) seen over a watch, to prove a drain never
// exceeds a PDB.
type readyWatcher struct {
	mu     sync.Mutex
	ready  map[string]bool
	app    map[string]string
	min    int
	minApp map[string]int
	stop   func()
}

func (e *env) watchReady(selector string) *readyWatcher { return e.watchReadyB(e.t, selector) }

func (e *env) watchReadyB(tb testing.TB, selector string) *readyWatcher {
	tb.Helper()
	l, err := e.c.Client.CoreV1().Pods(e.ns).List(e.ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		tb.Fatal(err)
	}
	w := &readyWatcher{ready: map[string]bool{}, app: map[string]string{}, minApp: map[string]int{}}
	for i := range l.Items {
		p := &l.Items[i]
		w.ready[p.Name], w.app[p.Name] = testbed.PodReady(p), p.Labels["app"]
	}
	w.record()
	wi, err := e.c.Client.CoreV1().Pods(e.ns).Watch(e.ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: l.ResourceVersion})
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range wi.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			w.mu.Lock()
			w.ready[p.Name] = ev.Type != watch.Deleted && testbed.PodReady(p)
			w.app[p.Name] = p.Labels["app"]
			w.mu.Unlock()
			w.record()
		}
	}()
	w.stop = func() { wi.Stop(); <-done }
	return w
}

// record folds the current counts into the minima.
func (w *readyWatcher) record() {
	w.mu.Lock()
	defer w.mu.Unlock()
	total, per := 0, map[string]int{}
	for name, r := range w.ready {
		if _, seen := per[w.app[name]]; !seen {
			per[w.app[name]] = 0
		}
		if r {
			total++
			per[w.app[name]]++
		}
	}
	if len(w.minApp) == 0 {
		w.min = total
	}
	w.min = min(w.min, total)
	for app, n := range per {
		if m, ok := w.minApp[app]; !ok || n < m {
			w.minApp[app] = n
		}
	}
}

func (w *readyWatcher) minimum() int {
	w.stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.min
}

func (w *readyWatcher) minimumByApp() map[string]int {
	w.stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.minApp
}

// recorder collects drain events.
type recorder struct {
	mu     sync.Mutex
	events []drain.Step
}

func (r *recorder) Observe(e drain.Step) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) of(t drain.StepType) []drain.Step {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []drain.Step
	for _, e := range r.events {
		if e.Type == t {
			out = append(out, e)
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func ptrIntOrString(i int) *intstr.IntOrString {
	v := intstr.FromInt32(int32(i))
	return &v
}

type deletion struct {
	grace             int64
	deletionTimestamp time.Time
}

type deletionWatcher struct {
	mu   sync.Mutex
	seen map[string]deletion
}

func (d *deletionWatcher) get() map[string]deletion {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]deletion, len(d.seen))
	for k, v := range d.seen {
		out[k] = v
	}
	return out
}

// watchDeletions records, for each pod, the grace period and
// deletionTimestamp the API server set when it was deleted gracefully.
func (e *env) watchDeletions(selector string) *deletionWatcher {
	e.t.Helper()
	d := &deletionWatcher{seen: map[string]deletion{}}
	wi, err := e.c.Client.CoreV1().Pods(e.ns).Watch(e.ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(wi.Stop)
	go func() {
		for ev := range wi.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || p.DeletionTimestamp == nil || p.DeletionGracePeriodSeconds == nil {
				continue
			}
			d.mu.Lock()
			if _, done := d.seen[p.Name]; !done {
				d.seen[p.Name] = deletion{grace: *p.DeletionGracePeriodSeconds, deletionTimestamp: p.DeletionTimestamp.Time}
			}
			d.mu.Unlock()
		}
	}()
	return d
}
