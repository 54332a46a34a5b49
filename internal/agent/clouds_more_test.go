//go:build linux

package agent_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/agent"
	"github.com/lifeboat-dev/lifeboat/internal/decide"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/emulate"
	emualibaba "github.com/lifeboat-dev/lifeboat/internal/emulate/alibaba"
	emudo "github.com/lifeboat-dev/lifeboat/internal/emulate/digitalocean"
	emugcp "github.com/lifeboat-dev/lifeboat/internal/emulate/gcp"
	emutencent "github.com/lifeboat-dev/lifeboat/internal/emulate/tencent"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	alibabanotice "github.com/lifeboat-dev/lifeboat/internal/notice/alibaba"
	donotice "github.com/lifeboat-dev/lifeboat/internal/notice/digitalocean"
	gcpnotice "github.com/lifeboat-dev/lifeboat/internal/notice/gcp"
	"github.com/lifeboat-dev/lifeboat/internal/notice/nodecondition"
	tencentnotice "github.com/lifeboat-dev/lifeboat/internal/notice/tencent"
	"github.com/lifeboat-dev/lifeboat/internal/report"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// actionLog is a report.Reporter recording the notices the agent decided on.
type actionLog struct {
	report.Discard
	table decide.Table

	mu      sync.Mutex
	notices []notice.Notice
}

func (l *actionLog) NoticeReceived(n notice.Notice) {
	l.mu.Lock()
	l.notices = append(l.notices, n)
	l.mu.Unlock()
}

// first returns the first notice received that is not a withdrawal, the
// action the table decides for it (decide.Table.For, the agent's own
// decision), and whether there is one.
func (l *actionLog) first() (notice.Notice, decide.Action, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.notices {
		if !n.Canceled {
			return n, l.table.For(n), true
		}
	}
	return notice.Notice{}, "", false
}

// runPolicy runs an agent with src and the action table (no maintenance
// lead), like startWith, recording notices.
func (f *fixture) runPolicy(src notice.Source, table decide.Table) *actionLog {
	f.t.Helper()
	log := &actionLog{table: table}
	f.agent = agent.New(agent.Config{
		Client: f.c.API, Node: f.node, Drainer: drain.New(f.c.API, drain.Config{Log: logging.Discard()}),
		Sources: []notice.Source{src}, Actions: table, Reporter: log,
		Drain:      drain.Options{Force: true, DeleteEmptyDirData: true, GracePeriodSeconds: -1},
		DeleteNode: true, Log: logging.Discard(),
	})
	ctx, cancel := context.WithCancel(f.ctx)
	f.cancel, f.done = cancel, make(chan struct{})
	ready := make(chan struct{})
	go func() {
		defer close(f.done)
		_ = f.agent.Run(ctx, func() { close(ready) })
	}()
	f.t.Cleanup(f.stop)
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		f.t.Fatal("agent not ready within 30s")
	}
	return log
}

// spotEndToEnd: a reclaim written by the emulator (reclaim returns the
// deadline it wrote) cordons, drains and deletes the node, and the agent
// acted with drain-delete on a notice carrying exactly that deadline.
func spotEndToEnd(t *testing.T, f *fixture, src notice.Source, reclaim func() time.Time) {
	f.workload(3)
	log := f.runPolicy(src, decide.DefaultTable())
	start := time.Now()
	want := reclaim()
	f.c.Eventually(t, 60*time.Second, func() (bool, error) {
		_, err := f.getNode()
		return apierrors.IsNotFound(err), nil
	})
	if time.Now().After(want) {
		t.Errorf("node deleted after the deadline %s", want)
	}
	f.c.Eventually(t, 30*time.Second, func() (bool, error) { _, _, ok := log.first(); return ok, nil })
	n, a, _ := log.first()
	if !n.Deadline.Equal(want) || n.Kind != notice.KindSpotInterruption || a != decide.ActionDrainDelete {
		t.Fatalf("notice %+v acted on with %q; want a spot interruption at %s, drain-delete", n, a, want)
	}
	t.Logf("detected %s after the reclaim, node gone %s after it", n.Detected.Sub(start), time.Since(start))
	if f.errors.total() != 0 {
		t.Errorf("source errors: %v", f.errors.n)
	}
}

