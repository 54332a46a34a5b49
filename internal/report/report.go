// Package report is the one seam through which lifeboat tells people what
// happened: every mode (agent, queue, Lambda, `lifeboat drain`) reports
// notices, drain steps and how each notice was finished to one Reporter,
// which fans out to Kubernetes Events, metrics and notifications.
package report

import (
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// FinishKind says how lifeboat told the platform it is done with a notice.
type FinishKind string

// The ways a notice is finished.
const (
	// FinishDone: the action for the notice is done (or, with Err, failed
	// for good) and the notice is recorded as handled.
	FinishDone FinishKind = "done"
	// FinishAcknowledged: the platform was acknowledged (Azure StartRequests).
	FinishAcknowledged FinishKind = "acknowledged"
	// FinishHookCompleted: an Auto Scaling lifecycle action was completed
	// with Finish.Result (CONTINUE or ABANDON).
	FinishHookCompleted FinishKind = "hook-completed"
	// FinishReleased: the notice was withdrawn or canceled and lifeboat undid
	// what it had done for it (uncordon, untaint).
	FinishReleased FinishKind = "released"
)

// Step is the step that reports a finish of kind k to people (the
// Kubernetes Event reason and notification step): Acknowledged,
// HookCompleted or Released. FinishDone has none ("", ok false): the drain
// steps already told its story; only metrics count it.
func (k FinishKind) Step() (drain.StepType, bool) {
	switch k {
	case FinishAcknowledged:
		return drain.StepAcknowledged, true
	case FinishHookCompleted:
		return drain.StepHookCompleted, true
	case FinishReleased:
		return drain.StepReleased, true
	default:
		return "", false
	}
}

// Finish is how one notice ended.
type Finish struct {
	// Kind is how it ended.
	Kind FinishKind
	// Node is the node the notice was about, when known.
	Node string
	// Result is the lifecycle action result for FinishHookCompleted.
	Result string
	// Err is set when telling the platform failed for good.
	Err error
}

// Reporter receives what happened. Every method is called synchronously from
// the acting goroutine and must return quickly (hand off anything slow).
type Reporter interface {
	// Observe receives each drain step.
	drain.Observer
	// NoticeReceived is called once per notice (and per withdrawal, with
	// n.Canceled set) after it was decided on.
	NoticeReceived(n notice.Notice)
	// Finished is called when lifeboat told the platform it is done with a
	// notice, or released what it did for it.
	Finished(n notice.Notice, f Finish)
}

// Fanout reports to every Reporter in order; nil entries are skipped.
type Fanout []Reporter

var _ Reporter = Fanout(nil)

// Observe passes a drain step to every reporter.
func (fs Fanout) Observe(e drain.Step) {
	for _, r := range fs {
		if r != nil {
			r.Observe(e)
		}
	}
}

// NoticeReceived passes a notice to every reporter.
func (fs Fanout) NoticeReceived(n notice.Notice) {
	for _, r := range fs {
		if r != nil {
			r.NoticeReceived(n)
		}
	}
}

// Finished passes a finished notice to every reporter.
func (fs Fanout) Finished(n notice.Notice, f Finish) {
	for _, r := range fs {
		if r != nil {
			r.Finished(n, f)
		}
	}
}

// Discard is a Reporter that drops everything.
type Discard struct{}

// Observe does nothing.
func (Discard) Observe(drain.Step) {}

// NoticeReceived does nothing.
func (Discard) NoticeReceived(notice.Notice) {}

// Finished does nothing.
func (Discard) Finished(notice.Notice, Finish) {}
