//go:build linux

package e2e

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/agent"
	"github.com/lifeboat-dev/lifeboat/internal/awsfake"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	emuaws "github.com/lifeboat-dev/lifeboat/internal/emulate/aws"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	awsnotice "github.com/lifeboat-dev/lifeboat/internal/notice/aws"
	"github.com/lifeboat-dev/lifeboat/internal/queue"
	"github.com/lifeboat-dev/lifeboat/internal/queue/message"
	"github.com/lifeboat-dev/lifeboat/internal/queue/nodeindex"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

// evictions counts, per mode, the drains started and the pods evicted or
// deleted.
type evictions struct {
	mu      sync.Mutex
	by      map[string]map[string]bool
	started map[string]int
}

func (e *evictions) observer(mode string) drain.Observer {
	return drain.ObserverFunc(func(ev drain.Step) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if ev.Type == drain.StepDrainStarted {
			e.started[mode]++
		}
		if ev.Type != drain.StepPodEvicted && ev.Type != drain.StepPodDeleted {
			return
		}
		if e.by[mode] == nil {
			e.by[mode] = map[string]bool{}
		}
		e.by[mode][ev.Pod] = true
	})
}

func (e *evictions) counts() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int{}
	for mode, pods := range e.by {
		out[mode] = len(pods)
	}
	return out
}

// TestAgentAndQueueActOnce runs `lifeboat agent` on a node and `lifeboat
// queue` for the cluster, and interrupts the node's spot instance: the agent
// reads the notice from instance metadata, queue mode from the EventBridge
// message. Both derive one notice ID (notice.EventID, times a little apart
// are the same event), the first to mark the node claims the event, and the
// other waits for its result: the pods are evicted by one mode only, the
// Node is deleted, the message is deleted, and the event is recorded once.
func TestAgentAndQueueActOnce(t *testing.T) {
	c := testbed.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	ns := c.Namespace(t)
	const instance = "i-0e2e00000000000a1"
	node := testbed.UniqueName("both")
	c.AddNode(t, node, func(n *corev1.Node) {
		n.Spec.ProviderID = nodeindex.ProviderID("us-east-1a", instance)
		n.Status.NodeInfo.BootID = "boot-1"
	})
	var pods []string
	for range 4 {
		p := testbed.Pod(ns, testbed.UniqueName("web"), node, func(p *corev1.Pod) { p.Labels["app"] = "web" })
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pods = append(pods, p.Name)
	}
	c.Eventually(t, time.Minute, func() (bool, error) {
		for _, name := range pods {
			p, err := c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil || !testbed.PodReady(p) {
				return false, err
			}
		}
		return true, nil
	})
	// A budget that allows no eviction for now keeps both modes' drains
	// alive long enough to overlap, were both to start one.
	if _, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, testbed.PDB(ns, "web", "web", 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ev := &evictions{by: map[string]map[string]bool{}, started: map[string]int{}}

	// The agent, as `lifeboat agent --platform aws` runs it.
	emu := emuaws.New(emuaws.Options{InstanceID: instance, Log: logging.Discard()})
	imds := httptest.NewServer(emu)
	t.Cleanup(imds.Close)
	src, err := awsnotice.New(awsnotice.Config{Endpoint: imds.URL, NodeName: node, Log: logging.Discard(), EventsInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	a := agent.New(agent.Config{
		Client: c.API, Node: node, Sources: []notice.Source{src}, DeleteNode: true, Log: logging.Discard(),
		Drainer: drain.New(c.API, drain.Config{Log: logging.Discard(), Observer: ev.observer("agent")}),
		Drain:   drain.Options{Force: true, DeleteEmptyDirData: true, GracePeriodSeconds: -1},
	})
	actx, stopAgent := context.WithCancel(ctx)
	agentDone := make(chan struct{})
	ready := make(chan struct{})
	go func() { defer close(agentDone); _ = a.Run(actx, func() { close(ready) }) }()
	t.Cleanup(func() { stopAgent(); <-agentDone })
	<-ready

	// Queue mode, as `lifeboat queue` runs it.
	fake := awsfake.New(nil)
	api := httptest.NewServer(fake)
	t.Cleanup(api.Close)
	fake.SetBaseURL(api.URL)
	url, err := fake.SQS.CreateQueue(testbed.UniqueName("q"), nil)
	if err != nil {
		t.Fatal(err)
	}
	awsCfg := aws.Config{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(api.URL), RetryMaxAttempts: 1,
	}
	ix, err := nodeindex.New(c.Client, 0)
	if err != nil {
		t.Fatal(err)
	}
	qctx, stopQueue := context.WithCancel(ctx)
	t.Cleanup(func() { stopQueue(); ix.Shutdown() })
	if err := ix.Start(qctx); err != nil {
		t.Fatal(err)
	}
	pol := queue.DefaultPolicy()
	pol.DeleteNode = true
	cfg := queue.DefaultConfig()
	cfg.QueueURL, cfg.VisibilityTimeout, cfg.WaitTime = url, 3*time.Second, time.Second
	stats := &queue.Stats{}
	consumer := &queue.Consumer{
		SQS: sqs.NewFromConfig(awsCfg), Config: cfg, Clock: clock.RealClock{}, Log: logging.Discard(), Stats: stats,
		Processor: &queue.Processor{
			Client: c.API, Nodes: ix, AutoScaling: autoscaling.NewFromConfig(awsCfg),
			Drainer: drain.New(c.API, drain.Config{Log: logging.Discard(), Observer: ev.observer("queue")}),
			Policy:  pol, Clock: clock.RealClock{}, Log: logging.Discard(), Stats: stats,
		},
	}
	queueDone := make(chan struct{})
	go func() { defer close(queueDone); _ = consumer.Run(qctx) }()
	t.Cleanup(func() { stopQueue(); <-queueDone })

	// One interruption, seen by both: IMDS answers at once, and EventBridge
	// delivers the warning (its time a second off the metadata's, as the two
	// need not agree).
	sp, err := emu.ScheduleSpot(0, emuaws.SpotTerminate, 0)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := fake.SQS.Send(url, string(message.SpotInterruption("evb-1", instance, sp.NoticeTime.Add(time.Second))))
	if err != nil {
		t.Fatal(err)
	}

	// Both have seen the interruption (the agent polls every 500 ms, the
	// queue long-polls); then the budget lets the drain through.
	testbed.Eventually(t, 30*time.Second, func() (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		return err == nil && n.Spec.Unschedulable, err
	})
	time.Sleep(5 * time.Second)
	if err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Eventually(t, 2*time.Minute, func() (bool, error) {
		_, err := c.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	testbed.Eventually(t, time.Minute, func() (bool, error) {
		st, _ := fake.SQS.State(msg)
		return st.Deleted, nil
	})
	got := ev.counts()
	if len(got) != 1 || (got["agent"] != len(pods) && got["queue"] != len(pods)) {
		t.Fatalf("pods evicted per mode = %v; want all %d by exactly one mode", got, len(pods))
	}
	ev.mu.Lock()
	started := ev.started
	ev.mu.Unlock()
	if len(started) != 1 {
		t.Fatalf("drains started per mode = %v; want drains by exactly one mode", started)
	}
	for mode := range got {
		t.Logf("the %s acted; the other waited for its result", mode)
	}
	if s := stats.Snapshot(); s.Drained+s.AlreadyHandled+s.NotFound != 1 {
		t.Errorf("queue outcomes %+v: want the one message finished once", s)
	}
}
