//go:build linux

package agent_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	emuaws "github.com/lifeboat-dev/lifeboat/internal/emulate/aws"
)

func atRisk(n *corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == drain.TaintAtRisk {
			return true
		}
	}
	return false
}

func conditionTrue(n *corev1.Node, t corev1.NodeConditionType) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// TestMaintenanceAnHourAwayOnlyTaints: with --maintenance-lead 15m, a
// scheduled reboot an hour away gives the at-risk taint and the
// MaintenancePlanned condition, and no cordon, no eviction.
func TestMaintenanceAnHourAwayOnlyTaints(t *testing.T) {
	f := newFixture(t)
	f.lead = 15 * time.Minute
	f.workload(2)
	f.start()
	defer f.stop()
	if _, err := f.emu.ScheduleMaintenance(emuaws.MaintenanceRequest{Code: emuaws.CodeSystemReboot, In: time.Hour}); err != nil {
		t.Fatal(err)
	}
	f.waitNode(30*time.Second, func(n *corev1.Node) bool {
		return atRisk(n) && conditionTrue(n, drain.ConditionMaintenancePlanned)
	})
	time.Sleep(2 * time.Second) // give a wrong cordon or eviction the chance to show
	n, err := f.getNode()
	if err != nil {
		t.Fatal(err)
	}
	if n.Spec.Unschedulable {
		t.Error("a maintenance an hour away cordoned the node")
	}
	if ready, err := f.c.ReadyPods(f.ctx, f.ns, "app=web"); err != nil || ready != 2 {
		t.Errorf("%d ready pods (%v), want both: nothing is evicted before the lead", ready, err)
	}
}

// TestMaintenanceDrainsAtTheLead: a reboot just beyond the lead is tainted
// first and drained once the lead is reached.
func TestMaintenanceDrainsAtTheLead(t *testing.T) {
	f := newFixture(t)
	f.lead = time.Minute
	f.workload(2)
	f.start()
	defer f.stop()
	if _, err := f.emu.ScheduleMaintenance(emuaws.MaintenanceRequest{Code: emuaws.CodeSystemReboot, In: time.Minute + 4*time.Second}); err != nil {
		t.Fatal(err)
	}
	f.waitNode(30*time.Second, func(n *corev1.Node) bool { return atRisk(n) && !n.Spec.Unschedulable })
	f.waitNode(60*time.Second, func(n *corev1.Node) bool { return n.Spec.Unschedulable })
	f.c.Eventually(t, 60*time.Second, func() (bool, error) {
		n, err := f.c.ReadyPods(f.ctx, f.ns, "app=web")
		return n == 0, err
	})
}

// TestRebalanceTaintExpires: --at-risk-ttl removes a rebalance
// recommendation's taint when no interruption followed.
func TestRebalanceTaintExpires(t *testing.T) {
	f := newFixture(t)
	f.ttl = 3 * time.Second
	f.start()
	defer f.stop()
	if _, err := f.emu.ScheduleRebalance(0); err != nil {
		t.Fatal(err)
	}
	f.waitNode(30*time.Second, atRisk)
	f.waitNode(30*time.Second, func(n *corev1.Node) bool { return !atRisk(n) && n.Annotations[drain.AnnotationCordon] == "" })
}
