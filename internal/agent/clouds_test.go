//go:build linux

package agent_test

import (
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	emuazure "github.com/lifeboat-dev/lifeboat/internal/emulate/azure"
	emugcp "github.com/lifeboat-dev/lifeboat/internal/emulate/gcp"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	azurenotice "github.com/lifeboat-dev/lifeboat/internal/notice/azure"
	gcpnotice "github.com/lifeboat-dev/lifeboat/internal/notice/gcp"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

const vm = "aks-pool-12345678-vmss_3"

func azureFixture(t *testing.T) (*fixture, *emuazure.Server) {
	f := newFixture(t, func(n *corev1.Node) {
		n.Spec.ProviderID = "azure:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-12345678-vmss/virtualMachines/3"
	})
	emu := emuazure.New(emuazure.Options{VMName: vm, Log: logging.Discard(), StartedFor: time.Second})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	src, err := azurenotice.New(azurenotice.Config{MetadataURL: srv.URL, ProviderID: f.getNodeT().Spec.ProviderID, Node: f.node, Log: logging.Discard(), OnError: f.errors.inc})
	if err != nil {
		t.Fatal(err)
	}
	f.startWith(src)
	t.Cleanup(f.stop)
	return f, emu
}

func (f *fixture) getNodeT() *corev1.Node {
	n, err := f.getNode()
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// lastPodGone records when the last pod of the namespace was deleted.
func (f *fixture) lastPodGone() func() time.Time {
	w, err := f.c.Client.CoreV1().Pods(f.ns).Watch(f.ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var mu sync.Mutex
	var last time.Time
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type == watch.Deleted {
				mu.Lock()
				last = time.Now()
				mu.Unlock()
			}
		}
	}()
	f.t.Cleanup(w.Stop)
	return func() time.Time { mu.Lock(); defer mu.Unlock(); return last }
}

func TestAzurePreemptDrainsDeletesThenAcks(t *testing.T) {
	f, emu := azureFixture(t)
	f.workloadSlow(3, "2s")
	gone := f.lastPodGone()
	ev, err := emu.Schedule(emuazure.EventSpec{EventType: emuazure.EventPreempt})
	if err != nil {
		t.Fatal(err)
	}
	f.c.Eventually(t, 30*time.Second, func() (bool, error) { return len(emu.Acks()) > 0, nil })
	ack := emu.Acks()[0]
	if len(ack.EventIDs) != 1 || ack.EventIDs[0] != ev.EventID {
		t.Fatalf("ack = %+v, want one StartRequest for %s", ack, ev.EventID)
	}
	if _, err := f.getNode(); !apierrors.IsNotFound(err) {
		t.Errorf("node not deleted after a preemption: %v", err)
	}
	if g := gone(); g.IsZero() || ack.Time.Before(g) {
		t.Errorf("acknowledged at %s, before the last pod was gone at %s", ack.Time, g)
	}
}

func TestAzureRebootKeepsNodeAndUndoesCordonWhenDone(t *testing.T) {
	f, emu := azureFixture(t)
	f.workload(2)
	ev, err := emu.Schedule(emuazure.EventSpec{EventType: emuazure.EventReboot, NotBeforeIn: emuazure.Duration(10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	f.c.Eventually(t, 30*time.Second, func() (bool, error) { return len(emu.Acks()) > 0, nil })
	if n := f.getNodeT(); len(emu.Acks()[0].EventIDs) == 0 || emu.Acks()[0].EventIDs[0] != ev.EventID {
		t.Fatalf("acks = %+v (node unschedulable %v)", emu.Acks(), n.Spec.Unschedulable)
	}
	// The acknowledged event starts, the VM reboots, the event completes and
	// leaves the document: lifeboat's cordon is undone, the Node was kept.
	f.waitNode(30*time.Second, func(n *corev1.Node) bool { return !n.Spec.Unschedulable && n.Annotations[drain.AnnotationCordon] == "" })
}

func TestAzureIgnoresFreezeAndOtherVMs(t *testing.T) {
	f, emu := azureFixture(t)
	if _, err := emu.Schedule(emuazure.EventSpec{EventType: emuazure.EventFreeze}); err != nil {
		t.Fatal(err)
	}
	if _, err := emu.Schedule(emuazure.EventSpec{EventType: emuazure.EventPreempt, Resources: []string{"aks-pool-12345678-vmss_9"}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // several polls
	n := f.getNodeT()
	if n.Spec.Unschedulable || n.Annotations[drain.AnnotationCordon] != "" {
		t.Error("a Freeze or another VM's event cordoned this node")
	}
	if len(emu.Acks()) != 0 {
		t.Errorf("acknowledged events lifeboat did not act on: %+v", emu.Acks())
	}
}

func TestAzureVanishedEventUndoesCordonWithoutAck(t *testing.T) {
	f, emu := azureFixture(t)
	f.workload(1)
	pdb := testbed.PDB(f.ns, "web", "web", 0) // keeps the drain busy
	if _, err := f.c.Client.PolicyV1().PodDisruptionBudgets(f.ns).Create(f.ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.c.Eventually(t, 30*time.Second, func() (bool, error) {
		b, err := f.c.Client.PolicyV1().PodDisruptionBudgets(f.ns).Get(f.ctx, "web", metav1.GetOptions{})
		return err == nil && b.Status.CurrentHealthy == 1, err
	})
	ev, err := emu.Schedule(emuazure.EventSpec{EventType: emuazure.EventRedeploy, NotBeforeIn: emuazure.Duration(10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	f.waitNode(30*time.Second, func(n *corev1.Node) bool { return n.Spec.Unschedulable })
	if !emu.Cancel(ev.EventID) {
		t.Fatal("event not found")
	}
	f.waitNode(30*time.Second, func(n *corev1.Node) bool { return !n.Spec.Unschedulable })
	if len(emu.Acks()) != 0 {
		t.Errorf("acknowledged an event whose drain never finished: %+v", emu.Acks())
	}
}

func gcpFixture(t *testing.T) (*fixture, *emugcp.Server) {
	f := newFixture(t, func(n *corev1.Node) { n.Spec.ProviderID = "gce://project/us-central1-a/" + testbed.UniqueName("vm") })
	emu := emugcp.New(emugcp.Options{Log: logging.Discard()})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	src, err := gcpnotice.New(gcpnotice.Config{MetadataURL: srv.URL, Node: f.node, Log: logging.Discard(), OnError: f.errors.inc})
	if err != nil {
		t.Fatal(err)
	}
	f.startWith(src)
	t.Cleanup(f.stop)
	return f, emu
}

func TestGCPPreemptionDrainsAndDeletesWithinWindow(t *testing.T) {
	f, emu := gcpFixture(t)
	f.workload(3)
	f.c.Eventually(t, 10*time.Second, func() (bool, error) { return emu.Waiting(emugcp.PreemptedKey) > 0, nil })
	start := time.Now()
	emu.Set(emugcp.PreemptedKey, emugcp.PreemptedTrue)
	f.c.Eventually(t, 30*time.Second, func() (bool, error) {
		_, err := f.getNode()
		return apierrors.IsNotFound(err), nil
	})
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("preempted node emptied and deleted after %s, past the 30 s window", took)
	}
	// The change arrived on a hanging request, not a poll.
	waited := false
	for _, r := range emu.Requests(emugcp.PreemptedKey) {
		waited = waited || r.Wait
	}
	if !waited {
		t.Error("no wait_for_change request: the preemption was polled, not long-polled")
	}
}

func TestGCPMaintenanceDrainsThenUncordonsAndIgnoresMigration(t *testing.T) {
	f, emu := gcpFixture(t)
	f.c.Eventually(t, 10*time.Second, func() (bool, error) { return emu.Waiting(emugcp.MaintenanceKey) > 0, nil })
	emu.Set(emugcp.MaintenanceKey, emugcp.MaintenanceMigrate)
	time.Sleep(2 * time.Second)
	if f.getNodeT().Spec.Unschedulable {
		t.Fatal("a live migration cordoned the node")
	}
	emu.Set(emugcp.MaintenanceKey, emugcp.MaintenanceTerminate)
	f.waitNode(30*time.Second, func(n *corev1.Node) bool { return n.Spec.Unschedulable })
	emu.Set(emugcp.MaintenanceKey, emugcp.MaintenanceNone)
	f.waitNode(30*time.Second, func(n *corev1.Node) bool { return !n.Spec.Unschedulable })
}

func TestGCPMalformedValueSurvived(t *testing.T) {
	f, emu := gcpFixture(t)
	emu.Set(emugcp.PreemptedKey, "MAYBE")
	f.c.Eventually(t, 30*time.Second, func() (bool, error) { return f.errors.total() > 0, nil })
	emu.Set(emugcp.PreemptedKey, emugcp.PreemptedTrue)
	f.c.Eventually(t, 30*time.Second, func() (bool, error) {
		_, err := f.getNode()
		return apierrors.IsNotFound(err), nil
	})
}

// workloadSlow is workload whose pods take shutdown to stop.
func (f *fixture) workloadSlow(replicas int32, shutdown string) {
	f.t.Helper()
	d := testbed.Deployment(f.ns, "web", f.node, replicas, func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": f.node}
		d.Spec.Template.Annotations = map[string]string{"pod-delete.stage.kwok.x-k8s.io/delay": shutdown}
	})
	if _, err := f.c.Client.AppsV1().Deployments(f.ns).Create(f.ctx, d, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	f.c.Eventually(f.t, 60*time.Second, func() (bool, error) {
		n, err := f.c.ReadyPods(f.ctx, f.ns, "app=web")
		return n == int(replicas), err
	})
}
