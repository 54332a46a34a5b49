package notify

import (
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
	"github.com/lifeboat-dev/lifeboat/internal/report"
)

// The mapping from reports to messages: pure functions of one report (and,
// for drain steps, the facts of its notice). Cluster and expiry are added
// by Observer.send.

// noticeFacts copies the notice facts every message of its lifecycle shows.
func noticeFacts(n notice.Notice) notifier.Message {
	return notifier.Message{
		Lifecycle: lifecycle(n.Node, n.ID),
		Node:      n.Node, Trigger: n.Source, Kind: string(n.Kind), NoticeID: n.ID, Reason: n.Reason,
		Deadline: n.Deadline, InstanceID: n.InstanceID, InstanceType: n.Attributes["instance-type"],
		Region: n.Attributes["region"], Zone: n.Attributes["zone"],
	}
}

// noticeMessage is "notice received" or, for a withdrawal, "notice
// withdrawn", at now.
func noticeMessage(n notice.Notice, now time.Time) notifier.Message {
	m := noticeFacts(n)
	m.Step, m.Time, m.Text = string(drain.StepNoticeReceived), now, noticeText(n, now)
	if n.Canceled {
		m.Step = string(drain.StepNoticeCanceled)
	}
	return m
}

// finishMessage says how lifeboat finished the notice; FinishDone is not
// worth a message (the drain's steps told it).
func finishMessage(n notice.Notice, f report.Finish, now time.Time) (notifier.Message, bool) {
	step, ok := f.Kind.Step()
	if !ok {
		return notifier.Message{}, false
	}
	if n.Node == "" {
		n.Node = f.Node
	}
	m := noticeFacts(n)
	m.Time, m.Text = now, finishText(n, f)
	m.Step = string(step)
	if f.Err != nil {
		m.Error = f.Err.Error()
	}
	return m, true
}

// messageSteps are the drain steps worth a message.
var messageSteps = map[drain.StepType]bool{
	drain.StepCordoned:         true,
	drain.StepUncordoned:       true,
	drain.StepDrainStarted:     true,
	drain.StepDeadlineFallback: true,
	drain.StepDrained:          true,
	drain.StepDrainFailed:      true,
	drain.StepNodeDeleted:      true,
	drain.StepWouldDrain:       true, // --dry-run: what lifeboat would do
	drain.StepWouldMark:        true,
	// A voluntary drain waits for the drain budget; volumes that did not
	// detach in time.
	drain.StepWaitingForBudget:     true,
	drain.StepVolumesStillAttached: true,
}

// stepMessage is the message for a drain step, if it deserves one: base
// holds the facts of the step's notice (zero when unknown). Of the
// deadline fallbacks only the drain's first is sent.
func stepMessage(e drain.Step, base notifier.Message, now time.Time) (notifier.Message, bool) {
	if !messageSteps[e.Type] || (e.Type == drain.StepDeadlineFallback && e.Progress.Fallbacks > 1) {
		return notifier.Message{}, false
	}
	m := base
	m.Lifecycle, m.Node, m.NoticeID = lifecycle(e.Node, e.NoticeID), e.Node, e.NoticeID
	if m.Kind == "" {
		m.Kind = e.NoticeKind
	}
	if m.Deadline.IsZero() {
		m.Deadline = e.Progress.Deadline
	}
	m.Step, m.Time = string(e.Type), now
	if e.Progress.Total > 0 {
		m.PodsTotal, m.PodsLeft = e.Progress.Total, e.Progress.Left
	}
	if r := e.Result; r != nil {
		m.PodsTotal, m.PodsEvicted, m.PodsDeleted = r.Pods, r.Evicted, r.Deleted
		m.PodsLeft, m.Fallbacks, m.Duration = len(r.Left), r.Fallbacks, r.Duration
	}
	m.Result = string(e.Outcome)
	if e.Err != nil {
		m.Error = e.Err.Error()
	}
	m.Text = stepText(e, m)
	return m, true
}
