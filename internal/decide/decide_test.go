package decide

import (
	"errors"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func nt(kind notice.Kind, deadline time.Time, attrs ...string) notice.Notice {
	n := notice.Notice{ID: string(kind), Kind: kind, Deadline: deadline, Detected: t0, Attributes: map[string]string{}}
	for i := 0; i+1 < len(attrs); i += 2 {
		n.Attributes[attrs[i]] = attrs[i+1]
	}
	return n
}

// TestDecide covers the table: every kind a mode produces, the comes-back
// rule, deadlines (own, "soon" default, voluntary bound, minimum window) and
// how each notice is finished, for agent and queue settings.
func TestDecide(t *testing.T) {
	clk := testingclock.NewFakeClock(t0.Add(10 * time.Second))
	agent := Settings{DeleteNode: true, NoticeTimeout: 5 * time.Minute}
	azure := agent
	azure.Acknowledges = true
	queue := Settings{DeleteNode: true, NoticeTimeout: 15 * time.Minute, VoluntaryTimeout: time.Hour, MinWindow: 15 * time.Second, HookResultOnFailure: ResultAbandon}
	hook := queue
	hook.Hook = true
	noDelete := agent
	noDelete.DeleteNode = false
	rebalanceDrain := DefaultTable()
	rebalanceDrain[notice.KindRebalance] = ActionDrain
	spotDeadline := t0.Add(2 * time.Minute)
	week := t0.Add(7 * 24 * time.Hour)

	cases := []struct {
		name  string
		n     notice.Notice
		table Table
		s     Settings
		want  Plan
	}{
		{
			"spot terminate: drain-delete by its deadline", nt(notice.KindSpotInterruption, spotDeadline, "action", "terminate"), nil, agent,
			Plan{Action: ActionDrainDelete, DeleteNode: true, Deadline: spotDeadline, OnDeadline: DeadlineDeletePods, Finish: FinishNone},
		},
		{
			"spot stop keeps the Node", nt(notice.KindSpotInterruption, spotDeadline, "action", "stop"), nil, agent,
			Plan{Action: ActionDrain, Deadline: spotDeadline, OnDeadline: DeadlineDeletePods, Finish: FinishNone},
		},
		{
			"spot hibernate keeps the Node", nt(notice.KindSpotInterruption, spotDeadline, "action", "hibernate"), nil, queue,
			Plan{Action: ActionDrain, Deadline: spotDeadline, OnDeadline: DeadlineDeletePods, Finish: FinishNone},
		},
		{
			"deleting Nodes not allowed", nt(notice.KindSpotInterruption, spotDeadline), nil, noDelete,
			Plan{Action: ActionDrainDelete, Deadline: spotDeadline, OnDeadline: DeadlineDeletePods, Finish: FinishNone},
		},
		{
			"rebalance: taint, no deadline", nt(notice.KindRebalance, time.Time{}), nil, agent,
			Plan{Action: ActionTaint, OnDeadline: DeadlineDeletePods, Finish: FinishNone},
		},
		{
			"rebalance drain in the agent: no bound", nt(notice.KindRebalance, time.Time{}), rebalanceDrain, agent,
			Plan{Action: ActionDrain, OnDeadline: DeadlineDeletePods, Finish: FinishNone},
		},
		{
			"rebalance drain in queue mode: bounded, gives up", nt(notice.KindRebalance, time.Time{}), rebalanceDrain, queue,
			Plan{Action: ActionDrain, Deadline: t0.Add(time.Hour), OnDeadline: DeadlineGiveUp, Finish: FinishNone},
		},
		{
			"maintenance a week away keeps its time", nt(notice.KindScheduledReboot, week), nil, queue,
			Plan{Action: ActionDrain, Deadline: week, OnDeadline: DeadlineDeletePods, Finish: FinishNone},
		},
		{
			"maintenance without a time gets no fuse in the agent", nt(notice.KindScheduledReboot, time.Time{}), nil, agent,
			Plan{Action: ActionDrain, OnDeadline: DeadlineDeletePods, Finish: FinishNone},
		},
		{
			"instance-stop maintenance keeps the Node", nt(notice.KindScheduledTermination, week, "code", "instance-stop"), nil, agent,
			Plan{Action: ActionDrain, Deadline: week, OnDeadline: DeadlineDeletePods, Finish: FinishNone},
		},
		{
			"retirement deletes the Node", nt(notice.KindScheduledTermination, week, "code", "instance-retirement"), nil, agent,
			Plan{Action: ActionDrainDelete, DeleteNode: true, Deadline: week, OnDeadline: DeadlineDeletePods, Finish: FinishNone},
		},
		{
			"health STOP keeps the Node", nt(notice.KindScheduledTermination, week, "health-event", "AWS_EC2_INSTANCE_STOP_SCHEDULED"), nil, queue,
			Plan{Action: ActionDrain, Deadline: week, OnDeadline: DeadlineDeletePods, Finish: FinishNone},
		},
		{
			"scale-in without a time: notice timeout, hook completed", nt(notice.KindASGTermination, time.Time{}), nil, hook,
			Plan{
				Action: ActionDrainDelete, DeleteNode: true, Deadline: t0.Add(15 * time.Minute), OnDeadline: DeadlineDeletePods,
				Finish: FinishCompleteHook, HookResult: ResultContinue, HookResultOnFailure: ResultAbandon,
			},
		},
		{
			"launch: await the Node, complete the hook", nt(KindASGLaunch, time.Time{}), nil, hook,
			Plan{
				Action: ActionNone, AwaitReady: true, OnDeadline: DeadlineDeletePods,
				Finish: FinishCompleteHook, HookResult: ResultContinue, HookResultOnFailure: ResultAbandon,
			},
		},
		{
			"EC2 stopping already under way: minimum window, Node kept", nt(notice.KindTermination, t0, "state", "stopping"), nil, queue,
			Plan{Action: ActionDrain, Deadline: clk.Now().Add(15 * time.Second), OnDeadline: DeadlineDeletePods, Finish: FinishNone},
		},
		{
			"EC2 terminated: minimum window, Node deleted", nt(notice.KindTermination, t0, "state", "terminated"), nil, queue,
			Plan{Action: ActionDrainDelete, DeleteNode: true, Deadline: clk.Now().Add(15 * time.Second), OnDeadline: DeadlineDeletePods, Finish: FinishNone},
		},
		{
			"Azure preemption: acknowledged after the drain", nt(notice.KindPreemption, t0.Add(30*time.Second)), nil, azure,
			Plan{Action: ActionDrainDelete, DeleteNode: true, Deadline: t0.Add(30 * time.Second), OnDeadline: DeadlineDeletePods, Finish: FinishAcknowledge},
		},
		{
			"Azure freeze: nothing to do, nothing to acknowledge", nt(notice.KindFreeze, t0.Add(15*time.Second)), nil, azure,
			Plan{Action: ActionNone, OnDeadline: DeadlineDeletePods, Finish: FinishNone},
		},
		{
			"GCP live migration: none", nt(notice.KindMigration, time.Time{}), nil, agent,
			Plan{Action: ActionNone, OnDeadline: DeadlineDeletePods, Finish: FinishNone},
		},
		{
			"host shutdown: drain, keep the Node, notice timeout", nt(notice.KindShutdown, time.Time{}), nil, agent,
			Plan{Action: ActionDrain, Deadline: t0.Add(5 * time.Minute), OnDeadline: DeadlineDeletePods, Finish: FinishNone},
		},
		{
			"host shutdown set to none", nt(notice.KindShutdown, time.Time{}),
			Table{notice.KindShutdown: ActionNone},
			agent,
			Plan{Action: ActionNone, OnDeadline: DeadlineDeletePods, Finish: FinishNone},
		},
		{
			"canceled notice: release", func() notice.Notice { n := nt(notice.KindScheduledReboot, week); n.Canceled = true; return n }(), nil, agent,
			Plan{Action: ActionNone, Finish: FinishRelease},
		},
		{
			"unknown kind: none", nt("something-new", spotDeadline), nil, agent,
			Plan{Action: ActionNone, OnDeadline: DeadlineDeletePods, Finish: FinishNone},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			table := c.table
			if table == nil {
				table = DefaultTable()
			}
			got := Decide(c.n, table, c.s, clk.Now())
			if got != c.want {
				t.Errorf("Decide:\n got  %+v\n want %+v", got, c.want)
			}
		})
	}
}

