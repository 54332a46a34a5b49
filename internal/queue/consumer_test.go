//go:build linux

package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/handled"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/awsfake"
	"github.com/lifeboat-dev/lifeboat/internal/queue/message"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

func podGone(e *env, ns, name string) func() (bool, error) {
	return func() (bool, error) {
		_, err := e.c.Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		return err != nil, nil
	}
}

func hasTaint(n *corev1.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}

// TestEachEventType sends every supported event for a node with a running
// pod and checks what lifeboat did: drains (node cordoned, pod evicted,
// notice recorded, lifecycle hook completed with CONTINUE), the rebalance
// taint without a cordon, the launch hook completed once the node is Ready,
// and the test notification simply deleted.
func TestEachEventType(t *testing.T) {
	e := newEnv(t, nil)
	ns := e.c.Namespace(t)
	r := e.replica(t, nil)
	r.start(t)
	now := time.Now()
	hook := func(id, transition string) message.Hook {
		h := message.Hook{Name: "lifeboat", Group: "workers", InstanceID: id, Transition: transition}
		h.Token = e.fake.AutoScaling.Start(awsfake.LifecycleAction{Group: h.Group, Hook: h.Name, InstanceID: id, Transition: transition})
		return h
	}
	drains := []struct {
		name string
		body func(id string) ([]byte, *message.Hook)
	}{
		{"spot interruption", func(id string) ([]byte, *message.Hook) { return message.SpotInterruption("spot-"+id, id, now), nil }},
		{"state change", func(id string) ([]byte, *message.Hook) {
			return message.StateChange("state-"+id, id, "stopping", now), nil
		}},
		{"health scheduled change", func(id string) ([]byte, *message.Hook) {
			return message.HealthScheduledChange("health-"+id, "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED", now.Add(time.Hour), id), nil
		}},
		{"asg terminate via eventbridge", func(id string) ([]byte, *message.Hook) {
			h := hook(id, message.TransitionTerminating)
			return message.LifecycleAction("asg-"+id, h, now), &h
		}},
		{"asg terminate direct", func(id string) ([]byte, *message.Hook) {
			h := hook(id, message.TransitionTerminating)
			return message.DirectLifecycle("direct-"+id, h, now), &h
		}},
	}
	for _, tc := range drains {
		t.Run(tc.name, func(t *testing.T) {
			node, id := e.node(t)
			p := e.pod(t, ns, node.Name)
			body, h := tc.body(id)
			msg := e.send(t, body)
			e.waitDeleted(t, msg, 60*time.Second)
			e.c.Eventually(t, 30*time.Second, podGone(e, ns, p.Name))
			got := e.getNode(t, node.Name)
			if !got.Spec.Unschedulable || !hasTaint(got, TaintGoingAway) {
				t.Errorf("node not cordoned and tainted: unschedulable=%v taints=%v", got.Spec.Unschedulable, got.Spec.Taints)
			}
			parsed, _ := message.Parse(body, now)
			if !handled.Is(got, parsed.Events[0].Notice.ID) {
				t.Errorf("notice %s not recorded: %q", parsed.Events[0].Notice.ID, got.Annotations[handled.Annotation])
			}
			if h != nil {
				act, _ := e.fake.AutoScaling.Action(h.Token)
				if act.Result != ResultContinue || act.TimedOut || act.Heartbeats == 0 {
					t.Errorf("lifecycle action = %+v, want CONTINUE after heartbeats", act)
				}
			}
			if n := r.drainer.count(node.Name); n != 1 {
				t.Errorf("%d drains, want 1", n)
			}
		})
	}

	t.Run("rebalance taints only", func(t *testing.T) {
		node, id := e.node(t)
		p := e.pod(t, ns, node.Name)
		e.waitDeleted(t, e.send(t, message.Rebalance("rebalance-"+id, id, now)), 60*time.Second)
		got := e.getNode(t, node.Name)
		if got.Spec.Unschedulable || !hasTaint(got, TaintRebalance) {
			t.Errorf("want only the rebalance taint: unschedulable=%v taints=%v", got.Spec.Unschedulable, got.Spec.Taints)
		}
		if _, err := e.c.Client.CoreV1().Pods(ns).Get(context.Background(), p.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("rebalance evicted the pod: %v", err)
		}
	})

	t.Run("launch completes once ready", func(t *testing.T) {
		id := newInstanceID()
		h := hook(id, message.TransitionLaunching)
		msg := e.send(t, message.LifecycleAction("launch-"+id, h, now))
		// The instance has not joined yet: the hook waits, heartbeated.
		time.Sleep(1500 * time.Millisecond)
		if act, _ := e.fake.AutoScaling.Action(h.Token); !act.Active() || act.Heartbeats == 0 {
			t.Fatalf("launch hook before the node exists = %+v, want waiting with heartbeats", act)
		}
		e.c.AddNode(t, testbed.UniqueName("qn"), func(n *corev1.Node) { n.Spec.ProviderID = "aws:///us-east-1a/" + id })
		e.waitDeleted(t, msg, 60*time.Second)
		if act, _ := e.fake.AutoScaling.Action(h.Token); act.Result != ResultContinue {
			t.Errorf("launch hook = %+v, want CONTINUE", act)
		}
	})

	t.Run("test notification", func(t *testing.T) {
		e.waitDeleted(t, e.send(t, message.TestNotification("workers", now)), 30*time.Second)
	})
	if s := r.stats.Snapshot(); s.Drained != 5 || s.Tainted != 1 || s.Launched != 1 || s.Ignored != 1 {
		t.Errorf("stats = %+v", s)
	}
}

