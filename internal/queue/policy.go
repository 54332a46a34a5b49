package queue

import (
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/lifeboat-dev/lifeboat/internal/decide"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/queue/message"
)

// RebalanceAction is the --on-rebalance shorthand for the action on a
// rebalance recommendation (--action rebalance-recommendation=ACTION).
type RebalanceAction string

// The rebalance shorthands.
const (
	RebalanceTaint  RebalanceAction = "taint"  // add TaintRebalance (PreferNoSchedule) only
	RebalanceCordon RebalanceAction = "cordon" // cordon, no eviction
	RebalanceDrain  RebalanceAction = "drain"  // cordon and drain (the Node is kept)
	RebalanceIgnore RebalanceAction = "ignore" // log only
)

// Action is the table action a shorthand stands for.
func (r RebalanceAction) Action() (decide.Action, error) {
	switch r {
	case RebalanceTaint, RebalanceCordon, RebalanceDrain:
		return decide.Action(r), nil
	case RebalanceIgnore:
		return decide.ActionNone, nil
	}
	return "", fmt.Errorf("--on-rebalance must be taint, cordon, drain or ignore, got %q", r)
}

// Lifecycle action results.
const (
	ResultContinue = decide.ResultContinue
	ResultAbandon  = decide.ResultAbandon
)

// Taint keys lifeboat's queue mode sets.
const (
	// TaintRebalance marks a node with a rebalance recommendation so the
	// scheduler prefers other nodes.
	TaintRebalance = drain.TaintAtRisk
	// TaintGoingAway is added on cordon; its value is the notice kind.
	TaintGoingAway = "lifeboat.dev/going-away"
)

// MinDrainWindow is the least time a drain is given before its deadline.
const MinDrainWindow = 15 * time.Second

// Policy is the operator's choices for queue and Lambda mode: the action
// table and settings decide.Decide plans each event with, and how the plan
// is carried out. The zero value is not useful; start from DefaultPolicy.
type Policy struct {
	// Drain is the template for every drain: Force, DeleteEmptyDirData,
	// GracePeriodSeconds, OnDeadline, MaxConcurrency, SafetyMargin. The
	// plan fills Deadline, Reason, NoticeID, NoticeKind and DeleteNode.
	Drain drain.Options
	// Actions maps notice kinds to actions (--action, --on-rebalance).
	Actions decide.Table
	// DeleteNode deletes the Node after draining an instance that is gone
	// for good (termination, scale-in); never for stop, hibernate or reboot.
	DeleteNode bool
	// Taint adds TaintGoingAway=<kind>:NoSchedule on cordon, unless
	// Drain.Taint names another taint.
	Taint bool
	// OnDrainFailure is the lifecycle result (CONTINUE or ABANDON) sent when
	// a drain ends incomplete.
	OnDrainFailure string
	// HookDrainTimeout is the deadline, from detection, of a drain whose
	// notice means "soon" but carries no time (a terminate lifecycle hook).
	HookDrainTimeout time.Duration
	// VoluntaryDrainTimeout bounds, from detection, a drain whose notice has
	// no deadline (a rebalance recommendation with --on-rebalance=drain), so
	// it never holds a worker forever; at the bound it gives up.
	VoluntaryDrainTimeout time.Duration
	// NotAfter, when set, is the latest deadline any drain gets (Lambda: the
	// invocation's deadline minus a margin).
	NotAfter time.Time
	// MaintenanceLead is how long before a reboot-type scheduled
	// maintenance its drain starts; until then the node is only tainted at
	// risk (--maintenance-lead). 0 drains at once.
	MaintenanceLead time.Duration
	// AtRiskTTL is how long queue mode's rebalance taint stays when no
	// interruption follows (--at-risk-ttl; 0: until released).
	AtRiskTTL time.Duration
	// NodeWait is how long after a notice was issued a Node not found for
	// its instance is looked for again (the informer may lag, or the Node
	// may be joining) before the event is finished as node-not-found.
	NodeWait time.Duration
	// HeartbeatInterval is how often a waiting lifecycle action is
	// heartbeated; it must be below the hook's HeartbeatTimeout.
	HeartbeatInterval time.Duration
	// LaunchTimeout bounds the wait for a launching instance's Node to be Ready.
	LaunchTimeout time.Duration
	// OnLaunchTimeout is the lifecycle result sent when LaunchTimeout passes.
	OnLaunchTimeout string
	// PrivateDNSFallback looks an instance's Node up by its EC2 private DNS
	// name (DescribeInstances) when no Node has its providerID.
	PrivateDNSFallback bool
	// ManagedTag, "key" or "key=value", restricts lifeboat to instances that
	// carry the tag (checked with DescribeInstances); empty manages all.
	ManagedTag string
	// MaxAttempts is how many deliveries of a message may fail with a
	// transient error before its work is given up as failed; 0 is unlimited.
	MaxAttempts int
}

