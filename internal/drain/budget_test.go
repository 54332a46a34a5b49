//go:build linux

package drain_test

import (
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/budget"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// window is when a drain of one node evicted: its first eviction to its end.
type window struct{ from, to time.Time }

type windows struct {
	mu sync.Mutex
	by map[string]*window
}

func (w *windows) Observe(e drain.Step) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch e.Type {
	case drain.StepPodEvicted, drain.StepPodDeleted:
		if w.by[e.Node] == nil {
			w.by[e.Node] = &window{from: e.Time}
		}
	case drain.StepDrained, drain.StepDrainFailed:
		if w.by[e.Node] != nil {
			w.by[e.Node].to = e.Time
		}
	}
}

// TestDrainBudget: three voluntary drains under --max-concurrent-drains 1
// never evict from two nodes at once; each waits (WaitingForDrainBudget)
// for the one before.
func TestDrainBudget(t *testing.T) {
	e := newEnv(t)
	b, err := budget.New(budget.Config{Client: e.c.API, Namespace: e.ns, Max: 1, Holder: "test", LeaseDuration: 10 * time.Second, Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for range 3 {
		node := e.node()
		nodes = append(nodes, node)
		e.pod(testbed.Pod(e.ns, testbed.UniqueName("web"), node, func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr(int64(2)) }))
	}
	e.c.Eventually(t, 60*time.Second, func() (bool, error) {
		for _, n := range nodes {
			for _, p := range e.podsOn(n) {
				if !testbed.PodReady(&p) {
					return false, nil
				}
			}
		}
		return true, nil
	})
	w := &windows{by: map[string]*window{}}
	rec := &recorder{}
	d := e.drainer(drain.Observers{w, rec})
	var wg sync.WaitGroup
	for _, node := range nodes {
		wg.Go(func() {
			res, err := d.Drain(e.ctx, node, drain.Options{Force: true, GracePeriodSeconds: -1, Budget: b, Voluntary: true, NoticeKind: "scheduled-reboot"})
			if err != nil {
				t.Errorf("drain %s: %+v, %v", node, res, err)
			}
		})
	}
	wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.by) != 3 {
		t.Fatalf("evictions seen on %d nodes, want 3", len(w.by))
	}
	for i, a := range nodes {
		for _, c := range nodes[i+1:] {
			x, y := w.by[a], w.by[c]
			if x.from.Before(y.to) && y.from.Before(x.to) {
				t.Errorf("drains of %s (%s–%s) and %s (%s–%s) evicted at the same time", a, x.from.Format(time.StampMilli), x.to.Format(time.StampMilli), c, y.from.Format(time.StampMilli), y.to.Format(time.StampMilli))
			}
		}
		t.Logf("%s evicted %s – %s", a, w.by[a].from.Format(time.StampMilli), w.by[a].to.Format(time.StampMilli))
	}
	if n := len(rec.of(drain.StepWaitingForBudget)); n < 2 {
		t.Errorf("%d WaitingForDrainBudget events, want at least 2 (two drains waited)", n)
	}
	if l, err := e.c.Client.CoordinationV1().Leases(e.ns).List(e.ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 0 {
		t.Errorf("leases left after the drains: %v, %v", l, err)
	}
}

// TestDrainBudgetOutlivesNoDeadHolder: a slot whose holder died (its Lease
// no longer renewed) frees itself after the Lease's duration; an
// involuntary drain never waits for it.
func TestDrainBudgetOutlivesNoDeadHolder(t *testing.T) {
	e := newEnv(t)
	b, err := budget.New(budget.Config{Client: e.c.API, Namespace: e.ns, Max: 1, Holder: "test", LeaseDuration: 3 * time.Second, Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	dead := e.node()
	// The Lease a holder left when it died mid-drain: the slot is taken.
	slot, err := b.Acquire(e.ctx, e.getNode(dead), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	slot.Abandon()
	abandoned := time.Now()

	spot := e.node()
	start := time.Now()
	if _, err := e.drainer(nil).Drain(e.ctx, spot, drain.Options{Force: true, Budget: b, Voluntary: false}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the involuntary drain took %s: it waited for the budget", took)
	}

	maint := e.node()
	rec := &recorder{}
	if _, err := e.drainer(rec).Drain(e.ctx, maint, drain.Options{Force: true, Budget: b, Voluntary: true}); err != nil {
		t.Fatal(err)
	}
	if since := time.Since(abandoned); since < 3*time.Second || since > 20*time.Second {
		t.Errorf("the voluntary drain ended %s after the holder died; want it to wait for the lease to expire (3s)", since)
	}
	if len(rec.of(drain.StepWaitingForBudget)) == 0 {
		t.Error("no WaitingForDrainBudget event")
	}
	var leases coordinationv1.LeaseList
	if l, err := e.c.Client.CoordinationV1().Leases(e.ns).List(e.ctx, metav1.ListOptions{}); err == nil {
		leases = *l
	}
	if len(leases.Items) != 0 {
		t.Errorf("leases left: %d", len(leases.Items))
	}
}
