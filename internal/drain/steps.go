package drain

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// StepType names a step of a node's lifecycle. The values are stable: they
// are the Kubernetes Event reasons, the notification steps and the log's
// "step" values, so users can filter on them.
type StepType string

// The steps the drain engine reports to its Observer.
const (
	StepCordoned         StepType = "Cordoned"
	StepUncordoned       StepType = "Uncordoned"
	StepDrainStarted     StepType = "DrainStarted"
	StepPodEvicted       StepType = "PodEvicted"      // eviction accepted
	StepPodGone          StepType = "PodGone"         // pod object removed
	StepPodBlocked       StepType = "PodBlockedByPDB" // eviction answered 429
	StepDeadlineFallback StepType = "DeadlineFallback"
	StepPodDeleted       StepType = "PodDeleted" // finished pod or fallback deletion
	StepDrained          StepType = "Drained"
	StepDrainFailed      StepType = "DrainFailed"
	StepNodeDeleted      StepType = "NodeDeleted"
	StepLeftoversRemoved StepType = "ShutdownLeftoversRemoved"
	StepEvictionFailed   StepType = "EvictionFailed"
)

// The steps around a drain that its caller reports (through
// report.Reporter); the engine never emits them. They share the vocabulary
// so that Events, notifications and logs name every step one way.
const (
	// StepNoticeReceived: a notice says the node is going away.
	StepNoticeReceived StepType = "NoticeReceived"
	// StepNoticeCanceled: the platform withdrew the notice.
	StepNoticeCanceled StepType = "NoticeCanceled"
	// StepAcknowledged: the platform was told lifeboat is done.
	StepAcknowledged StepType = "Acknowledged"
	// StepHookCompleted: an Auto Scaling lifecycle action was completed.
	StepHookCompleted StepType = "HookCompleted"
	// StepReleased: lifeboat undid what it did for a withdrawn notice.
	StepReleased StepType = "Released"
)

// Outcome classifies how a drain ended. The values are the "result" label
// of lifeboat_drains_total and the result of notifications.
type Outcome string

// The outcomes of a drain.
const (
	// OutcomeSucceeded: every pod that had to go was evicted or deleted
	// without a deadline fallback.
	OutcomeSucceeded Outcome = "succeeded"
	// OutcomeFallback: the node is empty, but some PDB-blocked pods were
	// deleted because of the deadline.
	OutcomeFallback Outcome = "fallback"
	// OutcomeIncomplete: the drain ended with pods left on the node.
	OutcomeIncomplete Outcome = "incomplete"
	// OutcomeFailed: the drain returned an error.
	OutcomeFailed Outcome = "failed"
	// OutcomeMissing: the node did not exist and that was allowed.
	OutcomeMissing Outcome = "missing"
	// OutcomeDryRun: a dry run that only computed the plan.
	OutcomeDryRun Outcome = "dry_run"
)

// Outcomes lists every Outcome.
var Outcomes = []Outcome{OutcomeSucceeded, OutcomeFallback, OutcomeIncomplete, OutcomeFailed, OutcomeMissing, OutcomeDryRun}

// Outcome classifies a drain that returned this result; a drain that
// returned an error is OutcomeFailed whatever its result.
func (r *Result) Outcome() Outcome {
	switch {
	case r == nil:
		return OutcomeSucceeded
	case r.Missing:
		return OutcomeMissing
	case len(r.Plan) > 0:
		return OutcomeDryRun
	case !r.Complete():
		return OutcomeIncomplete
	case r.Fallbacks > 0:
		return OutcomeFallback
	default:
		return OutcomeSucceeded
	}
}

// Progress is a snapshot of a running drain, taken together with the
// change the step reports (so "first" questions have one answer).
type Progress struct {
	// Total pods the drain set out to remove.
	Total int
	// Left is how many of them still exist.
	Left int
	// Blocked maps "namespace/pod" to the PDB currently blocking it.
	Blocked map[string]string
	// Fallbacks counts pods deleted by the deadline fallback so far; on a
	// StepDeadlineFallback it includes that pod, so 1 marks the first.
	Fallbacks int
	// Deadline of the drain, zero if none.
	Deadline time.Time
}

// FirstBlockBy reports whether, on a StepPodBlocked, no other pod is
// blocked by the same PDB: the budget has just started blocking the drain.
func (p Progress) FirstBlockBy(pod, pdb string) bool {
	for k, b := range p.Blocked {
		if b == pdb && k != pod {
			return false
		}
	}
	return true
}

// Step is one step of a drain, delivered to an Observer. It carries every
// fact a reporter needs, so reporters map steps without remembering
// earlier ones.
type Step struct {
	Type StepType
	Time time.Time
	Node string
	// NoticeID and NoticeKind are the drain's Options.NoticeID and
	// NoticeKind (empty for a drain without a notice); on the Uncordoned
	// step of Release, the notice released.
	NoticeID   string
	NoticeKind string
	// Pod is "namespace/name" for pod-level steps, PodUID that pod's UID
	// (Events on a pod carry it, or `kubectl describe pod` does not show them).
	Pod    string
	PodUID types.UID
	// PDB is "namespace/name" of the blocking budget for StepPodBlocked and
	// StepDeadlineFallback.
	PDB string
	// Fallback is set on StepDeadlineFallback and on the StepPodDeleted of
	// a pod deleted because of the deadline (not a finished pod).
	Fallback bool
	// GracePeriodSeconds used for an eviction or deletion, when relevant.
	GracePeriodSeconds int64
	// BlockedFor is how long the pod was blocked by a PDB, on the step
	// that ended the block (PodEvicted, PodDeleted, PodGone); on
	// Drained and DrainFailed, the summed time of pods still blocked when
	// the drain ended.
	BlockedFor time.Duration
	// Message is a human-readable description.
	Message string
	// Progress at the time of the step.
	Progress Progress
	// Result is set on StepDrained and StepDrainFailed.
	Result *Result
	// Outcome is set on StepDrained and StepDrainFailed.
	Outcome Outcome
	// Err is set on failure steps.
	Err error
}

// Observer receives drain steps. Observe is called synchronously from the
// drain's goroutines and must return quickly (hand off anything slow).
type Observer interface {
	Observe(Step)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Step)

// Observe calls f(e).
func (f ObserverFunc) Observe(e Step) { f(e) }

// Observers fans a step out to several observers.
type Observers []Observer

// Observe calls every observer in order.
func (os Observers) Observe(e Step) {
	for _, o := range os {
		if o != nil {
			o.Observe(e)
		}
	}
}
