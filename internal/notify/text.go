package notify

import (
	"fmt"
	"strings"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
	"github.com/lifeboat-dev/lifeboat/internal/report"
)

// maxListedPods bounds how many left-over pods a message names.
const maxListedPods = 5

// noticeText describes a notice: "spot-interruption from aws (reason),
// deadline 12:02:00 UTC (in 1m55s)".
func noticeText(n notice.Notice, now time.Time) string {
	var b strings.Builder
	if n.Canceled {
		b.WriteString("notice withdrawn: ")
	} else {
		b.WriteString("going away: ")
	}
	fmt.Fprintf(&b, "%s from %s", orUnknown(string(n.Kind)), orUnknown(n.Source))
	if n.Reason != "" {
		fmt.Fprintf(&b, " (%s)", n.Reason)
	}
	if !n.Canceled {
		b.WriteString(deadlineText(n.Deadline, now))
	}
	return b.String()
}

// deadlineText is ", deadline 15:04:05 UTC (in 1m55s)" or "".
func deadlineText(deadline, now time.Time) string {
	if deadline.IsZero() {
		return ""
	}
	s := ", deadline " + deadline.UTC().Format("15:04:05 MST")
	if left := deadline.Sub(now).Round(time.Second); left > 0 {
		s += " (in " + left.String() + ")"
	} else {
		s += " (passed)"
	}
	return s
}

// stepText describes a drain step, using the filled-in message m.
func stepText(e drain.Step, m notifier.Message) string {
	switch e.Type {
	case drain.StepCordoned:
		if m.Reason == "" && e.Message != "" {
			return e.Message // the engine's "cordoned: <--reason>"
		}
		return withReason("cordoned", m.Reason)
	case drain.StepUncordoned:
		return "uncordoned: the node accepts pods again"
	case drain.StepDrainStarted:
		return fmt.Sprintf("draining %d pods%s", e.Progress.Total, deadlineText(m.Deadline, m.Time))
	case drain.StepDeadlineFallback:
		s := "deadline close: deleting PDB-blocked pods instead of waiting for their budgets"
		if e.Pod != "" {
			s += fmt.Sprintf(" (first: %s, PDB %s)", e.Pod, orUnknown(e.PDB))
		}
		return s
	case drain.StepNodeDeleted:
		return "Node object deleted"
	case drain.StepWouldDrain, drain.StepWouldMark, drain.StepWaitingForBudget, drain.StepVolumesStillAttached:
		return e.Message // the engine's own sentence: "dry run: would drain node ...", "waiting for a drain slot ..."
	case drain.StepDrainFailed:
		return failedText(e, m)
	default:
		return drainedText(e, m)
	}
}

func drainedText(e drain.Step, m notifier.Message) string {
	switch drain.Outcome(m.Result) {
	case drain.OutcomeMissing:
		return "node not found: nothing to drain"
	case drain.OutcomeDryRun:
		return fmt.Sprintf("dry run: %d steps planned", len(e.Result.Plan))
	}
	s := fmt.Sprintf("drained in %s: %d evicted, %d deleted", m.Duration.Round(time.Second), m.PodsEvicted, m.PodsDeleted)
	if m.Fallbacks > 0 {
		s += fmt.Sprintf(" (%d by deadline fallback)", m.Fallbacks)
	}
	return s + leftText(e.Result)
}

func failedText(e drain.Step, m notifier.Message) string {
	s := "drain failed"
	if m.Duration > 0 {
		s += " after " + m.Duration.Round(time.Second).String()
	}
	if m.Error != "" {
		s += ": " + m.Error
	}
	return s + leftText(e.Result)
}

// leftText is ", 2 left: ns/a, ns/b" or "".
func leftText(r *drain.Result) string {
	if r == nil || len(r.Left) == 0 {
		return ""
	}
	names := make([]string, 0, maxListedPods)
	for i, p := range r.Left {
		if i == maxListedPods {
			names = append(names, "...")
			break
		}
		names = append(names, p.String())
	}
	return fmt.Sprintf(", %d left: %s", len(r.Left), strings.Join(names, ", "))
}

func withReason(s, reason string) string {
	if reason == "" {
		return s
	}
	return s + " (" + reason + ")"
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// finishText describes how a notice was finished.
func finishText(n notice.Notice, f report.Finish) string {
	to := orUnknown(n.Source)
	switch {
	case f.Kind == report.FinishHookCompleted && f.Err != nil:
		return "completing the lifecycle action failed: " + f.Err.Error()
	case f.Kind == report.FinishHookCompleted:
		return "completed the lifecycle action with " + orUnknown(f.Result)
	case f.Kind == report.FinishReleased && f.Err != nil:
		return "undoing lifeboat's changes for the withdrawn notice failed: " + f.Err.Error()
	case f.Kind == report.FinishReleased:
		return "released: lifeboat undid its changes for the withdrawn notice"
	case f.Err != nil:
		return "acknowledging the notice to " + to + " failed: " + f.Err.Error()
	default:
		return "acknowledged the notice to " + to + ": the platform may proceed"
	}
}
