//go:build linux

package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/awsfake"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/handled"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/queue/message"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// cordoned reports whether lifeboat's mark and cordon are on the node.
func cordoned(e *env, name string) func() (bool, error) {
	return func() (bool, error) {
		n, err := e.c.Client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		_, marked, _ := drain.ReadMark(n)
		return n.Spec.Unschedulable && marked, nil
	}
}

func released(e *env, name string) func() (bool, error) {
	return func() (bool, error) {
		n, err := e.c.Client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		_, marked, _ := drain.ReadMark(n)
		return !n.Spec.Unschedulable && !marked && !hasTaint(n, TaintGoingAway), nil
	}
}

// TestQueueUndoesItsOwnCordon (Q3): queue mode uncordons what it cordoned
// when the reason is over — a closed AWS Health event, and a node back
// (Ready, new boot ID) after an EC2 stop — and never an administrator's
// cordon.
func TestQueueUndoesItsOwnCordon(t *testing.T) {
	e := newEnv(t, nil)
	ns := e.c.Namespace(t)
	r := e.replica(t, nil, func(c *Consumer) { c.Processor.Policy.MaintenanceLead = 0 })
	r.start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go r.consumer.Processor.TendMarks(ctx, r.index)
	now := time.Now()

	t.Run("health event closed", func(t *testing.T) {
		node, id := e.node(t)
		e.pod(t, ns, node.Name)
		open := message.HealthScheduledChange("h-"+id, "AWS_EC2_SYSTEM_REBOOT_MAINTENANCE_SCHEDULED", now.Add(time.Hour), id)
		e.waitDeleted(t, e.send(t, open), 60*time.Second)
		e.c.Eventually(t, 10*time.Second, cordoned(e, node.Name))
		closed := bytes.Replace(open, []byte(`"statusCode":"upcoming"`), []byte(`"statusCode":"closed"`), 1)
		if bytes.Equal(closed, open) {
			t.Fatal("builder body has no upcoming statusCode")
		}
		e.waitDeleted(t, e.send(t, closed), 60*time.Second)
		e.c.Eventually(t, 10*time.Second, released(e, node.Name))
	})

	t.Run("node back after an EC2 stop", func(t *testing.T) {
		node, id := e.node(t, func(n *corev1.Node) { n.Status.NodeInfo.BootID = "boot-before-stop" })
		e.pod(t, ns, node.Name)
		e.waitDeleted(t, e.send(t, message.StateChange("s-"+id, id, "stopping", time.Now())), 60*time.Second)
		e.c.Eventually(t, 10*time.Second, cordoned(e, node.Name))
		if _, err := e.c.Client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{}); err != nil {
			t.Fatalf("a stop deleted the Node: %v", err)
		}
		// Nothing changes while the boot ID is the same (the node has not
		// rebooted yet).
		time.Sleep(time.Second)
		if ok, _ := cordoned(e, node.Name)(); !ok {
			t.Fatal("cordon undone before the node came back")
		}
		setBootID(t, e, node.Name, "boot-after-start")
		e.c.Eventually(t, 30*time.Second, released(e, node.Name))
	})

	t.Run("an administrator's cordon stays", func(t *testing.T) {
		node, id := e.node(t, func(n *corev1.Node) { n.Spec.Unschedulable = true })
		open := message.HealthScheduledChange("a-"+id, "AWS_EC2_SYSTEM_REBOOT_MAINTENANCE_SCHEDULED", now.Add(time.Hour), id)
		e.waitDeleted(t, e.send(t, open), 60*time.Second)
		closed := bytes.Replace(open, []byte(`"statusCode":"upcoming"`), []byte(`"statusCode":"closed"`), 1)
		e.waitDeleted(t, e.send(t, closed), 60*time.Second)
		e.c.Eventually(t, 10*time.Second, func() (bool, error) {
			n := e.getNode(t, node.Name)
			_, marked, _ := drain.ReadMark(n)
			return !marked, nil
		})
		if n := e.getNode(t, node.Name); !n.Spec.Unschedulable {
			t.Error("releasing the notice uncordoned a node an administrator had cordoned")
		}
	})
}

