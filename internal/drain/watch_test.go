package drain

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/lifeboat-dev/lifeboat/internal/kube/clientset"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

func TestMayAllow(t *testing.T) {
	budget := func(gen, observed int64, allowed int32) *policyv1.PodDisruptionBudget {
		b := &policyv1.PodDisruptionBudget{}
		b.Generation, b.Status.ObservedGeneration, b.Status.DisruptionsAllowed = gen, observed, allowed
		return b
	}
	cases := []struct {
		name     string
		old, cur *policyv1.PodDisruptionBudget
		want     bool
	}{
		{"opens", budget(1, 1, 0), budget(1, 1, 1), true},
		{"still closed", budget(1, 1, 0), budget(1, 1, 0), false},
		{"closes", budget(1, 1, 1), budget(1, 1, 0), false},
		{"status churn while open", budget(1, 1, 2), budget(1, 1, 1), false},
		{"caught up with a new spec", budget(2, 1, 1), budget(2, 2, 1), true},
		{"spec changed", budget(1, 1, 1), budget(2, 1, 1), true},
	}
	for _, tc := range cases {
		if got := mayAllow(tc.old, tc.cur); got != tc.want {
			t.Errorf("%s: mayAllow = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestPDBWatchSyncWaitIsBounded (E2): when budgets cannot be listed, the
// watch is ready (for timed retries) after pdbSyncWait, not never; it is
// started once for all drains and stopped after the last.
func TestPDBWatchSyncWaitIsBounded(t *testing.T) {
	client := fake.NewClientset()
	lists := make(chan struct{}, 100)
	client.PrependReactor("list", "poddisruptionbudgets", func(k8stesting.Action) (bool, runtime.Object, error) {
		lists <- struct{}{}
		return true, nil, apierrors.NewForbidden(policyv1.Resource("poddisruptionbudgets"), "", errors.New("rbac"))
	})
	clk := clocktesting.NewFakeClock(t0)
	w := newPDBWatch(clientset.Wrap(client), clk, logging.Discard())
	w.acquire()
	w.acquire()
	ready := w.start()
	if again := w.start(); again != ready {
		t.Error("a second start made a second informer")
	}
	select {
	case <-lists:
	case <-time.After(30 * time.Second):
		t.Fatal("the informer never listed budgets")
	}
	select {
	case <-ready:
		t.Fatal("ready before the sync wait passed, with nothing synced")
	default:
	}
	deadline := time.Now().Add(30 * time.Second)
	for !clk.HasWaiters() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	clk.Step(pdbSyncWait)
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("not ready after the bounded sync wait")
	}
	p := newPod("p")
	if name := w.blocking(&p); name != "" {
		t.Errorf("budget named %q without a synced informer", name)
	}
	w.release()
	if w.inf == nil {
		t.Error("stopped while a drain still uses it")
	}
	w.release()
	if w.inf != nil || w.ready != nil {
		t.Error("still running after the last drain released it")
	}
}

// TestReleaseAbsent: after a watch failure, an authoritative list releases
// exactly the awaited pods it no longer shows.
func TestReleaseAbsent(t *testing.T) {
	tr := &podTracker{waiting: map[types.UID]chan struct{}{}}
	for _, uid := range []types.UID{"a", "b", "c"} {
		tr.waiting[uid] = make(chan struct{})
	}
	goneA, goneB := tr.gone("a"), tr.gone("b")
	tr.releaseAbsent([]corev1.Pod{{ObjectMeta: metav1.ObjectMeta{UID: "b"}}, {ObjectMeta: metav1.ObjectMeta{UID: "c"}}, {ObjectMeta: metav1.ObjectMeta{UID: "other"}}})
	if !isClosed(goneA) || isClosed(goneB) || tr.remaining() != 2 {
		t.Errorf("after the list: a gone %v (want true), b gone %v (want false), %d awaited (want 2)", isClosed(goneA), isClosed(goneB), tr.remaining())
	}
}
