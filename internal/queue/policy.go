package queue

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/queue/events"
)

// RebalanceAction is what to do on a rebalance recommendation.
type RebalanceAction string

// The rebalance policies.
const (
	RebalanceTaint  RebalanceAction = "taint"  // add TaintRebalance (PreferNoSchedule) only
	RebalanceCordon RebalanceAction = "cordon" // cordon, no eviction
	RebalanceDrain  RebalanceAction = "drain"  // cordon and drain (the Node is kept)
	RebalanceIgnore RebalanceAction = "ignore" // log only
)

// Lifecycle action results.
const (
	ResultContinue = "CONTINUE"
	ResultAbandon  = "ABANDON"
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

// Policy decides what lifeboat does for each event. The zero value is not
// useful; start from DefaultPolicy.
type Policy struct {
	// Drain is the template for every drain: Force, DeleteEmptyDirData,
	// GracePeriodSeconds, OnDeadline, MaxConcurrency, SafetyMargin. The
	// notice fills Deadline, Reason, NoticeID, NoticeKind and DeleteNode.
	Drain drain.Options
	// DeleteNode deletes the Node after draining an instance that is gone
	// for good (termination, scale-in); never for stop, hibernate or reboot.
	DeleteNode bool
	// Taint adds TaintGoingAway=<kind>:NoSchedule on cordon, unless
	// Drain.Taint names another taint.
	Taint bool
	// Rebalance is the action for rebalance recommendations.
	Rebalance RebalanceAction
	// OnDrainFailure is the lifecycle result (CONTINUE or ABANDON) sent when
	// a drain ends incomplete.
	OnDrainFailure string
	// HookDrainTimeout is the deadline of a drain for a terminate lifecycle
	// hook (which has no deadline of its own); 0 means none.
	HookDrainTimeout time.Duration
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
		Taint:             true,
		Rebalance:         RebalanceTaint,
		OnDrainFailure:    ResultContinue,
		HookDrainTimeout:  15 * time.Minute,
		HeartbeatInterval: 30 * time.Second,
		LaunchTimeout:     10 * time.Minute,
		OnLaunchTimeout:   ResultAbandon,
		MaxAttempts:       5,
	}
}

// Validate checks the policy; messages name the flag that sets each field.
func (p *Policy) Validate() error {
	switch p.Rebalance {
	case RebalanceTaint, RebalanceCordon, RebalanceDrain, RebalanceIgnore:
	default:
		return fmt.Errorf("--on-rebalance must be taint, cordon, drain or ignore, got %q", p.Rebalance)
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
	if p.HookDrainTimeout < 0 {
		return fmt.Errorf("--hook-drain-timeout must not be negative, got %s", p.HookDrainTimeout)
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

// drainOptions builds the drain options for an event at time now.
func (p *Policy) drainOptions(ev *events.Event, now time.Time, deleteNode bool) drain.Options {
	o := p.Drain
	n := ev.Notice
	o.Deadline = n.Deadline
	if o.Deadline.IsZero() && ev.Hook != nil && p.HookDrainTimeout > 0 {
		o.Deadline = now.Add(p.HookDrainTimeout)
	}
	// A deadline already (nearly) past — an instance already stopping, a
	// notice redelivered late — still gets a short window, so pods get a
	// capped graceful shutdown instead of none.
	if !o.Deadline.IsZero() && o.Deadline.Before(now.Add(MinDrainWindow)) {
		o.Deadline = now.Add(MinDrainWindow)
	}
	o.Reason, o.NoticeID, o.NoticeKind = n.Reason, n.ID, string(n.Kind)
	o.DeleteNode = deleteNode && p.DeleteNode && ev.DeleteNode
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