func TestDecideIsStableAsTimePasses(t *testing.T) {
	n := nt(notice.KindASGTermination, time.Time{})
	s := Settings{DeleteNode: true, NoticeTimeout: time.Minute}
	a := Decide(n, DefaultTable(), s, t0)
	b := Decide(n, DefaultTable(), s, t0.Add(30*time.Second))
	if a != b {
		t.Fatalf("replanning moved the plan: %+v then %+v", a, b)
	}
}

func TestSet(t *testing.T) {
	tb := DefaultTable()
	if err := tb.Set([]string{"rebalance-recommendation=drain", " host-shutdown = none "}, ModeAgent); err != nil {
		t.Fatal(err)
	}
	if tb[notice.KindRebalance] != ActionDrain || tb[notice.KindShutdown] != ActionNone {
		t.Fatalf("overrides not applied: %v", tb)
	}
	for _, c := range []struct {
		mode     Mode
		override string
		kindErr  bool
	}{
		{ModeAgent, "manual=drain", true},
		{ModeQueue, "host-shutdown=drain", true},
		{ModeQueue, "preemption=drain", true},
		{ModeQueue, "asg-launch=drain", true},
		{ModeAgent, "spot-interruption=explode", false},
		{ModeAgent, "spot-interruption", false},
	} {
		err := DefaultTable().Set([]string{c.override}, c.mode)
		var ke *KindError
		if err == nil || errors.As(err, &ke) != c.kindErr {
			t.Errorf("%s %q: err = %v, want kind error %v", c.mode, c.override, err, c.kindErr)
		}
	}
	if err := DefaultTable().Set([]string{"rebalance-recommendation=cordon"}, ModeQueue); err != nil {
		t.Errorf("queue rebalance override refused: %v", err)
	}
}