func TestAlibabaReclaimDrainsAndDeletes(t *testing.T) {
	f := newFixture(t, func(n *corev1.Node) { n.Spec.ProviderID = "alicloud://cn-hangzhou.i-bp67acfmxazb4ph3xxxx" })
	emu := emualibaba.New(emualibaba.Options{Hardened: true, Log: logging.Discard()})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	src, err := alibabanotice.New(alibabanotice.Config{
		MetadataURL: srv.URL, Node: f.node, Interval: 200 * time.Millisecond, Log: logging.Discard(), OnError: f.errors.inc,
	})
	if err != nil {
		t.Fatal(err)
	}
	spotEndToEnd(t, f, src, func() time.Time {
		emu.Reclaim(0, 5*time.Minute)
		v, _ := emu.Value(emualibaba.PathTerminationTime)
		d, err := time.Parse(time.RFC3339, v)
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// The emulator writes the time in UTC+8 without a zone: the deadline the
// agent drains against is the same instant, two minutes out, not 8 h off.
func TestTencentReclaimDrainsAndDeletesWithUTCPlus8Deadline(t *testing.T) {
	f := newFixture(t, func(n *corev1.Node) { n.Spec.ProviderID = "tencentcloud://ins-lifeboat1" })
	emu := emutencent.New(emutencent.Options{Log: logging.Discard()})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	src, err := tencentnotice.New(tencentnotice.Config{
		MetadataURL: srv.URL, Node: f.node, Interval: 200 * time.Millisecond, Log: logging.Discard(), OnError: f.errors.inc,
	})
	if err != nil {
		t.Fatal(err)
	}
	spotEndToEnd(t, f, src, func() time.Time {
		before := time.Now()
		emu.Reclaim(0, 2*time.Minute)
		v, _ := emu.Value(emutencent.PathTerminationTime)
		d, err := time.ParseInLocation("2006-01-02 15:04:05", v, time.FixedZone("CST", 8*3600))
		if err != nil {
			t.Fatal(err)
		}
		if off := d.Sub(before); off < 2*time.Minute-2*time.Second || off > 2*time.Minute+time.Second {
			t.Fatalf("written %q is %s away, want about 2m", v, off)
		}
		return d
	})
}

// A live migration is reported; with live-migration=taint the node gets the
// at-risk taint but is neither cordoned nor drained, and the taint goes
// when the event ends.
func TestDigitalOceanLiveMigrationTaintsOnlyWhenConfigured(t *testing.T) {
	f := newFixture(t, func(n *corev1.Node) { n.Spec.ProviderID = "digitalocean://3164494" })
	f.workload(2)
	emu := emudo.New(emudo.Options{Log: logging.Discard()})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	src, err := donotice.New(donotice.Config{
		MetadataURL: srv.URL, Node: f.node, Interval: 200 * time.Millisecond, Log: logging.Discard(), OnError: f.errors.inc,
	})
	if err != nil {
		t.Fatal(err)
	}
	policy := decide.DefaultTable()
	if err := policy.Set([]string{"live-migration=taint"}, decide.ModeAgent); err != nil {
		t.Fatal(err)
	}
	log := f.runPolicy(src, policy)
	emu.Migrate(0, 0)
	atRisk := func(n *corev1.Node) bool {
		for _, tt := range n.Spec.Taints {
			if tt.Key == drain.TaintAtRisk {
				return true
			}
		}
		return false
	}
	f.waitNode(30*time.Second, atRisk)
	if n := f.getNodeT(); n.Spec.Unschedulable {
		t.Error("a live migration cordoned the node")
	}
	if got, err := f.c.ReadyPods(f.ctx, f.ns, "app=web"); err != nil || got != 2 {
		t.Errorf("ready pods = %d, %v; a live migration must not drain", got, err)
	}
	n, a, _ := log.first()
	if n.Kind != notice.KindMigration || a != decide.ActionTaint {
		t.Errorf("notice %+v acted on with %q, want live-migration/taint", n, a)
	}
	emu.Set(emudo.PathMaintenanceEvent, "")
	f.waitNode(30*time.Second, func(n *corev1.Node) bool { return !atRisk(n) })
}

// Faults on the key are counted and survived: after a 500 and garbage, a
// reclaim still drains.
func TestAlibabaFaultsSurvived(t *testing.T) {
	f := newFixture(t, func(n *corev1.Node) { n.Spec.ProviderID = "alicloud://cn-hangzhou.i-x" })
	emu := emualibaba.New(emualibaba.Options{Log: logging.Discard()})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	src, err := alibabanotice.New(alibabanotice.Config{
		MetadataURL: srv.URL, Node: f.node, Interval: 100 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Log: logging.Discard(), OnError: f.errors.inc,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.runPolicy(src, decide.DefaultTable())
	for _, mode := range []emulate.FaultMode{"500", emulate.FaultGarbage} {
		if err := emu.FailNext(emualibaba.PathTerminationTime, mode, 2); err != nil {
			t.Fatal(err)
		}
	}
	f.c.Eventually(t, 30*time.Second, func() (bool, error) { return f.errors.total() >= 2, nil })
	emu.Reclaim(0, 5*time.Minute)
	f.c.Eventually(t, 60*time.Second, func() (bool, error) {
		_, err := f.getNode()
		return apierrors.IsNotFound(err), nil
	})
}

// setCondition sets (or replaces) a condition in the Node's status.
func (f *fixture) setCondition(name string, c corev1.NodeCondition) {
	f.t.Helper()
	f.c.Eventually(f.t, 30*time.Second, func() (bool, error) {
		n, err := f.c.Client.CoreV1().Nodes().Get(f.ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		kept := n.Status.Conditions[:0]
		for _, old := range n.Status.Conditions {
			if old.Type != c.Type {
				kept = append(kept, old)
			}
		}
		n.Status.Conditions = append(kept, c)
		_, err = f.c.Client.CoreV1().Nodes().UpdateStatus(f.ctx, n, metav1.UpdateOptions{})
		return err == nil, nil
	})
}

// AKS node-problem-detector's VMEventScheduled condition drains and deletes
// the node (rule VMEventScheduled=drain-delete) against the deadline
// written in the condition's message.
func TestNodeConditionDrainsWithTheMessageDeadline(t *testing.T) {
	f := newFixture(t)
	f.workload(2)
	src, err := nodecondition.New(nodecondition.Config{
		Client: f.c.API, Node: f.node, Log: logging.Discard(), OnError: f.errors.inc,
		Rules: []nodecondition.Rule{{Type: "VMEventScheduled", Status: corev1.ConditionTrue, Action: "drain-delete"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	log := f.runPolicy(src, decide.DefaultTable())
	deadline := time.Now().Add(2 * time.Minute).UTC().Truncate(time.Second)
	f.setCondition(f.node, corev1.NodeCondition{
		Type: "VMEventScheduled", Status: corev1.ConditionTrue, Reason: "VMEventScheduled", LastTransitionTime: metav1.Now(),
		Message: "Preempt Scheduled: " + deadline.Format(time.RFC1123) + ". DurationInSeconds: -1.  For more information, see https://aka.ms/aks/scheduledevents.",
	})
	f.c.Eventually(t, 60*time.Second, func() (bool, error) {
		_, err := f.getNode()
		return apierrors.IsNotFound(err), nil
	})
	f.c.Eventually(t, 30*time.Second, func() (bool, error) { _, _, ok := log.first(); return ok, nil })
	n, a, _ := log.first()
	if !n.Deadline.Equal(deadline) || n.Kind != notice.KindNodeCondition || a != decide.ActionDrainDelete {
		t.Fatalf("notice %+v acted on with %q; want node-condition at %s, drain-delete", n, a, deadline)
	}
}

// Queue mode's constructor: one source (Node empty) sees conditions on
// every Node, and a cleared condition withdraws its notice.
func TestNodeConditionSourceWatchesEveryNode(t *testing.T) {
	f := newFixture(t)
	other := testbed.UniqueName("cond")
	f.c.AddNode(t, other)
	src, err := nodecondition.New(nodecondition.Config{
		Client: f.c.API, Log: logging.Discard(),
		Rules: []nodecondition.Rule{{Type: "KernelDeadlock", Status: corev1.ConditionTrue, Action: "cordon"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan notice.Notice, 64)
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	go func() { _ = src.Run(ctx, out) }()
	<-src.ReadOnce()
	cond := corev1.NodeCondition{Type: "KernelDeadlock", Status: corev1.ConditionTrue, Reason: "DockerHung", LastTransitionTime: metav1.Now(), Message: "task blocked"}
	f.setCondition(f.node, cond)
	f.setCondition(other, cond)
	seen := map[string]bool{}
	deadline := time.After(30 * time.Second)
	for !seen[f.node] || !seen[other] {
		select {
		case n := <-out:
			if n.Node == f.node || n.Node == other {
				seen[n.Node] = !n.Canceled
			}
		case <-deadline:
			t.Fatalf("notices seen for %v, want %s and %s", seen, f.node, other)
		}
	}
	cond.Status = corev1.ConditionFalse
	f.setCondition(other, cond)
	for {
		select {
		case n := <-out:
			if n.Node == other && n.Canceled {
				return
			}
		case <-time.After(30 * time.Second):
			t.Fatal("clearing the condition did not withdraw the notice")
		}
	}
}

// A planned TERMINATE maintenance (instance/upcoming-maintenance) within
// the lead drains the node against the window start and keeps it (the VM
// comes back); NONE afterwards uncordons it.
func TestGCPUpcomingMaintenanceDrainsBeforeTheWindow(t *testing.T) {
	f := newFixture(t, func(n *corev1.Node) { n.Spec.ProviderID = "gce://project/us-central1-a/" + testbed.UniqueName("vm") })
	f.workload(2)
	emu := emugcp.New(emugcp.Options{Log: logging.Discard()})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	src, err := gcpnotice.New(gcpnotice.Config{
		MetadataURL: srv.URL, Node: f.node, UpcomingInterval: 100 * time.Millisecond,
		Log: logging.Discard(), OnError: f.errors.inc,
	})
	if err != nil {
		t.Fatal(err)
	}
	log := f.runPolicy(src, decide.DefaultTable())
	start := time.Now().Add(20 * time.Minute).UTC().Truncate(time.Second)
	emu.Set(gcpnotice.KeyUpcomingMaintenance, `{"type":"SCHEDULED","maintenance_status":"PENDING","window_start_time":"`+start.Format(time.RFC3339)+`"}`)
	f.waitNode(30*time.Second, func(n *corev1.Node) bool { return n.Spec.Unschedulable })
	f.c.Eventually(t, 60*time.Second, func() (bool, error) {
		n, err := f.c.ReadyPods(f.ctx, f.ns, "app=web")
		return n == 0, err
	})
	n, _, _ := log.first()
	if n.Kind != notice.KindHostMaintenance || !n.Deadline.Equal(start) {
		t.Fatalf("notice %+v, want host-maintenance at %s", n, start)
	}
	emu.Set(gcpnotice.KeyUpcomingMaintenance, "NONE")
	f.waitNode(30*time.Second, func(n *corev1.Node) bool { return !n.Spec.Unschedulable })
}
