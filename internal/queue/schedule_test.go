//go:build linux

package queue

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/lifeboat-dev/lifeboat/internal/awsfake"
	"github.com/lifeboat-dev/lifeboat/internal/decide"
	"github.com/lifeboat-dev/lifeboat/internal/handled"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/queue/message"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// blockEvictions puts a pod on node behind a PodDisruptionBudget that never
// allows an eviction, so a drain without a deadline never ends. The pod
// stops within a second once deleted.
func (e *env) blockEvictions(t testing.TB, ns, node string) *corev1.Pod {
	t.Helper()
	grace := int64(1)
	p := e.pod(t, ns, node, func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = &grace })
	pdb := testbed.PDB(ns, p.Name, p.Labels["app"], 0)
	one := intstr.FromInt32(1)
	pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable = nil, &one // bare pods: minAvailable is computable
	if _, err := e.c.Client.PolicyV1().PodDisruptionBudgets(ns).Create(context.Background(), pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.c.Eventually(t, 30*time.Second, func() (bool, error) {
		got, err := e.c.Client.PolicyV1().PodDisruptionBudgets(ns).Get(context.Background(), pdb.Name, metav1.GetOptions{})
		return err == nil && got.Status.ExpectedPods == 1 && got.Status.DisruptionsAllowed == 0, nil
	})
	return p
}

// TestInterruptionSupersedesEndlessRebalanceDrain is review Q1's scenario:
// with --on-rebalance=drain, a rebalance recommendation starts a drain that
// a PodDisruptionBudget blocks (until --voluntary-drain-timeout, 30 minutes,
// where it would give up); the spot interruption that follows
// for the same instance cancels it, drains the node (deleting the blocked
// pod at its fallback point) and finishes before the interruption's
// deadline. The superseded rebalance drain is not lost: it runs again after
// the interruption, finds the node empty and its message is deleted too.
func TestInterruptionSupersedesEndlessRebalanceDrain(t *testing.T) {
	e := newEnv(t, nil)
	ns := e.c.Namespace(t)
	node, id := e.node(t)
	p := e.blockEvictions(t, ns, node.Name)
	r := e.replica(t, nil, func(c *Consumer) {
		c.Processor.Policy.Actions[notice.KindRebalance] = decide.ActionDrain // --on-rebalance=drain
		c.Processor.Policy.Drain.SafetyMargin = 5 * time.Second
	})
	r.start(t)

	rebalanceBody := message.Rebalance("rebalance-"+id, id, time.Now())
	rebalance := e.send(t, rebalanceBody)
	testbed.Eventually(t, 30*time.Second, func() (bool, error) {
		return r.drainer.count(node.Name) == 1 && r.stats.Snapshot().Running == 1, nil
	})
	// The warning was issued 98 s ago (a late or redelivered warning): 21 s
	// are left, more than the 15 s every drain is given at least, so the
	// drain works to the warning's own deadline even if it starts a few
	// seconds late; its fallback deletes the blocked pod 7 s before it.
	issued := time.Now().Add(-98 * time.Second).Truncate(time.Second)
	deadline := issued.Add(message.SpotWarningLead)
	spotBody := message.SpotInterruption("spot-"+id, id, issued)
	spot := e.send(t, spotBody)
	e.waitDeleted(t, spot, time.Until(deadline)+10*time.Second)
	if finished := time.Now(); !finished.Before(deadline) {
		t.Errorf("the interruption's drain finished %s after its deadline", finished.Sub(deadline))
	}
	if _, err := e.c.Client.CoreV1().Pods(ns).Get(context.Background(), p.Name, metav1.GetOptions{}); err == nil {
		t.Error("the PDB-blocked pod is still there after the interruption's drain")
	}
	e.waitDeleted(t, rebalance, 30*time.Second)

	got := e.getNode(t, node.Name)
	s := r.stats.Snapshot()
	switch {
	case !handled.Is(got, noticeID(t, spotBody)) || !handled.Is(got, noticeID(t, rebalanceBody)):
		t.Errorf("handled notices = %q, want both", got.Annotations[handled.Annotation])
	case s.Superseded != 1 || s.Drained != 2:
		t.Errorf("stats = %+v, want 1 superseded and 2 drained", s)
	case r.drainer.count(node.Name) != 3:
		t.Errorf("%d drains, want 3 (rebalance, interruption, rebalance again)", r.drainer.count(node.Name))
	case r.drainer.maxPer != 1:
		t.Errorf("%d drains of the node ran at once, want 1", r.drainer.maxPer)
	}
	if v := testutil.ToFloat64(r.metrics.QueueMessages.WithLabelValues("superseded")); v != 1 {
		t.Errorf(`lifeboat_queue_messages_total{result="superseded"} = %v, want 1`, v)
	}
}

