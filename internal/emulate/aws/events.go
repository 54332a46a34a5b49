package aws

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Spot instance actions.
const (
	SpotTerminate = "terminate"
	SpotStop      = "stop"
	SpotHibernate = "hibernate"
)

// Target lifecycle states an Auto Scaling group can set.
const (
	LifecycleInService  = "InService"
	LifecycleTerminated = "Terminated"
)

var lifecycleStates = []string{
	LifecycleInService, "Standby", "Detached", "Warmed:Stopped", "Warmed:Running", "Warmed:Hibernated",
	LifecycleTerminated,
}

// SpotTimeLayout is how IMDS writes spot and rebalance times.
const SpotTimeLayout = "2006-01-02T15:04:05Z"

// ValidationError reports a scheduling request that cannot be honoured.
type ValidationError struct {
	// Field names the offending request field.
	Field string
	// Problem says what is wrong with it.
	Problem string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Problem }

// SpotInterruption is a scheduled spot interruption.
type SpotInterruption struct {
	// Action is terminate, stop or hibernate.
	Action string `json:"action"`
	// NoticeTime is when spot/instance-action starts answering.
	NoticeTime time.Time `json:"noticeTime"`
	// Time is the interruption itself, the "time" field of instance-action.
	Time time.Time `json:"time"`
}

type spotState = SpotInterruption

// ScheduleSpot makes spot/instance-action (and spot/termination-time for
// terminate) answer `in` from now, announcing an interruption `warning`
// later (DefaultSpotWarning if zero). It replaces any earlier schedule.
func (s *Server) ScheduleSpot(in time.Duration, action string, warning time.Duration) (SpotInterruption, error) {
	if in < 0 {
		return SpotInterruption{}, &ValidationError{Field: "in", Problem: "must not be negative"}
	}
	if action == "" {
		action = SpotTerminate
	}
	if !slices.Contains([]string{SpotTerminate, SpotStop, SpotHibernate}, action) {
		return SpotInterruption{}, &ValidationError{Field: "action", Problem: "must be terminate, stop or hibernate"}
	}
	if warning <= 0 {
		warning = DefaultSpotWarning
	}
	notice := s.now().Add(in).Truncate(time.Second)
	sp := SpotInterruption{Action: action, NoticeTime: notice, Time: notice.Add(warning)}
	s.mu.Lock()
	s.spot = &sp
	s.mu.Unlock()
	return sp, nil
}

func (s *Server) spotActionLocked(now time.Time) (string, bool) {
	if s.spot == nil || now.Before(s.spot.NoticeTime) {
		return "", false
	}
	b, _ := json.Marshal(struct {
		Action string `json:"action"`
		Time   string `json:"time"`
	}{s.spot.Action, s.spot.Time.Format(SpotTimeLayout)})
	return string(b), true
}

// terminationTimeLocked serves the legacy spot/termination-time, which is
// only present for a terminate action.
func (s *Server) terminationTimeLocked(now time.Time) (string, bool) {
	if s.spot == nil || now.Before(s.spot.NoticeTime) || s.spot.Action != SpotTerminate {
		return "", false
	}
	return s.spot.Time.Format(SpotTimeLayout), true
}

// ScheduleRebalance makes events/recommendations/rebalance answer `in` from
// now; the returned time is its noticeTime.
func (s *Server) ScheduleRebalance(in time.Duration) (time.Time, error) {
	if in < 0 {
		return time.Time{}, &ValidationError{Field: "in", Problem: "must not be negative"}
	}
	t := s.now().Add(in).Truncate(time.Second)
	s.mu.Lock()
	s.rebal = &t
	s.mu.Unlock()
	return t, nil
}

func (s *Server) rebalanceLocked(now time.Time) (string, bool) {
	if s.rebal == nil || now.Before(*s.rebal) {
		return "", false
	}
	return `{"noticeTime":"` + s.rebal.Format(SpotTimeLayout) + `"}`, true
}

// ScheduleLifecycleState makes autoscaling/target-lifecycle-state answer
// state (e.g. LifecycleTerminated) from `in` from now on.
func (s *Server) ScheduleLifecycleState(state string, in time.Duration) error {
	if state == "" {
		state = LifecycleTerminated
	}
	if !slices.Contains(lifecycleStates, state) {
		return &ValidationError{Field: "state", Problem: fmt.Sprintf("must be one of %v", lifecycleStates)}
	}
	if in < 0 {
		return &ValidationError{Field: "in", Problem: "must not be negative"}
	}
	now := s.now()
	s.mu.Lock()
	s.asg = asgState{base: s.asg.at(now), next: state, when: now.Add(in)}
	s.mu.Unlock()
	return nil
}

// asgState is the current target lifecycle state and at most one change.
type asgState struct {
	base string
	next string // empty: no change scheduled
	when time.Time
}

func (a asgState) at(now time.Time) string {
	if a.next != "" && !now.Before(a.when) {
		return a.next
	}
	return a.base
}

// Reset forgets every scheduled event, fault and session token.
func (s *Server) Reset() {
	s.mu.Lock()
	s.spot, s.rebal, s.maint = nil, nil, nil
	s.asg = asgState{base: LifecycleInService}
	clear(s.tokens)
	s.faults.Reset()
	s.mu.Unlock()
}