func TestEveryModeKindHasADefault(t *testing.T) {
	for _, m := range []Mode{ModeAgent, ModeQueue} {
		for _, k := range kindsByMode[m] {
			if _, ok := DefaultTable()[k]; !ok {
				t.Errorf("%s kind %s has no default action", m, k)
			}
		}
	}
}

// TestMaintenanceLead: a reboot-type maintenance further away than the lead
// only taints until lead before its time, then drains; a retirement drains
// at once; a rescheduled event moves the drain.
func TestMaintenanceLead(t *testing.T) {
	s := Settings{DeleteNode: true, MaintenanceLead: 15 * time.Minute}
	hour := nt(notice.KindScheduledReboot, t0.Add(time.Hour))
	p := Decide(hour, DefaultTable(), s, t0)
	want := Plan{Action: ActionTaint, Deadline: t0.Add(time.Hour), DrainAt: t0.Add(45 * time.Minute), OnDeadline: DeadlineDeletePods, Finish: FinishNone}
	if p != want || !p.Deferred() {
		t.Fatalf("an hour away:\n got  %+v\n want %+v", p, want)
	}
	if p := Decide(hour, DefaultTable(), s, t0.Add(45*time.Minute)); p.Action != ActionDrain || p.Deferred() || !p.Deadline.Equal(t0.Add(time.Hour)) {
		t.Errorf("at the lead: %+v, want the drain", p)
	}
	gcp := nt(notice.KindHostMaintenance, t0.Add(time.Hour))
	if p := Decide(gcp, DefaultTable(), s, t0); !p.Deferred() {
		t.Errorf("GCP host maintenance an hour away: %+v, want deferred", p)
	}
	retire := nt(notice.KindScheduledTermination, t0.Add(7*24*time.Hour), "code", "instance-retirement")
	if p := Decide(retire, DefaultTable(), s, t0); p.Action != ActionDrainDelete || p.Deferred() {
		t.Errorf("retirement: %+v, want drain-delete at once", p)
	}
	moved := hour
	moved.Deadline = t0.Add(3 * time.Hour)
	if p := Decide(moved, DefaultTable(), s, t0.Add(50*time.Minute)); !p.DrainAt.Equal(t0.Add(165 * time.Minute)) {
		t.Errorf("rescheduled: drain at %s, want %s", p.DrainAt, t0.Add(165*time.Minute))
	}
	noLead := s
	noLead.MaintenanceLead = 0
	if p := Decide(hour, DefaultTable(), noLead, t0); p.Action != ActionDrain {
		t.Errorf("no lead: %+v, want the drain at once", p)
	}
	cordon := DefaultTable()
	cordon[notice.KindScheduledReboot] = ActionCordon
	if p := Decide(hour, cordon, s, t0); p.Action != ActionCordon || p.Deferred() {
		t.Errorf("--action scheduled-reboot=cordon: %+v, want a cordon now", p)
	}
}