// TestWorkersGoEarliestDeadlineFirst runs one worker. A launch wait for an
// instance that has not joined holds no worker, so a drain of node A (an
// AWS Health retirement an hour away, blocked by a PDB) starts at once.
// While it runs, a retirement two hours away for node C, a rebalance drain
// for node B and then a spot interruption for B queue up; the interruption
// supersedes B's rebalance drain while that waits for the worker. When A's
// drain ends, B's interruption gets the worker before C although C came
// first, and B's rebalance drain, without a deadline, runs last.
func TestWorkersGoEarliestDeadlineFirst(t *testing.T) {
	e := newEnv(t, nil)
	ns := e.c.Namespace(t)
	a, aID := e.node(t)
	b, bID := e.node(t)
	c, cID := e.node(t)
	pod := e.blockEvictions(t, ns, a.Name)
	r := e.replica(t, nil, func(c *Consumer) {
		c.Config.Workers = 1
		c.Processor.Policy.Actions[notice.KindRebalance] = decide.ActionDrain
		// Its own bound puts B's rebalance drain after C's retirement.
		c.Processor.Policy.VoluntaryDrainTimeout = 3 * time.Hour
	})
	r.start(t)
	now := time.Now()

	launchID := newInstanceID()
	h := message.Hook{Name: "lifeboat", Group: "workers", InstanceID: launchID, Transition: message.TransitionLaunching}
	h.Token = e.fake.AutoScaling.Start(awsfake.LifecycleAction{Group: h.Group, Hook: h.Name, InstanceID: launchID, Transition: h.Transition})
	launch := e.send(t, message.LifecycleAction("launch-"+launchID, h, now))
	testbed.Eventually(t, 30*time.Second, func() (bool, error) { return r.stats.Snapshot().LaunchWaits == 1, nil })

	e.send(t, message.HealthScheduledChange("retire-a-"+aID, "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED", now.Add(time.Hour), aID))
	testbed.Eventually(t, 30*time.Second, func() (bool, error) {
		return r.drainer.count(a.Name) == 1 && r.stats.Snapshot().Running == 1, nil
	})
	msgC := e.send(t, message.HealthScheduledChange("retire-c-"+cID, "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED", now.Add(2*time.Hour), cID))
	testbed.Eventually(t, 30*time.Second, func() (bool, error) { return r.stats.Snapshot().Waiting == 1, nil })
	rebalanceB := e.send(t, message.Rebalance("rebalance-b-"+bID, bID, now))
	testbed.Eventually(t, 30*time.Second, func() (bool, error) { return r.stats.Snapshot().Waiting == 2, nil })
	msgB := e.send(t, message.SpotInterruption("spot-b-"+bID, bID, now))
	testbed.Eventually(t, 30*time.Second, func() (bool, error) {
		s := r.stats.Snapshot()
		return s.Superseded == 1 && s.Waiting == 3, nil
	})
	if v := tasksGauge(t, r, TasksWaiting); v != 3 {
		t.Errorf(`lifeboat_queue_tasks{state="waiting"} = %v, want 3`, v)
	}

	// Both queued nodes were cordoned at once, before any worker was free.
	for _, n := range []string{b.Name, c.Name} {
		if !e.getNode(t, n).Spec.Unschedulable {
			t.Errorf("node %s not cordoned while its drain waits for a worker", n)
		}
	}
	if err := e.c.Client.PolicyV1().PodDisruptionBudgets(ns).Delete(context.Background(), pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitDeleted(t, msgB, 60*time.Second)
	e.waitDeleted(t, msgC, 60*time.Second)
	e.waitDeleted(t, rebalanceB, 60*time.Second)
	if got, want := r.drainer.started(), []string{a.Name, b.Name, c.Name, b.Name}; !slices.Equal(got, want) {
		t.Errorf("drains started in the order %v, want %v (A, B's interruption, the far retirement C, B's rebalance)", got, want)
	}
	if act, _ := e.fake.AutoScaling.Action(h.Token); !act.Active() {
		t.Errorf("launch hook = %+v, want still waiting for its node", act)
	}

	e.c.AddNode(t, testbed.UniqueName("qn"), func(n *corev1.Node) { n.Spec.ProviderID = "aws:///us-east-1a/" + launchID })
	e.waitDeleted(t, launch, 30*time.Second)
	s := r.stats.Snapshot()
	if s.Drained != 4 || s.Launched != 1 || s.Waiting != 0 || s.Running != 0 || s.LaunchWaits != 0 {
		t.Errorf("stats = %+v, want 4 drained, 1 launched, nothing waiting or running", s)
	}
}

// tasksGauge reads lifeboat_queue_tasks{state} from the replica's registry.
func tasksGauge(t testing.TB, r *replica, state string) float64 {
	t.Helper()
	families, err := r.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "lifeboat_queue_tasks" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "state" && l.GetValue() == state {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("lifeboat_queue_tasks{state=%q} not exported", state)
	return 0
}

// noticeID is the ID lifeboat gives the (first) notice of a message body.
func noticeID(t testing.TB, body []byte) string {
	t.Helper()
	parsed, err := message.Parse(body, time.Now())
	if err != nil || len(parsed.Events) == 0 {
		t.Fatalf("parsing %s: %v", body, err)
	}
	return parsed.Events[0].Notice.ID
}
