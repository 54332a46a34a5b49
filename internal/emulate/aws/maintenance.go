package aws

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Maintenance event codes and states, as IMDS spells them.
const (
	CodeInstanceReboot     = "instance-reboot"
	CodeSystemReboot       = "system-reboot"
	CodeSystemMaintenance  = "system-maintenance"
	CodeInstanceRetirement = "instance-retirement"
	CodeInstanceStop       = "instance-stop"

	StateActive    = "active"
	StateCanceled  = "canceled"
	StateCompleted = "completed"
)

// MaintenanceTimeLayout is how IMDS writes NotBefore and NotAfter
// ("21 Jan 2019 09:00:43 GMT").
const MaintenanceTimeLayout = "2 Jan 2006 15:04:05 GMT"

// DefaultMaintenanceDuration is the window length when none is given.
const DefaultMaintenanceDuration = 15 * time.Minute

var maintenanceCodes = []string{
	CodeInstanceReboot, CodeSystemReboot, CodeSystemMaintenance, CodeInstanceRetirement, CodeInstanceStop,
}

// MaintenanceRequest schedules a maintenance event.
type MaintenanceRequest struct {
	// Code is one of the Code* constants.
	Code string
	// In is the time from now to NotBefore. The event is listed at once.
	In time.Duration
	// Duration is NotAfter minus NotBefore (DefaultMaintenanceDuration if zero).
	Duration time.Duration
	// State is active (default), canceled or completed.
	State string
	// Description overrides the generated description.
	Description string
}

// MaintenanceEvent is one entry of events/maintenance/scheduled or
// events/maintenance/history, in IMDS's wire format.
type MaintenanceEvent struct {
	NotBefore   string `json:"NotBefore"`
	Code        string `json:"Code"`
	Description string `json:"Description"`
	EventID     string `json:"EventId"`
	NotAfter    string `json:"NotAfter"`
	State       string `json:"State"`
}

// UnknownEventError reports a maintenance event ID the emulator never issued.
type UnknownEventError struct {
	// ID is the requested event ID.
	ID string
}

func (e *UnknownEventError) Error() string { return "no maintenance event " + e.ID }

type maintState struct {
	id, code, desc      string
	notBefore, notAfter time.Time
	state               string
}

// stateAt is the event's state: an active event completes at NotAfter.
func (m *maintState) stateAt(now time.Time) string {
	if m.state == StateActive && !now.Before(m.notAfter) {
		return StateCompleted
	}
	return m.state
}

func (m *maintState) wire(now time.Time) MaintenanceEvent {
	st := m.stateAt(now)
	desc := m.desc
	switch st {
	case StateCanceled:
		desc = "[Canceled] " + desc
	case StateCompleted:
		desc = "[Completed] " + desc
	}
	return MaintenanceEvent{
		NotBefore: m.notBefore.Format(MaintenanceTimeLayout), Code: m.code, Description: desc,
		EventID: m.id, NotAfter: m.notAfter.Format(MaintenanceTimeLayout), State: st,
	}
}

// ScheduleMaintenance lists a new maintenance event. Active events appear in
// events/maintenance/scheduled; canceled and completed ones (including
// active events past NotAfter) move to events/maintenance/history, as on EC2.
func (s *Server) ScheduleMaintenance(r MaintenanceRequest) (MaintenanceEvent, error) {
	if !slices.Contains(maintenanceCodes, r.Code) {
		return MaintenanceEvent{}, &ValidationError{Field: "code", Problem: fmt.Sprintf("must be one of %v", maintenanceCodes)}
	}
	if r.State == "" {
		r.State = StateActive
	}
	if !slices.Contains([]string{StateActive, StateCanceled, StateCompleted}, r.State) {
		return MaintenanceEvent{}, &ValidationError{Field: "state", Problem: "must be active, canceled or completed"}
	}
	if r.In < 0 || r.Duration < 0 {
		return MaintenanceEvent{}, &ValidationError{Field: "in", Problem: "in and duration must not be negative"}
	}
	if r.Duration == 0 {
		r.Duration = DefaultMaintenanceDuration
	}
	if r.Description == "" {
		r.Description = "scheduled " + r.Code
	}
	id, err := newEventID()
	if err != nil {
		return MaintenanceEvent{}, err
	}
	now := s.now()
	nb := now.Add(r.In).Truncate(time.Second)
	m := &maintState{id: id, code: r.Code, desc: r.Description, notBefore: nb, notAfter: nb.Add(r.Duration), state: r.State}
	s.mu.Lock()
	s.maint = append(s.maint, m)
	s.mu.Unlock()
	return m.wire(now), nil
}

// RescheduleMaintenance moves a listed event's NotBefore to in from now
// (keeping its duration and EventId), as EC2 does when an event is
// rescheduled.
func (s *Server) RescheduleMaintenance(id string, in time.Duration) (MaintenanceEvent, error) {
	if in < 0 {
		return MaintenanceEvent{}, &ValidationError{Field: "in", Problem: "must not be negative"}
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.maint {
		if m.id == id && m.state == StateActive {
			d := m.notAfter.Sub(m.notBefore)
			m.notBefore = now.Add(in).Truncate(time.Second)
			m.notAfter = m.notBefore.Add(d)
			return m.wire(now), nil
		}
	}
	return MaintenanceEvent{}, &ValidationError{Field: "id", Problem: "no active event " + id}
}

// CancelMaintenance cancels a listed event, moving it to the history.
func (s *Server) CancelMaintenance(id string) (MaintenanceEvent, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.maint {
		if m.id == id {
			m.state = StateCanceled
			return m.wire(now), nil
		}
	}
	return MaintenanceEvent{}, &UnknownEventError{ID: id}
}

// maintenanceJSONLocked renders the scheduled list (history false: active
// events) or the history (canceled and completed events). Never null.
func (s *Server) maintenanceJSONLocked(now time.Time, history bool) string {
	list := []MaintenanceEvent{}
	for _, m := range s.maint {
		if (m.stateAt(now) != StateActive) == history {
			list = append(list, m.wire(now))
		}
	}
	b, _ := json.MarshalIndent(list, "", "  ")
	return string(b)
}

// newEventID returns an ID shaped like EC2's ("instance-event-" and 17 hex digits).
func newEventID() (string, error) {
	b := make([]byte, 9)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "instance-event-" + hex.EncodeToString(b)[:17], nil
}
