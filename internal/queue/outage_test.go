//go:build linux

package queue

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/awsfake"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/handled"
	"github.com/lifeboat-dev/lifeboat/internal/queue/message"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// TestAPIServerOutageMidHookDrain kills kube-apiserver for 20 s in the middle
// of a queue-mode drain for an Auto Scaling terminate lifecycle hook, with
// the pods behind a PDB so the drain lasts. However the outage lands, the
// node ends empty and never schedulable while the notice is in force, the
// hook is completed exactly once, after the node was emptied, and the
// message is deleted only after that.
func TestAPIServerOutageMidHookDrain(t *testing.T) {
	e := newIsolatedEnv(t)
	ctx := context.Background()
	ns := e.c.Namespace(t)
	e.c.DumpOnFailure(t, ns)
	node, id := e.node(t)
	const replicas = 3
	web := testbed.Deployment(ns, "web", node.Name, replicas, func(d *appsv1.Deployment) {
		d.Spec.Template.Annotations = map[string]string{"pod-ready.stage.kwok.x-k8s.io/delay": "2s"}
	})
	if _, err := e.c.Client.AppsV1().Deployments(ns).Create(ctx, web, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, testbed.PDB(ns, "web", "web", 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.c.Eventually(t, 60*time.Second, func() (bool, error) {
		n, err := e.c.ReadyPods(ctx, ns, "app=web")
		return n == replicas, err
	})
	// Replacements go to a second node of the same pool, each Ready 2 s
	// after it is created: the PDB lets one eviction through at a time.
	e.c.AddNode(t, testbed.UniqueName("spare"), func(n *corev1.Node) { n.Labels[testbed.LabelPool] = node.Name })
	e.c.Eventually(t, 60*time.Second, func() (bool, error) {
		pdb, err := e.c.Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && pdb.Status.DisruptionsAllowed == 1, nil
	})

	calls := &awsCalls{c: e.c, node: node.Name}
	r := e.replica(t, newCountingDrainer(drain.New(e.c.API, drain.Config{Log: testLog(t)})), func(c *Consumer) {
		// Production retry limits and a visibility timeout short enough
		// for a redelivery to fit the test.
		c.Processor.Policy.MaxAttempts = DefaultPolicy().MaxAttempts
		c.Config.VisibilityTimeout = 10 * time.Second
		c.SQS = &recordingSQS{SQSAPI: c.SQS, calls: calls}
		c.Processor.AutoScaling = &recordingAutoScaling{AutoScalingAPI: c.Processor.AutoScaling, calls: calls}
	})
	h := message.Hook{Name: "lifeboat", Group: "workers", InstanceID: id, Transition: message.TransitionTerminating}
	h.Token = e.fake.AutoScaling.Start(awsfake.LifecycleAction{
		Group: h.Group, Hook: h.Name, InstanceID: id, Transition: h.Transition, HeartbeatTimeout: 30 * time.Second,
	})
	body := message.LifecycleAction("outage-"+id, h, time.Now())
	parsed, err := message.Parse(body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	noticeID := parsed.Events[0].Notice.ID

	watch := e.c.WatchCordon(t, node.Name)
	msg := e.send(t, body)
	r.start(t)

	// Mid-drain: the first eviction went through, the PDB holds the rest.
	e.c.Eventually(t, 60*time.Second, func() (bool, error) {
		left, err := e.c.PodsOn(ctx, node.Name, false)
		return err == nil && left < replicas, nil
	})
	left, err := e.c.PodsOn(ctx, node.Name, false)
	if err != nil || left == 0 {
		t.Fatalf("the drain ended (%d pods left, err %v) before the outage; the test proves nothing", left, err)
	}
	outage := time.Now()
	e.c.KillAPIServer(t)
	time.Sleep(20 * time.Second) // the outage itself, not a wait for a result
	e.c.StartAPIServer(t)
	restarted := time.Now()
	t.Logf("API server down for %s with %d pods left on the node", time.Since(outage).Round(time.Second), left)

	e.waitDeleted(t, msg, 3*time.Minute)
	t.Logf("message deleted %s after the API server's return", time.Since(restarted).Round(time.Second))
	watch.Stop()

	if n, err := e.c.PodsOn(ctx, node.Name, true); err != nil || n != 0 {
		t.Errorf("%d pods left on the drained node (err %v)", n, err)
	}
	got := e.getNode(t, node.Name)
	if !got.Spec.Unschedulable {
		t.Error("node schedulable after the drain, while its termination notice is in force")
	}
	if !handled.Is(got, noticeID) {
		t.Errorf("notice %s not recorded as handled: %q", noticeID, got.Annotations[handled.Annotation])
	}
	watch.Check(t, restarted)
	act, _ := e.fake.AutoScaling.Action(h.Token)
	if act.Completions != 1 || act.Rejected != 0 || act.Result != ResultContinue || act.TimedOut {
		t.Errorf("lifecycle action = %+v, want completed exactly once with CONTINUE", act)
	}
	calls.check(t)
	st, _ := e.fake.SQS.State(msg)
	t.Logf("drains %d, receives %d, stats %+v", r.drainer.count(node.Name), st.Receives, r.stats.Snapshot())
}

// newIsolatedEnv is newEnv on a cluster of the test's own, which it may break.
func newIsolatedEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOn(t, testbed.StartIsolated(t), nil)
}

// awsCalls records the order of the hook completion and the message
// deletion, and what the node held when the hook was completed.
type awsCalls struct {
	c    *testbed.Cluster
	node string

	mu            sync.Mutex
	order         []string
	completeCalls int
	podsAtDone    int
	podsErr       error
}

func (a *awsCalls) add(what string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.order = append(a.order, what)
}

func (a *awsCalls) check(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.completeCalls != 1 {
		t.Errorf("CompleteLifecycleAction called %d times, want 1 (calls: %v)", a.completeCalls, a.order)
	}
	if fmt.Sprint(a.order) != "[complete delete]" {
		t.Errorf("calls %v, want the hook completed, then the message deleted", a.order)
	}
	if a.podsErr != nil || a.podsAtDone != 0 {
		t.Errorf("the hook was completed with %d pods still on the node (err %v)", a.podsAtDone, a.podsErr)
	}
}

type recordingSQS struct {
	SQSAPI
	calls *awsCalls
}

func (r *recordingSQS) DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	out, err := r.SQSAPI.DeleteMessage(ctx, in, opts...)
	if err == nil {
		r.calls.add("delete")
	}
	return out, err
}

type recordingAutoScaling struct {
	AutoScalingAPI
	calls *awsCalls
}

func (r *recordingAutoScaling) CompleteLifecycleAction(ctx context.Context, in *autoscaling.CompleteLifecycleActionInput, opts ...func(*autoscaling.Options)) (*autoscaling.CompleteLifecycleActionOutput, error) {
	pods, podsErr := r.calls.c.PodsOn(ctx, r.calls.node, true)
	r.calls.mu.Lock()
	r.calls.completeCalls++
	r.calls.podsAtDone, r.calls.podsErr = pods, podsErr
	r.calls.mu.Unlock()
	out, err := r.AutoScalingAPI.CompleteLifecycleAction(ctx, in, opts...)
	if err == nil {
		r.calls.add("complete")
	}
	return out, err
}