// TestRedeliveredAfterWorkIsRecognised makes the deletion fail after a
// completed drain, as a crash between the two would: the message comes back
// after its visibility timeout, is recognised from the Node's handled list,
// and is deleted without a second drain or a second hook completion.
func TestRedeliveredAfterWorkIsRecognised(t *testing.T) {
	e := newEnv(t, nil)
	ns := e.c.Namespace(t)
	node, id := e.node(t)
	e.pod(t, ns, node.Name)
	r := e.replica(t, nil)
	h := message.Hook{Name: "lifeboat", Group: "workers", InstanceID: id, Transition: message.TransitionTerminating}
	h.Token = e.fake.AutoScaling.Start(awsfake.LifecycleAction{Group: h.Group, Hook: h.Name, InstanceID: id})
	e.fake.SQS.FailNext("DeleteMessage", 1)
	msg := e.send(t, message.LifecycleAction("evt-"+id, h, time.Now()))
	r.start(t)
	e.waitDeleted(t, msg, 60*time.Second)
	st, _ := e.fake.SQS.State(msg)
	act, _ := e.fake.AutoScaling.Action(h.Token)
	s := r.stats.Snapshot()
	switch {
	case st.Receives != 2:
		t.Errorf("message received %d times, want 2", st.Receives)
	case r.drainer.count(node.Name) != 1:
		t.Errorf("%d drains, want 1", r.drainer.count(node.Name))
	case act.Completions != 1 || act.Result != ResultContinue:
		t.Errorf("lifecycle action = %+v, want completed once with CONTINUE", act)
	case s.AlreadyHandled != 1 || s.DeleteErrors != 1:
		t.Errorf("stats = %+v, want 1 already-handled and 1 delete error", s)
	}
}

// TestInterruptedDrainIsRedelivered stops a consumer in the middle of a
// drain: the message is not deleted, becomes visible again, and a new
// consumer finishes the drain.
func TestInterruptedDrainIsRedelivered(t *testing.T) {
	e := newEnv(t, nil)
	ns := e.c.Namespace(t)
	node, id := e.node(t)
	p := e.pod(t, ns, node.Name)
	first := e.replica(t, nil)
	first.drainer.block.Store(true)
	stop := first.start(t)
	msg := e.send(t, message.SpotInterruption("spot-"+id, id, time.Now()))
	testbed.Eventually(t, 30*time.Second, func() (bool, error) { return first.drainer.count(node.Name) == 1, nil })
	stop()
	if st, _ := e.fake.SQS.State(msg); st.Deleted {
		t.Fatal("message deleted although its drain was interrupted")
	}
	second := e.replica(t, nil)
	second.start(t)
	e.waitDeleted(t, msg, 60*time.Second)
	e.c.Eventually(t, 30*time.Second, podGone(e, ns, p.Name))
	if n := second.drainer.count(node.Name); n != 1 {
		t.Errorf("second consumer drained %d times, want 1", n)
	}
}