// setBootID gives the node a new boot ID, as the kubelet does after a
// restart, and keeps it Ready.
func setBootID(t *testing.T, e *env, name, boot string) {
	t.Helper()
	testbed.Eventually(t, 10*time.Second, func() (bool, error) {
		n, err := e.c.Client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		n.Status.NodeInfo.BootID = boot
		_, err = e.c.Client.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{})
		return err == nil, nil
	})
}

// TestNodeNotFoundYetIsLookedForAgain (Q4): a spot interruption for an
// instance whose Node the informer does not have yet is retried, not
// dropped, and drains the node once it appears.
func TestNodeNotFoundYetIsLookedForAgain(t *testing.T) {
	e := newEnv(t, nil)
	ns := e.c.Namespace(t)
	r := e.replica(t, nil)
	r.start(t)
	id := newInstanceID()
	msg := e.send(t, message.SpotInterruption("late-"+id, id, time.Now()))
	time.Sleep(2 * time.Second)
	if st, _ := e.fake.SQS.State(msg); st.Deleted {
		t.Fatal("the message was deleted although the notice's node may still appear")
	}
	node := e.c.AddNode(t, testbed.UniqueName("qn"), func(n *corev1.Node) { n.Spec.ProviderID = "aws:///us-east-1a/" + id })
	p := e.pod(t, ns, node.Name)
	e.waitDeleted(t, msg, 60*time.Second)
	e.c.Eventually(t, 30*time.Second, podGone(e, ns, p.Name))
	if got := r.stats.Snapshot(); got.NotFound != 0 || got.Drained != 1 {
		t.Errorf("stats %+v: want one drain and no node-not-found", got)
	}
}

// failingComplete fails the first CompleteLifecycleAction (as a timeout
// would), then passes through.
type failingComplete struct {
	AutoScalingAPI
	failed atomic.Bool
}

func (f *failingComplete) CompleteLifecycleAction(ctx context.Context, in *autoscaling.CompleteLifecycleActionInput, opts ...func(*autoscaling.Options)) (*autoscaling.CompleteLifecycleActionOutput, error) {
	if f.failed.CompareAndSwap(false, true) {
		return nil, errors.New("injected: connection reset")
	}
	return f.AutoScalingAPI.CompleteLifecycleAction(ctx, in, opts...)
}

