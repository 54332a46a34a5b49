// Package events turns the messages AWS delivers to lifeboat's queue and
// Lambda modes into notices: EventBridge envelopes (EC2 spot interruption
// warnings, rebalance recommendations, instance state changes, AWS Health
// scheduled changes, Auto Scaling lifecycle actions), direct Auto Scaling
// lifecycle notifications (including TEST_NOTIFICATION) and either of them
// wrapped in an SNS notification. Each notice comes with the action it calls
// for and, for lifecycle actions, the hook to heartbeat and complete.
package events

import (
	"fmt"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// Action is what an event asks lifeboat to do with the instance's node.
type Action string

// The actions an event can call for.
const (
	// ActionNone: nothing (a test notification, a state lifeboat does not act on).
	ActionNone Action = "none"
	// ActionDrain: cordon and drain, deleting the Node afterwards by policy.
	ActionDrain Action = "drain"
	// ActionRebalance: an elevated risk of interruption; what to do is the
	// consumer's rebalance policy (taint only by default).
	ActionRebalance Action = "rebalance"
	// ActionLaunch: wait until the instance's node is Ready, then complete
	// the launch lifecycle hook.
	ActionLaunch Action = "launch"
)

// KindASGLaunch classifies an Auto Scaling launch lifecycle action. It is not
// a reason to drain; it is here so a launch can be logged and recorded like
// any other notice.
const KindASGLaunch notice.Kind = "asg-launch"

// Lifecycle transitions of Auto Scaling lifecycle hooks.
const (
	TransitionTerminating = "autoscaling:EC2_INSTANCE_TERMINATING"
	TransitionLaunching   = "autoscaling:EC2_INSTANCE_LAUNCHING"
)

// Hook identifies one Auto Scaling lifecycle action, enough to heartbeat and
// complete it.
type Hook struct {
	// Name is the lifecycle hook's name.
	Name string `json:"LifecycleHookName"`
	// Group is the Auto Scaling group's name.
	Group string `json:"AutoScalingGroupName"`
	// Token identifies the lifecycle action.
	Token string `json:"LifecycleActionToken"`
	// InstanceID is the EC2 instance waiting in the hook.
	InstanceID string `json:"EC2InstanceId"`
	// Transition is TransitionTerminating or TransitionLaunching.
	Transition string `json:"LifecycleTransition"`
}

// Event is one unit of work found in a message: a notice about one instance.
type Event struct {
	// Notice describes the event; Notice.ID is the cloud event's id, so
	// duplicates of one event fold, and Notice.InstanceID is always set.
	Notice notice.Notice
	// Action is what the event asks for.
	Action Action
	// Hook is set for Auto Scaling lifecycle actions.
	Hook *Hook
	// DeleteNode reports that the instance is going away for good, so the
	// Node object may be deleted after the drain (if policy allows).
	DeleteNode bool
}

// Message is a parsed message body.
type Message struct {
	// Events lists the work the message asks for; empty when the message is
	// well formed but asks for nothing.
	Events []Event
	// Ignored says why a well-formed message asks for nothing
	// ("autoscaling:TEST_NOTIFICATION", "instance state running").
	Ignored string
	// DetailType is the EventBridge detail-type, or "Auto Scaling
	// notification" for direct notifications.
	DetailType string
}

// ParseError reports a message that is not one lifeboat understands. Callers
// treat it as a poison message: it will never parse, however often it is
// delivered.
type ParseError struct {
	// Reason says what is wrong.
	Reason string
	// Err is the underlying decoding error, if any.
	Err error
}

func (e *ParseError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("unparseable message: %s: %v", e.Reason, e.Err)
	}
	return "unparseable message: " + e.Reason
}

func (e *ParseError) Unwrap() error { return e.Err }

func parseErr(err error, format string, args ...any) *ParseError {
	return &ParseError{Reason: fmt.Sprintf(format, args...), Err: err}
}