// TestPoisonMessages checks the poison policies. auto (the default) reads
// the queue's RedrivePolicy at start: without a dead-letter queue it deletes
// unparseable messages at once, with one it leaves them to end there after
// maxReceiveCount deliveries (never retried in a hot loop); while the
// RedrivePolicy cannot be read it keeps them. delete and keep force either.
// Each receipt is logged and counted in lifeboat_queue_messages_total.
func TestPoisonMessages(t *testing.T) {
	for _, tc := range []struct {
		name      string
		policy    PoisonPolicy
		dlq       bool
		failReads int // GetQueueAttributes calls that fail first
		// want: deleted after this many receipts, or moved to the DLQ
		// (after maxReceiveCount = 2) when toDLQ.
		receipts int
		toDLQ    bool
	}{
		{name: "auto without a dead-letter queue deletes", policy: PoisonAuto, receipts: 1},
		{name: "auto with a dead-letter queue keeps", policy: PoisonAuto, dlq: true, receipts: 2, toDLQ: true},
		{name: "auto keeps while the RedrivePolicy cannot be read", policy: PoisonAuto, failReads: 2, receipts: 2},
		{name: "delete forces deletion", policy: PoisonDelete, dlq: true, receipts: 1},
		{name: "keep forces keeping", policy: PoisonKeep, dlq: true, receipts: 2, toDLQ: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			if tc.dlq {
				if _, err := e.fake.SQS.CreateQueue(e.queue+"-dlq", nil); err != nil {
					t.Fatal(err)
				}
				if _, err := e.fake.SQS.CreateQueue(e.queue+"-main", map[string]string{
					"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:` + e.queue + `-dlq","maxReceiveCount":2}`,
				}); err != nil {
					t.Fatal(err)
				}
				e.queueURL = strings.TrimSuffix(e.queueURL, e.queue) + e.queue + "-main"
			}
			e.fake.SQS.FailNext("GetQueueAttributes", tc.failReads)
			r := e.replica(t, nil, func(c *Consumer) { c.Config.Poison = tc.policy })
			r.start(t)
			msg := e.send(t, []byte(`{"detail-type":"EC2 Spot Instance Interruption Warning"}`))
			testbed.Eventually(t, 60*time.Second, func() (bool, error) {
				st, _ := e.fake.SQS.State(msg)
				if tc.toDLQ {
					return st.Queue == e.queue+"-dlq", nil
				}
				return st.Deleted, nil
			})
			s := r.stats.Snapshot()
			if s.Poison != int64(tc.receipts) {
				t.Errorf("poison = %d, want %d", s.Poison, tc.receipts)
			}
			if want := int64(0); tc.toDLQ && s.Deleted != want {
				t.Errorf("deleted = %d, want none", s.Deleted)
			}
			if v := testutil.ToFloat64(r.metrics.QueueMessages.WithLabelValues("poison")); v != float64(tc.receipts) {
				t.Errorf(`lifeboat_queue_messages_total{result="poison"} = %v, want %d`, v, tc.receipts)
			}
		})
	}
}

// TestNodeNotFound completes the hook of an instance that never joined the
// cluster instead of leaving it to time out, and drops a spot warning for an
// unknown instance once --node-wait has passed.
func TestNodeNotFound(t *testing.T) {
	e := newEnv(t, nil)
	r := e.replica(t, nil, func(c *Consumer) { c.Processor.Policy.NodeWait = 2 * time.Second })
	r.start(t)
	id := newInstanceID()
	h := message.Hook{Name: "lifeboat", Group: "workers", InstanceID: id, Transition: message.TransitionTerminating}
	h.Token = e.fake.AutoScaling.Start(awsfake.LifecycleAction{Group: h.Group, Hook: h.Name, InstanceID: id})
	e.waitDeleted(t, e.send(t, message.LifecycleAction("gone-"+id, h, time.Now())), 30*time.Second)
	e.waitDeleted(t, e.send(t, message.SpotInterruption("spot-"+id, id, time.Now())), 30*time.Second)
	if act, _ := e.fake.AutoScaling.Action(h.Token); act.Result != ResultContinue || act.TimedOut {
		t.Errorf("hook = %+v, want completed with CONTINUE", act)
	}
	if s := r.stats.Snapshot(); s.NotFound != 2 || s.Drained != 0 {
		t.Errorf("stats = %+v, want 2 not found", s)
	}
}

// TestHeartbeatsOutlastShortTimeout drains a node whose pod takes longer to
// stop than the hook's heartbeat timeout: heartbeats keep the instance
// waiting and lifeboat, not the timeout, completes the action.
func TestHeartbeatsOutlastShortTimeout(t *testing.T) {
	e := newEnv(t, nil)
	ns := e.c.Namespace(t)
	node, id := e.node(t)
	grace := int64(6)
	e.pod(t, ns, node.Name, func(p *corev1.Pod) {
		p.Annotations = map[string]string{"lifeboat.dev/test-shutdown": "full-grace"}
		p.Spec.TerminationGracePeriodSeconds = &grace
	})
	r := e.replica(t, nil)
	h := message.Hook{Name: "lifeboat", Group: "workers", InstanceID: id, Transition: message.TransitionTerminating}
	h.Token = e.fake.AutoScaling.Start(awsfake.LifecycleAction{Group: h.Group, Hook: h.Name, InstanceID: id, HeartbeatTimeout: 2 * time.Second})
	start := time.Now()
	msg := e.send(t, message.LifecycleAction("slow-"+id, h, start))
	r.start(t)
	e.waitDeleted(t, msg, 60*time.Second)
	act, _ := e.fake.AutoScaling.Action(h.Token)
	if act.TimedOut || act.Result != ResultContinue {
		t.Fatalf("action = %+v, want completed by lifeboat with CONTINUE", act)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Fatalf("drain took %s, shorter than the heartbeat timeout: the test proves nothing", took)
	}
	if act.Heartbeats < 3 {
		t.Errorf("%d heartbeats, want several", act.Heartbeats)
	}
}

// TestDuplicatesFold sends one event twice (EventBridge and SQS both deliver
// at least once): one drain, both messages deleted.
func TestDuplicatesFold(t *testing.T) {
	e := newEnv(t, nil)
	ns := e.c.Namespace(t)
	node, id := e.node(t)
	e.pod(t, ns, node.Name)
	r := e.replica(t, nil)
	body := message.SpotInterruption("dup-"+id, id, time.Now())
	a, b := e.send(t, body), e.send(t, body)
	r.start(t)
	e.waitDeleted(t, a, 60*time.Second)
	e.waitDeleted(t, b, 60*time.Second)
	if n := r.drainer.count(node.Name); n != 1 {
		t.Errorf("%d drains, want 1", n)
	}
	if s := r.stats.Snapshot(); s.Folded+s.AlreadyHandled != 1 {
		t.Errorf("stats = %+v, want the duplicate folded or recognised", s)
	}
}

// TestPrivateDNSFallbackAndManagedTag finds a node without a providerID by
// its EC2 private DNS name, and leaves an instance without the managed tag
// alone (completing its hook so scale-in is not held up).
func TestPrivateDNSFallbackAndManagedTag(t *testing.T) {
	e := newEnv(t, nil)
	ns := e.c.Namespace(t)
	dnsName := testbed.UniqueName("ip-10-0-0") + ".ec2.internal"
	managedID, unmanagedID := newInstanceID(), newInstanceID()
	e.c.AddNode(t, dnsName)
	p := e.pod(t, ns, dnsName)
	other, _ := e.node(t)
	e.fake.EC2.AddInstance(awsfake.Instance{ID: managedID, PrivateDNSName: dnsName, Zone: "us-east-1a", Tags: map[string]string{"lifeboat/managed": "true"}})
	e.fake.EC2.AddInstance(awsfake.Instance{ID: unmanagedID, PrivateDNSName: other.Name, Zone: "us-east-1a"})
	r := e.replica(t, nil, func(c *Consumer) {
		c.Processor.Policy.PrivateDNSFallback = true
		c.Processor.Policy.ManagedTag = "lifeboat/managed=true"
	})
	r.start(t)
	e.waitDeleted(t, e.send(t, message.SpotInterruption("m-"+managedID, managedID, time.Now())), 60*time.Second)
	e.c.Eventually(t, 30*time.Second, podGone(e, ns, p.Name))
	h := message.Hook{Name: "lifeboat", Group: "workers", InstanceID: unmanagedID, Transition: message.TransitionTerminating}
	h.Token = e.fake.AutoScaling.Start(awsfake.LifecycleAction{Group: h.Group, Hook: h.Name, InstanceID: unmanagedID})
	e.waitDeleted(t, e.send(t, message.LifecycleAction("u-"+unmanagedID, h, time.Now())), 60*time.Second)
	if got := e.getNode(t, other.Name); got.Spec.Unschedulable {
		t.Error("unmanaged instance's node was cordoned")
	}
	if act, _ := e.fake.AutoScaling.Action(h.Token); act.Result != ResultContinue {
		t.Errorf("unmanaged hook = %+v, want CONTINUE", act)
	}
	if s := r.stats.Snapshot(); s.Drained != 1 || s.NotManaged != 1 {
		t.Errorf("stats = %+v", s)
	}
}

// TestReceiveRequestsTheVisibilityTimeout: every ReceiveMessage asks for
// --visibility-timeout (a lint fix once turned the field into a comment, and
// messages got the queue's default instead; review Q2).
func TestReceiveRequestsTheVisibilityTimeout(t *testing.T) {
	e := newEnv(t, map[string]string{"VisibilityTimeout": "300"})
	r := e.replica(t, nil, func(c *Consumer) { c.Config.VisibilityTimeout = 7 * time.Second })
	r.start(t)
	testbed.Eventually(t, 30*time.Second, func() (bool, error) { return len(e.fake.SQS.ReceiveVisibility()) > 0, nil })
	for i, v := range e.fake.SQS.ReceiveVisibility() {
		if v != 7 {
			t.Fatalf("receive %d asked for VisibilityTimeout %d, want 7 (--visibility-timeout)", i, v)
		}
	}
}
