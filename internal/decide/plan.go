package decide

import (
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// Lifecycle action results of an Auto Scaling lifecycle hook.
const (
	ResultContinue = "CONTINUE"
	ResultAbandon  = "ABANDON"
)

// KindASGLaunch classifies an Auto Scaling launch lifecycle action: not a
// reason to drain, but a hook to complete once the instance's Node is Ready.
const KindASGLaunch notice.Kind = "asg-launch"

// Finish says how lifeboat tells the platform it is done with a notice.
type Finish string

// The ways a notice is finished.
const (
	// FinishNone: the platform does not wait for an answer.
	FinishNone Finish = "none"
	// FinishAcknowledge: acknowledge the notice to its source (Azure
	// Scheduled Events StartRequests) once the action is done.
	FinishAcknowledge Finish = "acknowledge"
	// FinishCompleteHook: complete the Auto Scaling lifecycle action, with
	// Plan.HookResult on success and Plan.HookResultOnFailure otherwise.
	FinishCompleteHook Finish = "complete-hook"
	// FinishRelease: the notice was canceled or completed; undo lifeboat's
	// own cordon and taint for it (never an administrator's).
	FinishRelease Finish = "release"
)

// OnDeadline says what a drain does with pods still there at its deadline.
type OnDeadline string

// What a drain does at its deadline.
const (
	// DeadlineDeletePods: the platform's deadline; delete what is left with
	// the time remaining, so pods get SIGTERM rather than a hard stop.
	DeadlineDeletePods OnDeadline = "delete"
	// DeadlineGiveUp: lifeboat's own bound on a voluntary drain; stop and
	// report the drain failed, leaving PDB-blocked pods alone.
	DeadlineGiveUp OnDeadline = "abort"
)

// Settings are the operator's choices that shape every plan.
type Settings struct {
	// DeleteNode allows deleting the Node after a drain-delete.
	DeleteNode bool
	// NoticeTimeout is the deadline, from detection, of a drain whose notice
	// gives no time but means "soon" (a scale-in, a termination, a
	// lifecycle hook, a host shutdown). 0 means 5 minutes.
	NoticeTimeout time.Duration
	// VoluntaryTimeout bounds, from detection, a drain whose notice has no
	// deadline and does not mean "soon" (a rebalance recommendation,
	// maintenance without a readable time), so it never holds a worker
	// forever; at the bound the drain gives up. 0 means no bound (the
	// agent: the drain runs until the notice is withdrawn).
	VoluntaryTimeout time.Duration
	// MinWindow is the least time a drain is given from now, so a notice
	// already (nearly) past — redelivered late, an instance already
	// stopping — still gets a short graceful drain. 0 means none.
	MinWindow time.Duration
	// OnDeadline is what a drain does at a platform deadline (delete or
	// abort); "" means delete.
	OnDeadline OnDeadline
	// HookResultOnFailure is the lifecycle result sent when a drain ends
	// incomplete; "" means CONTINUE.
	HookResultOnFailure string
	// Acknowledges reports whether the notice's source wants to hear that
	// lifeboat is done (notice.Acknowledger).
	Acknowledges bool
	// Hook reports whether the notice carries an Auto Scaling lifecycle
	// action to complete.
	Hook bool
	// MaintenanceLead is how long before a scheduled reboot-type
	// maintenance (AWS instance-/system-reboot and system-maintenance, Azure
	// Reboot/Redeploy, GCP host maintenance) its drain starts; until then
	// the node only carries the at-risk taint (--maintenance-lead). 0 drains
	// at once.
	MaintenanceLead time.Duration
}

// Plan is what lifeboat does about one notice.
type Plan struct {
	// Action is what is done to the node.
	Action Action
	// DeleteNode: delete the Node object after the drain.
	DeleteNode bool
	// Deadline is when the drain must be done; zero for no deadline (only
	// possible for a voluntary drain with no VoluntaryTimeout).
	Deadline time.Time
	// OnDeadline is what the drain does with pods left at the deadline.
	OnDeadline OnDeadline
	// AwaitReady: wait until the instance's Node is Ready before finishing
	// (an Auto Scaling launch).
	AwaitReady bool
	// Finish is how the platform is told lifeboat is done.
	Finish Finish
	// HookResult and HookResultOnFailure are the lifecycle action results
	// when Finish is FinishCompleteHook.
	HookResult, HookResultOnFailure string
	// DrainAt, when set, defers the drain of a scheduled maintenance: until
	// then Action is ActionTaint (at risk) and the notice is not finished;
	// deciding again at or after DrainAt gives the drain.
	DrainAt time.Time
}

// Deferred reports a maintenance plan that only taints until DrainAt.
func (p Plan) Deferred() bool { return !p.DrainAt.IsZero() }

// OwnDeadline reports a plan whose deadline is lifeboat's own bound rather
// than the platform's (the machine is not known to go away at a time).
func (p Plan) OwnDeadline() bool { return p.OnDeadline == DeadlineGiveUp }

// Voluntary reports notice kinds whose drain can wait for a slot of the
// cluster's drain budget (--max-concurrent-drains): scheduled maintenance,
// rebalance recommendations, scale-in, a drain by hand. Spot interruptions,
// preemptions, terminations and host shutdowns cannot afford to wait; they
// still hold a slot while they run.
func Voluntary(k notice.Kind) bool {
	switch k {
	case notice.KindScheduledReboot, notice.KindScheduledTermination, notice.KindHostMaintenance,
		notice.KindRebalance, notice.KindASGTermination, notice.KindManual:
		return true
	}
	return false
}

// Decide returns the plan for notice n. now only matters for MinWindow.
func Decide(n notice.Notice, t Table, s Settings, now time.Time) Plan {
	p := Plan{Action: t.For(n), Finish: FinishNone, OnDeadline: s.onDeadline()}
	switch {
	case n.Canceled:
		return Plan{Action: ActionNone, Finish: FinishRelease}
	case n.Kind == KindASGLaunch:
		p.Action, p.AwaitReady = ActionNone, true
	}
	if at, ok := drainAt(n, s.MaintenanceLead); ok && p.Action.IsDrain() && now.Before(at) {
		p.Action, p.DrainAt, p.Deadline = ActionTaint, at, n.Deadline
		return p
	}
	if p.Action.IsDrain() {
		p.DeleteNode = p.Action == ActionDrainDelete && s.DeleteNode
		p.Deadline = EffectiveDeadline(n, s.NoticeTimeout)
		if p.Deadline.IsZero() && s.VoluntaryTimeout > 0 && !n.Detected.IsZero() {
			p.Deadline, p.OnDeadline = n.Detected.Add(s.VoluntaryTimeout), DeadlineGiveUp
		}
		if !p.Deadline.IsZero() && s.MinWindow > 0 && p.Deadline.Before(now.Add(s.MinWindow)) {
			p.Deadline = now.Add(s.MinWindow)
		}
	} else if p.Action.Marks() {
		// A taint or cordon records the notice's own deadline, if any.
		p.Deadline = n.Deadline
	}
	switch {
	case s.Hook:
		p.Finish, p.HookResult, p.HookResultOnFailure = FinishCompleteHook, ResultContinue, s.hookFailure()
	case s.Acknowledges && p.Action != ActionNone:
		p.Finish = FinishAcknowledge
	}
	return p
}

// drainAt is when the drain of a reboot-type scheduled maintenance starts:
// lead before its time. Retirements and other terminations drain at once
// (the hardware may be degraded), and so does maintenance without a time.
func drainAt(n notice.Notice, lead time.Duration) (time.Time, bool) {
	if lead <= 0 || n.Deadline.IsZero() {
		return time.Time{}, false
	}
	switch n.Kind {
	case notice.KindScheduledReboot, notice.KindHostMaintenance:
		return n.Deadline.Add(-lead), true
	}
	return time.Time{}, false
}

func (s Settings) onDeadline() OnDeadline {
	if s.OnDeadline == "" {
		return DeadlineDeletePods
	}
	return s.OnDeadline
}

func (s Settings) hookFailure() string {
	if s.HookResultOnFailure == "" {
		return ResultContinue
	}
	return s.HookResultOnFailure
}

// defaultNoticeTimeout applies when Settings.NoticeTimeout is 0.
const defaultNoticeTimeout = 5 * time.Minute

// meansSoon reports kinds whose notice means "soon" even when it carries no
// time (a scale-in, a termination, a host shutdown). Scheduled maintenance
// and rebalance recommendations without a time may be weeks away: a made-up
// fuse would delete PDB-blocked pods for nothing.
func meansSoon(k notice.Kind) bool {
	switch k {
	case notice.KindScheduledReboot, notice.KindScheduledTermination, notice.KindHostMaintenance, notice.KindRebalance:
		return false
	}
	return true
}

// EffectiveDeadline is when a notice's drain must be done: its own deadline,
// else detection plus noticeTimeout for kinds that mean "soon", else none.
// It depends on the notice alone (not on now), so recomputing a plan never
// moves a deadline.
func EffectiveDeadline(n notice.Notice, noticeTimeout time.Duration) time.Time {
	if noticeTimeout <= 0 {
		noticeTimeout = defaultNoticeTimeout
	}
	switch {
	case !n.Deadline.IsZero():
		return n.Deadline
	case meansSoon(n.Kind) && !n.Detected.IsZero():
		return n.Detected.Add(noticeTimeout)
	}
	return time.Time{}
}
