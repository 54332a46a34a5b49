//go:build linux

package agent_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/agent"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	emuaws "github.com/lifeboat-dev/lifeboat/internal/emulate/aws"
	"github.com/lifeboat-dev/lifeboat/internal/handled"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	awsnotice "github.com/lifeboat-dev/lifeboat/internal/notice/aws"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

// fixture is one agent on one kwok node with an AWS metadata emulator.
type fixture struct {
	t      *testing.T
	c      *testbed.Cluster
	ctx    context.Context
	ns     string
	node   string
	emu    *emuaws.Server
	url    string
	errors *errCounter
	cancel context.CancelFunc
	done   chan struct{}
	ready  <-chan struct{}
	agent  *agent.Agent
	// lead and ttl, when set, are the agent's MaintenanceLead and AtRiskTTL.
	lead, ttl time.Duration
}

type errCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (e *errCounter) inc(reason string) { e.mu.Lock(); e.n[reason]++; e.mu.Unlock() }
func (e *errCounter) total() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := 0
	for _, v := range e.n {
		s += v
	}
	return s
}

func newFixture(t *testing.T, mutate ...func(*corev1.Node)) *fixture {
	c := testbed.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	f := &fixture{t: t, c: c, ctx: ctx, ns: c.Namespace(t), node: testbed.UniqueName("agent"), errors: &errCounter{n: map[string]int{}}}
	c.AddNode(t, f.node, append([]func(*corev1.Node){func(n *corev1.Node) {
		n.Spec.ProviderID = "aws:///us-east-1a/i-0123456789abcdef0"
		n.Status.NodeInfo.BootID = "boot-1"
	}}, mutate...)...)
	f.emu = emuaws.New(emuaws.Options{Log: logging.Discard()}) // IMDSv2 only, as many clusters are
	srv := httptest.NewServer(f.emu)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// start runs an agent like `lifeboat agent --platform aws` would, and waits
// until it is ready.
func (f *fixture) start() {
	f.t.Helper()
	f.startNoWait()
	<-f.ready
}

// startNoWait runs an agent like start, without waiting for it to be ready.
func (f *fixture) startNoWait() {
	f.t.Helper()
	src, err := awsnotice.New(awsnotice.Config{
		Endpoint: f.url, NodeName: f.node, Log: logging.Discard(), OnError: f.errors.inc,
		EventsInterval: 500 * time.Millisecond,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.run(src)
}

// startWith runs an agent with the given notice source and waits until it
// is ready.
func (f *fixture) startWith(src notice.Source) {
	f.t.Helper()
	f.run(src)
	<-f.ready
}

// run runs an agent with the given notice source; f.ready is closed once it
// is ready.
func (f *fixture) run(src notice.Source) {
	f.t.Helper()
	d := drain.New(f.c.API, drain.Config{Log: logging.Discard()})
	f.agent = agent.New(agent.Config{
		Client: f.c.API, Node: f.node, Drainer: d, Sources: []notice.Source{src},
		Drain:      drain.Options{Force: true, DeleteEmptyDirData: true, GracePeriodSeconds: -1, ExcludeFromLoadBalancers: true},
		DeleteNode: true, Log: logging.Discard(), MaintenanceLead: f.lead, AtRiskTTL: f.ttl,
	})
	ctx, cancel := context.WithCancel(f.ctx)
	f.cancel, f.done = cancel, make(chan struct{})
	ready := make(chan struct{})
	f.ready = ready
	go func() {
		defer close(f.done)
		_ = f.agent.Run(ctx, func() { close(ready) })
	}()
}

// stop ends the agent as a restart would.
func (f *fixture) stop() {
	f.cancel()
	<-f.done
}

func (f *fixture) workload(replicas int32) {
	f.t.Helper()
	d := testbed.Deployment(f.ns, "web", f.node, replicas, func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": f.node}
	})
	if _, err := f.c.Client.AppsV1().Deployments(f.ns).Create(f.ctx, d, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	f.c.Eventually(f.t, 60*time.Second, func() (bool, error) {
		n, err := f.c.ReadyPods(f.ctx, f.ns, "app=web")
		return n == int(replicas), err
	})
}

func (f *fixture) getNode() (*corev1.Node, error) {
	return f.c.Client.CoreV1().Nodes().Get(f.ctx, f.node, metav1.GetOptions{})
}

func (f *fixture) waitNode(timeout time.Duration, cond func(*corev1.Node) bool) {
	f.t.Helper()
	f.c.Eventually(f.t, timeout, func() (bool, error) {
		n, err := f.getNode()
		if err != nil {
			return false, err
		}
		return cond(n), nil
	})
}

func TestSpotInterruptionDrainsAndDeletesBeforeDeadline(t *testing.T) {
	f := newFixture(t)
	f.workload(3)
	f.start()
	defer f.stop()
	spot, err := f.emu.ScheduleSpot(0, "terminate", 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	f.c.Eventually(t, 30*time.Second, func() (bool, error) {
		_, err := f.getNode()
		return apierrors.IsNotFound(err), nil
	})
	if time.Now().After(spot.Time) {
		t.Errorf("node deleted after the interruption time %s", spot.Time)
	}
	pods, err := f.c.Client.CoreV1().Pods(f.ns).List(f.ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + f.node})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			t.Errorf("pod %s on the interrupted node was not evicted", p.Name)
		}
	}
}

func TestRebalanceOnlyTaints(t *testing.T) {
	f := newFixture(t)
	f.start()
	defer f.stop()
	if _, err := f.emu.ScheduleRebalance(0); err != nil {
		t.Fatal(err)
	}
	f.waitNode(30*time.Second, func(n *corev1.Node) bool {
		for _, tt := range n.Spec.Taints {
			if tt.Key == "lifeboat.dev/at-risk" && tt.Effect == corev1.TaintEffectPreferNoSchedule {
				return true
			}
		}
		return false
	})
	time.Sleep(time.Second) // give a wrong cordon the chance to show
	n, _ := f.getNode()
	if n.Spec.Unschedulable {
		t.Error("a rebalance recommendation cordoned the node; the default is a PreferNoSchedule taint only")
	}
}

func TestScheduledRebootDrainsKeepsNodeAndUncordonsAfterReboot(t *testing.T) {
	f := newFixture(t)
	f.workload(2)
	f.start()
	ev, err := f.emu.ScheduleMaintenance(emuaws.MaintenanceRequest{Code: emuaws.CodeSystemReboot, In: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f.c.Eventually(t, 60*time.Second, func() (bool, error) {
		n, err := f.c.ReadyPods(f.ctx, f.ns, "app=web")
		return n == 0, err
	})
	f.waitNode(30*time.Second, func(n *corev1.Node) bool {
		return n.Spec.Unschedulable && strings.Contains(n.Annotations[handled.Annotation], ev.EventID)
	})
	f.stop()

	// The machine reboots: a new boot ID, and the agent starts again.
	n, err := f.getNode()
	if err != nil {
		t.Fatalf("node deleted for a reboot: %v", err)
	}
	n.Status.NodeInfo.BootID = "boot-2"
	if _, err := f.c.Client.CoreV1().Nodes().UpdateStatus(f.ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.start()
	defer f.stop()
	f.waitNode(30*time.Second, func(n *corev1.Node) bool { return !n.Spec.Unschedulable && n.Annotations[drain.AnnotationCordon] == "" })
}

func TestCanceledMaintenanceUncordons(t *testing.T) {
	f := newFixture(t)
	f.start()
	defer f.stop()
	ev, err := f.emu.ScheduleMaintenance(emuaws.MaintenanceRequest{Code: emuaws.CodeSystemMaintenance, In: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f.waitNode(30*time.Second, func(n *corev1.Node) bool {
		return n.Spec.Unschedulable && strings.Contains(n.Annotations[handled.Annotation], ev.EventID)
	})
	if _, err := f.emu.CancelMaintenance(ev.EventID); err != nil {
		t.Fatal(err)
	}
	f.waitNode(30*time.Second, func(n *corev1.Node) bool { return !n.Spec.Unschedulable && n.Annotations[drain.AnnotationCordon] == "" })
}

func TestAdminCordonSurvivesRestartsAndCancellations(t *testing.T) {
	f := newFixture(t, func(n *corev1.Node) { n.Spec.Unschedulable = true })
	f.start()
	ev, err := f.emu.ScheduleMaintenance(emuaws.MaintenanceRequest{Code: emuaws.CodeSystemReboot, In: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f.waitNode(30*time.Second, func(n *corev1.Node) bool { return n.Annotations[drain.AnnotationCordon] != "" })
	if _, err := f.emu.CancelMaintenance(ev.EventID); err != nil {
		t.Fatal(err)
	}
	f.waitNode(30*time.Second, func(n *corev1.Node) bool { return n.Annotations[drain.AnnotationCordon] == "" })
	f.stop()
	f.start()
	defer f.stop()
	n, _ := f.getNode()
	if !n.Spec.Unschedulable {
		t.Error("an admin's cordon was undone")
	}
}

func TestMalformedMetadataIsSurvived(t *testing.T) {
	f := newFixture(t)
	if err := f.emu.SetFault("/latest/meta-data/spot/instance-action", emuaws.FaultGarbage); err != nil {
		t.Fatal(err)
	}
	f.startNoWait()
	defer f.stop()
	f.c.Eventually(t, 30*time.Second, func() (bool, error) { return f.errors.total() >= 3, nil })
	if f.agent.Ready() {
		t.Error("ready while spot/instance-action cannot be read: the node is not protected")
	}
	if err := f.emu.SetFault("/latest/meta-data/spot/instance-action", emuaws.FaultNone); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.ready:
	case <-time.After(30 * time.Second):
		t.Fatal("not ready after the metadata became readable")
	}
	if _, err := f.emu.ScheduleSpot(0, "terminate", time.Minute); err != nil {
		t.Fatal(err)
	}
	f.c.Eventually(t, 30*time.Second, func() (bool, error) {
		_, err := f.getNode()
		return apierrors.IsNotFound(err), nil
	})
	if !strings.Contains(strings.Join(keys(f.errors), ","), "malformed") {
		t.Errorf("errors counted = %v, want malformed", f.errors.n)
	}
}

func keys(e *errCounter) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ks []string
	for k := range e.n {
		ks = append(ks, k)
	}
	return ks
}
