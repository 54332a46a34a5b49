package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/lifeboat-dev/lifeboat/internal/decide"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// nf is a notice in force planned with the agent's settings (5 minutes'
// notice timeout; deleting Nodes allowed unless deleteOK is false).
func nf(id string, k notice.Kind, act decide.Action, deadline time.Duration) inForce {
	return nfWith(id, k, act, deadline, true)
}

func nfWith(id string, k notice.Kind, act decide.Action, deadline time.Duration, deleteOK bool) inForce {
	n := notice.Notice{ID: id, Kind: k, Detected: t0}
	if deadline != 0 {
		n.Deadline = t0.Add(deadline)
	}
	s := decide.Settings{DeleteNode: deleteOK, NoticeTimeout: 5 * time.Minute}
	return inForce{n: n, plan: decide.Decide(n, decide.Table{k: act}, s, t0)}
}

func TestPlanFor(t *testing.T) {
	const timeout = 5 * time.Minute
	spot := nf("spot", notice.KindSpotInterruption, decide.ActionDrainDelete, 2*time.Minute)
	reboot := nf("reboot", notice.KindScheduledReboot, decide.ActionDrain, 7*24*time.Hour)
	rebootNoTime := nf("reboot-unknown", notice.KindScheduledReboot, decide.ActionDrain, 0)
	asg := nf("asg", notice.KindASGTermination, decide.ActionDrainDelete, 0)
	preempt := nf("preempt", notice.KindPreemption, decide.ActionDrainDelete, 30*time.Second)
	maint := nf("maint", notice.KindHostMaintenance, decide.ActionDrain, 20*time.Second)
	cases := []struct {
		name       string
		in         []inForce
		deleteOK   bool
		lead       string
		deadline   time.Time
		deleteNode bool
		action     decide.Action
	}{
		{"spot alone", []inForce{spot}, true, "spot", t0.Add(2 * time.Minute), true, decide.ActionDrainDelete},
		{"spot then reboot: spot leads", []inForce{reboot, spot}, true, "spot", t0.Add(2 * time.Minute), true, decide.ActionDrainDelete},
		{"deleting nodes not allowed", []inForce{nfWith("spot", notice.KindSpotInterruption, decide.ActionDrainDelete, 2*time.Minute, false)}, false, "spot", t0.Add(2 * time.Minute), false, decide.ActionDrainDelete},
		{"reboot alone keeps the node", []inForce{reboot}, true, "reboot", t0.Add(7 * 24 * time.Hour), false, decide.ActionDrain},
		{"unreadable maintenance time: no fuse", []inForce{rebootNoTime}, true, "reboot-unknown", time.Time{}, false, decide.ActionDrain},
		{"scale-in without time: notice timeout from detection", []inForce{asg}, true, "asg", t0.Add(timeout), true, decide.ActionDrainDelete},
		{"earlier maintenance leads, preemption adds delete", []inForce{preempt, maint}, true, "maint", t0.Add(20 * time.Second), true, decide.ActionDrainDelete},
		{"a deadline beats none", []inForce{rebootNoTime, reboot}, true, "reboot", t0.Add(7 * 24 * time.Hour), false, decide.ActionDrain},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, ok := PlanFor(c.in)
			if !ok {
				t.Fatal("no plan")
			}
			if p.Lead.ID != c.lead || !p.Deadline.Equal(c.deadline) || p.DeleteNode != c.deleteNode || p.Action != c.action {
				t.Errorf("plan = lead %s deadline %s delete %v action %s; want lead %s deadline %s delete %v action %s",
					p.Lead.ID, p.Deadline, p.DeleteNode, p.Action, c.lead, c.deadline, c.deleteNode, c.action)
			}
			if len(p.Notices) != len(c.in) {
				t.Errorf("plan serves %v, want all of %d notices", p.Notices, len(c.in))
			}
		})
	}
	if _, ok := PlanFor(nil); ok {
		t.Error("a plan without notices")
	}
}

func TestPlanMoreUrgentThan(t *testing.T) {
	base := DrainPlan{Deadline: t0.Add(time.Hour)}
	cases := []struct {
		name string
		p, q DrainPlan
		want bool
	}{
		{"earlier deadline", DrainPlan{Deadline: t0.Add(time.Minute)}, base, true},
		{"later deadline", DrainPlan{Deadline: t0.Add(2 * time.Hour)}, base, false},
		{"a deadline beats none", DrainPlan{Deadline: t0}, DrainPlan{}, true},
		{"none never beats a deadline", DrainPlan{}, base, false},
		{"deleting beats keeping", DrainPlan{Deadline: t0.Add(time.Hour), DeleteNode: true}, base, true},
		{"same plan", base, base, false},
	}
	for _, c := range cases {
		if got := c.p.MoreUrgentThan(c.q); got != c.want {
			t.Errorf("%s: MoreUrgentThan = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestRetryable(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{errors.New("etcdserver: request timed out"), true},
		{&drain.NodeNotFoundError{Node: "n"}, true},
		{&drain.IncompleteError{Reason: "context canceled"}, true},
		{&drain.IncompleteError{Reason: reasonDeadlinePassed}, false},
		{&drain.ConsentError{Node: "n"}, false},
		{fmt.Errorf("wrapped: %w", context.Canceled), false},
		{nil, false},
	}
	for _, c := range cases {
		if got := Retryable(c.err); got != c.want {
			t.Errorf("Retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := RetryDelay(i + 1); got != w {
			t.Errorf("RetryDelay(%d) = %s, want %s", i+1, got, w)
		}
	}
}

func TestAzureNodeNames(t *testing.T) {
	cases := map[string][]string{
		"aks-pool-12345678-vmss_3": {"aks-pool-12345678-vmss_3", "aks-pool-12345678-vmss000003"},
		"AKS-Pool-vmss_46":         {"aks-pool-vmss_46", "aks-pool-vmss00001a"},
		"vm-in-availability-set":   {"vm-in-availability-set"},
		"odd_name_x":               {"odd_name_x"},
	}
	for vm, want := range cases {
		if got := AzureNodeNames(vm); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("AzureNodeNames(%q) = %v, want %v", vm, got, want)
		}
	}
}

// TestHealthyFailsWhenTheLoopIsWedged: /healthz's check fails once the main
// loop has not come round for wedgedAfter.
func TestHealthyFailsWhenTheLoopIsWedged(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	a := New(Config{Node: "n", Clock: clk})
	if err := a.Healthy(); err != nil {
		t.Fatalf("fresh agent unhealthy: %v", err)
	}
	clk.Step(wedgedAfter - time.Second)
	if err := a.Healthy(); err != nil {
		t.Fatalf("unhealthy before wedgedAfter: %v", err)
	}
	clk.Step(2 * time.Second)
	if err := a.Healthy(); err == nil {
		t.Fatal("healthy although the main loop has not run for longer than wedgedAfter")
	}
}

func TestParseJobs(t *testing.T) {
	cases := map[string]HostShutdown{
		"1234 reboot.target start waiting\n1235 shutdown.target start waiting\n": ShutdownReboot,
		"99 poweroff.target start running\n":                                     ShutdownPowerOff,
		"7 halt.target start waiting":                                            ShutdownPowerOff,
		"12 kexec.target start waiting":                                          ShutdownReboot,
		"":                                                                       ShutdownUnknown,
		"5 shutdown.target start waiting":                                        ShutdownUnknown,
	}
	for in, want := range cases {
		if got := parseJobs(in); got != want {
			t.Errorf("parseJobs(%q) = %s, want %s", strings.TrimSpace(in), got, want)
		}
	}
}
