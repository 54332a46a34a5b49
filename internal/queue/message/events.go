// Package message parses the messages AWS delivers to lifeboat's queue and
// Lambda modes into notices — facts only; internal/decide decides what to
// do: EventBridge envelopes (EC2 spot interruption warnings, rebalance
// recommendations, instance state changes, AWS Health scheduled changes,
// Auto Scaling lifecycle actions), direct Auto Scaling lifecycle
// notifications (including TEST_NOTIFICATION) and either of them wrapped in
// an SNS notification. Lifecycle actions come with the hook to heartbeat and
// complete.
package message

import (
	"fmt"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// KindASGLaunch classifies an Auto Scaling launch lifecycle action.
const KindASGLaunch = notice.KindASGLaunch

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

// Event is one unit of work found in a message: a notice about one
// instance — facts only; what to do about it is decide.Decide's call.
type Event struct {
	// Notice describes the event. Notice.ID is notice.EventID where the
	// agent can derive the same ID (spot, rebalance, scale-in), so duplicates
	// fold and the two modes recognise each other's work; Notice.InstanceID
	// is always set. A closed AWS Health event is a Canceled notice.
	Notice notice.Notice
	// Hook is set for Auto Scaling lifecycle actions.
	Hook *Hook
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