// DefaultPolicy returns queue mode's defaults.
func DefaultPolicy() Policy {
	return Policy{
		Drain: drain.Options{
			Force: true, DeleteEmptyDirData: true, GracePeriodSeconds: -1, OnDeadline: drain.OnDeadlineDelete,
		},
		Actions:               decide.DefaultTable(),
		Taint:                 true,
		OnDrainFailure:        ResultContinue,
		HookDrainTimeout:      15 * time.Minute,
		VoluntaryDrainTimeout: 30 * time.Minute,
		NodeWait:              time.Minute,
		MaintenanceLead:       15 * time.Minute,
		AtRiskTTL:             6 * time.Hour,
		HeartbeatInterval:     30 * time.Second,
		LaunchTimeout:         10 * time.Minute,
		OnLaunchTimeout:       ResultAbandon,
		MaxAttempts:           5,
	}
}

// Validate checks the policy; messages name the flag that sets each field.
func (p *Policy) Validate() error {
	if p.Actions == nil {
		return errors.New("the action table is not set")
	}
	for flag, v := range map[string]string{"--on-drain-failure": p.OnDrainFailure, "--on-launch-timeout": p.OnLaunchTimeout} {
		if v != ResultContinue && v != ResultAbandon {
			return fmt.Errorf("%s must be continue or abandon, got %q", flag, strings.ToLower(v))
		}
	}
	if p.HeartbeatInterval <= 0 {
		return fmt.Errorf("--heartbeat-interval must be positive, got %s", p.HeartbeatInterval)
	}
	if p.LaunchTimeout <= 0 {
		return fmt.Errorf("--launch-timeout must be positive, got %s", p.LaunchTimeout)
	}
	if p.HookDrainTimeout <= 0 {
		return fmt.Errorf("--hook-drain-timeout must be positive (every drain has a deadline), got %s", p.HookDrainTimeout)
	}
	if p.VoluntaryDrainTimeout <= 0 {
		return fmt.Errorf("--voluntary-drain-timeout must be positive (every drain has a deadline), got %s", p.VoluntaryDrainTimeout)
	}
	if p.MaintenanceLead < 0 || p.AtRiskTTL < 0 {
		return fmt.Errorf("--maintenance-lead and --at-risk-ttl must not be negative, got %s and %s", p.MaintenanceLead, p.AtRiskTTL)
	}
	if p.NodeWait < 0 {
		return fmt.Errorf("--node-wait must not be negative, got %s", p.NodeWait)
	}
	if p.Drain.OnDeadline != drain.OnDeadlineDelete && p.Drain.OnDeadline != drain.OnDeadlineAbort {
		return fmt.Errorf("--on-deadline must be delete or abort, got %q", p.Drain.OnDeadline)
	}
	if p.ManagedTag != "" && strings.HasPrefix(p.ManagedTag, "=") {
		return fmt.Errorf("--managed-tag must be key or key=value, got %q", p.ManagedTag)
	}
	if p.MaxAttempts < 0 {
		return fmt.Errorf("--max-attempts must not be negative, got %d", p.MaxAttempts)
	}
	return nil
}

// decide plans event ev at time now (decide.Decide with queue mode's
// settings), capped by NotAfter.
func (p *Policy) decide(ev *message.Event, now time.Time) decide.Plan {
	s := decide.Settings{
		DeleteNode: p.DeleteNode, NoticeTimeout: p.HookDrainTimeout, VoluntaryTimeout: p.VoluntaryDrainTimeout,
		MinWindow: MinDrainWindow, OnDeadline: decide.OnDeadline(p.Drain.OnDeadline),
		HookResultOnFailure: p.OnDrainFailure, Hook: ev.Hook != nil, MaintenanceLead: p.MaintenanceLead,
	}
	plan := decide.Decide(ev.Notice, p.Actions, s, now)
	if !p.NotAfter.IsZero() && plan.Action.IsDrain() && (plan.Deadline.IsZero() || plan.Deadline.After(p.NotAfter)) {
		plan.Deadline = p.NotAfter
	}
	return plan
}

// drainOptions builds the options that carry out plan for event ev.
func (p *Policy) drainOptions(ev *message.Event, plan decide.Plan, actor string) drain.Options {
	o := p.Drain
	n := ev.Notice
	o.Deadline = plan.Deadline
	if plan.OnDeadline == decide.DeadlineGiveUp {
		o.OnDeadline = drain.OnDeadlineAbort
	}
	o.Reason, o.NoticeID, o.NoticeKind, o.Actor = n.Reason, n.ID, string(n.Kind), actor
	o.Voluntary = decide.Voluntary(n.Kind)
	o.DeleteNode = plan.DeleteNode
	o.IgnoreMissing = true
	if p.Taint && o.Taint == nil {
		o.Taint = &corev1.Taint{Key: TaintGoingAway, Value: string(n.Kind), Effect: corev1.TaintEffectNoSchedule}
	}
	return o
}

// managedTag splits ManagedTag into key and optional value.
func (p *Policy) managedTag() (key, value string, hasValue bool) {
	key, value, hasValue = strings.Cut(p.ManagedTag, "=")
	return key, value, hasValue
}