// TestRedeliveredHookKeepsTheDrainsResult (Q6): a drain that failed with
// --on-drain-failure=abandon, whose hook completion failed once, is
// completed with ABANDON on redelivery, not CONTINUE.
func TestRedeliveredHookKeepsTheDrainsResult(t *testing.T) {
	e := newEnv(t, nil)
	ns := e.c.Namespace(t)
	r := e.replica(t, nil, func(c *Consumer) {
		c.Processor.Policy.OnDrainFailure = ResultAbandon
		c.Processor.Policy.HookDrainTimeout = 3 * time.Second
		c.Processor.Policy.Drain.OnDeadline = drain.OnDeadlineAbort
		c.Processor.AutoScaling = &failingComplete{AutoScalingAPI: c.Processor.AutoScaling}
	})
	r.start(t)
	node, id := e.node(t)
	e.pod(t, ns, node.Name, func(p *corev1.Pod) { p.Labels = map[string]string{"app": "stuck"} })
	if _, err := e.c.Client.PolicyV1().PodDisruptionBudgets(ns).Create(context.Background(), testbed.PDB(ns, "stuck", "stuck", 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	h := message.Hook{Name: "lifeboat", Group: "workers", InstanceID: id, Transition: message.TransitionTerminating}
	h.Token = e.fake.AutoScaling.Start(awsfake.LifecycleAction{Group: h.Group, Hook: h.Name, InstanceID: id})
	e.waitDeleted(t, e.send(t, message.LifecycleAction("abandon-"+id, h, time.Now())), 90*time.Second)
	act, _ := e.fake.AutoScaling.Action(h.Token)
	if act.Result != ResultAbandon || act.TimedOut {
		t.Fatalf("lifecycle action = %+v, want ABANDON from the redelivery", act)
	}
	if n := e.getNode(t, node.Name); !handled.Is(n, "asg-termination/"+id) {
		t.Errorf("notice not recorded: %q", n.Annotations[handled.Annotation])
	}
}

// TestReturned is the pure rule: only queue and Lambda mode's own entries
// written under another boot ID, on a Ready node.
func TestReturned(t *testing.T) {
	mark := func(entries ...drain.MarkNotice) string {
		b, err := json.Marshal(drain.Mark{Notices: entries, Unschedulable: true})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	node := func(boot string, ready corev1.ConditionStatus, m string) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Annotations: map[string]string{drain.AnnotationCordon: m}}}
		n.Status.NodeInfo.BootID = boot
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}
		return n
	}
	queueEntry := drain.MarkNotice{ID: "termination/i-1/2026-12-01T10:00:00Z", By: "queue", BootID: "b1", Cordon: true}
	lambdaEntry := drain.MarkNotice{ID: "spot-interruption/i-1/2026-12-01T10:02:00Z", By: ActorLambda, BootID: "b1", Cordon: true}
	agentEntry := drain.MarkNotice{ID: "maint-1", By: "agent", BootID: "b1", Cordon: true}
	manual := drain.MarkNotice{ID: drain.ManualNoticeID, BootID: "b1", Cordon: true}
	for _, c := range []struct {
		name string
		n    *corev1.Node
		want []string
	}{
		{"same boot", node("b1", corev1.ConditionTrue, mark(queueEntry)), nil},
		{"new boot, not Ready yet", node("b2", corev1.ConditionFalse, mark(queueEntry)), nil},
		{"new boot, Ready", node("b2", corev1.ConditionTrue, mark(queueEntry, lambdaEntry, agentEntry, manual)), []string{queueEntry.ID, lambdaEntry.ID}},
		{"no mark", node("b2", corev1.ConditionTrue, ""), nil},
	} {
		var got []string
		for _, e := range Returned(c.n) {
			got = append(got, e.ID)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: Returned = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestQueueMaintenanceLead: a Health reboot further off than
// --maintenance-lead only taints the node at risk (MaintenancePlanned), and
// queue mode drains it once the lead is reached; a rebalance taint expires
// after --at-risk-ttl.
func TestQueueMaintenanceLead(t *testing.T) {
	e := newEnv(t, nil)
	ns := e.c.Namespace(t)
	r := e.replica(t, nil, func(c *Consumer) {
		c.Processor.Policy.MaintenanceLead = time.Hour - 4*time.Second
		c.Processor.Policy.AtRiskTTL = 3 * time.Second
	})
	r.start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go r.consumer.Processor.TendMarks(ctx, r.index)

	node, id := e.node(t)
	p := e.pod(t, ns, node.Name)
	e.waitDeleted(t, e.send(t, message.HealthScheduledChange("m-"+id, "AWS_EC2_SYSTEM_REBOOT_MAINTENANCE_SCHEDULED", time.Now().Add(time.Hour), id)), 60*time.Second)
	n := e.getNode(t, node.Name)
	if n.Spec.Unschedulable || !hasTaint(n, TaintRebalance) {
		t.Fatalf("before the lead: unschedulable=%v taints=%v, want the at-risk taint only", n.Spec.Unschedulable, n.Spec.Taints)
	}
	planned := false
	for _, c := range n.Status.Conditions {
		planned = planned || (c.Type == drain.ConditionMaintenancePlanned && c.Status == corev1.ConditionTrue)
	}
	if !planned {
		t.Errorf("no MaintenancePlanned condition: %+v", n.Status.Conditions)
	}
	e.c.Eventually(t, 60*time.Second, podGone(e, ns, p.Name))
	e.c.Eventually(t, 10*time.Second, cordoned(e, node.Name))

	other, oid := e.node(t)
	e.waitDeleted(t, e.send(t, message.Rebalance("r-"+oid, oid, time.Now())), 60*time.Second)
	e.c.Eventually(t, 30*time.Second, func() (bool, error) {
		n := e.getNode(t, other.Name)
		_, marked, _ := drain.ReadMark(n)
		return !hasTaint(n, TaintRebalance) && !marked, nil
	})
}

// TestQueueDryRun: observe mode reports what it would do and changes
// nothing: no cordon, no eviction, no record on the Node, the lifecycle
// hook neither heartbeated nor completed; the message is consumed.
func TestQueueDryRun(t *testing.T) {
	e := newEnv(t, nil)
	ns := e.c.Namespace(t)
	var steps []drain.Step
	var mu sync.Mutex
	obs := drain.ObserverFunc(func(ev drain.Step) { mu.Lock(); steps = append(steps, ev); mu.Unlock() })
	r := e.replica(t, nil, func(c *Consumer) {
		c.Processor.DryRun = true
		c.Processor.Drainer = drain.DryRun{Drainer: drain.New(e.c.API, drain.Config{Log: testLog(t), Observer: obs})}
	})
	r.start(t)
	node, id := e.node(t)
	p := e.pod(t, ns, node.Name)
	h := message.Hook{Name: "lifeboat", Group: "workers", InstanceID: id, Transition: message.TransitionTerminating}
	h.Token = e.fake.AutoScaling.Start(awsfake.LifecycleAction{Group: h.Group, Hook: h.Name, InstanceID: id})
	e.waitDeleted(t, e.send(t, message.LifecycleAction("dry-"+id, h, time.Now())), 60*time.Second)
	mu.Lock()
	var would []string
	for _, s := range steps {
		if s.Type == drain.StepWouldDrain || s.Type == drain.StepWouldMark {
			would = append(would, s.Message)
		}
		if s.Type == drain.StepPodEvicted || s.Type == drain.StepCordoned {
			t.Errorf("dry run step %s", s.Type)
		}
	}
	mu.Unlock()
	if len(would) < 2 {
		t.Fatalf("reported %v, want the cordon and the drain it would make", would)
	}
	t.Logf("reported: %v", would)
	n := e.getNode(t, node.Name)
	if n.Spec.Unschedulable || n.Annotations[drain.AnnotationCordon] != "" || len(handled.IDs(n)) != 0 {
		t.Errorf("dry run changed the node: unschedulable=%v annotations=%v", n.Spec.Unschedulable, n.Annotations)
	}
	if _, err := e.c.Client.CoreV1().Pods(ns).Get(context.Background(), p.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("dry run removed the pod: %v", err)
	}
	if act, _ := e.fake.AutoScaling.Action(h.Token); !act.Active() || act.Heartbeats != 0 {
		t.Errorf("lifecycle action %+v: a dry run must neither heartbeat nor complete it", act)
	}
}

// TestOutOfServiceTaint (KEP-2268): when EC2 says the instance is stopped and
// its Node is kept, queue mode taints the node out of service once it is
// NotReady, so its pods and volumes fail over, and removes the taint when the
// node is back. The node is not kwok-managed: the test drives its Ready
// condition as a kubelet would.
func TestOutOfServiceTaint(t *testing.T) {
	e := newEnv(t, nil)
	r := e.replica(t, nil)
	r.start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go r.consumer.Processor.TendMarks(ctx, r.index)

	id := newInstanceID()
	name := testbed.UniqueName("oos")
	if _, err := e.c.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NodeSpec{ProviderID: "aws:///us-east-1a/" + id},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.c.Client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	setReady := func(status corev1.ConditionStatus, boot string) {
		t.Helper()
		testbed.Eventually(t, 10*time.Second, func() (bool, error) {
			n, err := e.c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			n.Status.NodeInfo.BootID = boot
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status, Reason: "Test", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
			_, err = e.c.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
			return err == nil, nil
		})
	}
	outOfService := func() (bool, error) {
		n, err := e.c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		return err == nil && hasTaint(n, TaintOutOfService.Key), err
	}
	setReady(corev1.ConditionTrue, "boot-1")
	e.c.Eventually(t, 10*time.Second, func() (bool, error) { _, ok := r.index.ByInstanceID(id); return ok, nil })

	e.waitDeleted(t, e.send(t, message.StateChange("stop-"+id, id, "stopped", time.Now())), 60*time.Second)
	if ok, _ := outOfService(); ok {
		t.Fatal("tainted out of service while the node was still Ready")
	}
	setReady(corev1.ConditionFalse, "boot-1")
	e.c.Eventually(t, 30*time.Second, outOfService)
	if m, _, _ := drain.ReadMark(e.getNode(t, name)); m == nil || len(m.Taints) == 0 {
		t.Fatalf("the out-of-service taint is not recorded as lifeboat's: %+v", m)
	}
	setReady(corev1.ConditionTrue, "boot-2")
	e.c.Eventually(t, 30*time.Second, func() (bool, error) {
		ok, err := outOfService()
		return !ok && err == nil, err
	})
	e.c.Eventually(t, 30*time.Second, released(e, name))
}

// TestNodeConditionNotice: a node-condition notice (--on-condition in queue
// mode) names its Node rather than an EC2 instance; the processor finds it
// by name, drains it per the rule's action, and a withdrawn condition
// releases the cordon.
func TestNodeConditionNotice(t *testing.T) {
	e := newEnv(t, nil)
	ns := e.c.Namespace(t)
	r := e.replica(t, nil)
	node, _ := e.node(t)
	p := e.pod(t, ns, node.Name)
	ctx := context.Background()
	n := notice.Notice{
		ID: "node-condition/" + node.Name + "/VMEventScheduled/True/x", Source: "node-condition", Kind: notice.KindNodeCondition,
		Node: node.Name, InstanceID: "azure:///subscriptions/s/vm-1", Detected: time.Now(), Deadline: time.Now().Add(time.Minute),
		Attributes: map[string]string{"action": "drain"},
	}
	o, err := r.consumer.Processor.Process(ctx, message.Event{Notice: n}, 1)
	if err != nil || o != OutcomeDrained {
		t.Fatalf("Process = %s, %v; want drained", o, err)
	}
	e.c.Eventually(t, 30*time.Second, podGone(e, ns, p.Name))
	e.c.Eventually(t, 10*time.Second, cordoned(e, node.Name))
	n.Canceled = true
	if o, err := r.consumer.Processor.Process(ctx, message.Event{Notice: n}, 1); err != nil || o != OutcomeReleased {
		t.Fatalf("withdrawn: %s, %v; want released", o, err)
	}
	e.c.Eventually(t, 10*time.Second, released(e, node.Name))
}

// TestDetachFromASG: with --detach-from-asg, queue mode detaches a
// spot-interrupted instance from its Auto Scaling group (the desired
// capacity kept, so a replacement launches) while it drains the node.
func TestDetachFromASG(t *testing.T) {
	e := newEnv(t, nil)
	ns := e.c.Namespace(t)
	r := e.replica(t, nil, func(c *Consumer) { c.Processor.Detacher = autoscaling.NewFromConfig(e.aws) })
	r.start(t)
	node, id := e.node(t)
	p := e.pod(t, ns, node.Name)
	e.fake.AutoScaling.AddGroup(awsfake.Group{Name: "spot-nodes", Desired: 2, Instances: []string{id, "i-other"}})
	e.waitDeleted(t, e.send(t, message.SpotInterruption("spot-"+id, id, time.Now())), 60*time.Second)
	e.c.Eventually(t, 30*time.Second, podGone(e, ns, p.Name))
	testbed.Eventually(t, 30*time.Second, func() (bool, error) {
		g, _ := e.fake.AutoScaling.Group("spot-nodes")
		return len(g.Detached) == 1 && g.Detached[0] == id && g.Desired == 2 && g.Replacements == 1, nil
	})
}
