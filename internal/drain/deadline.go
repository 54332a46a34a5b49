package drain

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Bounds on a single API call, so that no call (nor client-go's own
// Retry-After loop inside it) can eat the time a deadline fallback needs.
const (
	// maxCallTimeout bounds every call made while a deadline is near.
	maxCallTimeout = 15 * time.Second
	// noDeadlineCallTimeout bounds every call of a drain without a deadline.
	noDeadlineCallTimeout = 30 * time.Second
	// minCallTimeout is the least time a call is given, even past a limit.
	minCallTimeout = 2 * time.Second
)

// timing is the deadline arithmetic of one drain, as pure functions of the
// current time: the grace period a pod gets, the moment a PDB-blocked pod
// must be deleted instead, when a later wave starts, and how long one API
// call may take.
type timing struct {
	// deadline is when the node goes away; zero for none.
	deadline time.Time
	// margin is kept free between a capped grace period and the deadline.
	margin time.Duration
	// override is Options.GracePeriodSeconds (-1: the pod's own).
	override int64
}

func newTiming(opts Options) timing {
	t := timing{deadline: opts.Deadline, margin: opts.SafetyMargin, override: opts.GracePeriodSeconds}
	if t.margin <= 0 {
		t.margin = DefaultSafetyMargin
	}
	return t
}

// ownGrace is the grace period a pod would get without a deadline: the
// override, else the pod's own. A grace period of 0 is never asked for (it
// makes the API server forget the pod at once, before its containers stop,
// so a StatefulSet could run the same identity twice): it becomes 1, as
// kubectl delete does without --force.
func (t timing) ownGrace(p *corev1.Pod) int64 {
	g := int64(corev1.DefaultTerminationGracePeriodSeconds)
	switch {
	case t.override >= 0:
		g = t.override
	case p.Spec.TerminationGracePeriodSeconds != nil:
		g = *p.Spec.TerminationGracePeriodSeconds
	}
	return max(g, 1)
}

// grace is the grace period to request at now: nil for the pod's own,
// otherwise the override, capped so that it ends margin before the
// deadline (and never below 1 s).
func (t timing) grace(now time.Time, p *corev1.Pod) *int64 {
	own := t.ownGrace(p)
	var g *int64
	if t.override >= 0 || (p.Spec.TerminationGracePeriodSeconds != nil && *p.Spec.TerminationGracePeriodSeconds < 1) {
		g = &own
	}
	if t.deadline.IsZero() {
		return g
	}
	avail := max(int64(t.deadline.Sub(now)-t.margin)/int64(time.Second), 1)
	if own > avail {
		return &avail
	}
	return g
}

// fallbackAt is the last moment a blocked pod can wait and still get its
// own grace period before the deadline; zero without a deadline. One second
// of slack covers grace periods being whole seconds.
func (t timing) fallbackAt(p *corev1.Pod) time.Time {
	if t.deadline.IsZero() {
		return time.Time{}
	}
	return t.deadline.Add(-t.margin - time.Second - time.Duration(t.ownGrace(p))*time.Second)
}

// waveStart is when a later wave starts even though the earlier one is not
// done: the fallback point of its pod with the longest grace period, so
// that every pod of the wave can still get its own. Zero without a deadline.
func (t timing) waveStart(pods []corev1.Pod) time.Time {
	var start time.Time
	for i := range pods {
		if at := t.fallbackAt(&pods[i]); start.IsZero() || at.Before(start) {
			start = at
		}
	}
	return start
}

// podCallLimit is the moment an API call about p must be over: its fallback
// point, or once that has passed, the end of the usable time before the
// deadline. Zero without a deadline.
func (t timing) podCallLimit(now time.Time, p *corev1.Pod) time.Time {
	at := t.fallbackAt(p)
	if at.IsZero() || now.Before(at) {
		return at
	}
	return t.deadline.Add(-t.margin)
}

// callTimeout is how long one API call made at now may take when it must be
// over by limit (zero: no limit): never more than maxCallTimeout (or
// noDeadlineCallTimeout without a limit) and never less than minCallTimeout.
func callTimeout(now, limit time.Time) time.Duration {
	if limit.IsZero() {
		return noDeadlineCallTimeout
	}
	return min(maxCallTimeout, max(limit.Sub(now), minCallTimeout))
}

// retryDelay is the wait before retry number attempt (0-based) of a failed
// call: exponential from 250 ms, capped at 5 s, and never past limit (zero:
// no limit).
func retryDelay(now, limit time.Time, attempt int) time.Duration {
	d := 5 * time.Second
	if attempt < 5 {
		d = min(d, 250*time.Millisecond<<attempt)
	}
	if !limit.IsZero() {
		d = min(d, max(limit.Sub(now), 0))
	}
	return d
}
