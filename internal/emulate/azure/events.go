package azure

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	azurenotice "github.com/lifeboat-dev/lifeboat/internal/notice/azure"
)

// Event types and statuses Azure documents (those the notice source reads).
const (
	EventFreeze    = azurenotice.EventFreeze
	EventReboot    = azurenotice.EventReboot
	EventRedeploy  = azurenotice.EventRedeploy
	EventPreempt   = azurenotice.EventPreempt
	EventTerminate = azurenotice.EventTerminate

	StatusScheduled = azurenotice.StatusScheduled
	StatusStarted   = azurenotice.StatusStarted
)

// DefaultNotice returns the minimum notice Azure gives for an event type,
// used when an EventSpec has no NotBeforeIn: 30 s for Preempt, 5 min for
// Terminate (the scale-set default is configurable 5-15 min), 15 min for the
// maintenance types.
func DefaultNotice(eventType string) time.Duration {
	switch eventType {
	case EventPreempt:
		return 30 * time.Second
	case EventTerminate:
		return 5 * time.Minute
	default:
		return 15 * time.Minute
	}
}

// EventSpec describes an event to schedule. Durations are JSON strings
// ("30s") on the control endpoint.
type EventSpec struct {
	// EventID is the event's id (a random UUID if empty).
	EventID string `json:"id,omitempty"`
	// EventType is Freeze, Reboot, Redeploy, Preempt or Terminate
	// (Preempt if empty).
	EventType string `json:"type,omitempty"`
	// Resources are the affected VM names (Options.VMName if empty).
	Resources []string `json:"resources,omitempty"`
	// In delays the event's appearance in the document.
	In Duration `json:"in,omitempty"`
	// NotBeforeIn is NotBefore relative to the appearance
	// (DefaultNotice(EventType) if zero).
	NotBeforeIn Duration `json:"notBeforeIn,omitempty"`
	// EventSource is "Platform" (default) or "User".
	EventSource string `json:"source,omitempty"`
	// Description is free text.
	Description string `json:"description,omitempty"`
}

// Ack is one StartRequests POST the emulator received.
type Ack struct {
	// Time is when it arrived (emulator clock).
	Time time.Time `json:"time"`
	// EventIDs are the ids it named, in order.
	EventIDs []string `json:"eventIds"`
	// Started are the ids it actually started (known and still Scheduled).
	Started []string `json:"started"`
	// Body is the raw request body.
	Body string `json:"body"`
}

// event is one scheduled event's lifecycle: invisible until appearAt,
// Scheduled until NotBefore or an acknowledgement, Started for StartedFor,
// then gone.
type event struct {
	wire      Event
	appearAt  time.Time
	notBefore time.Time
	visible   bool
	removeAt  time.Time // set once Started
}

// Schedule adds an event and returns it as it will be served (NotBefore
// filled in). It fails on an unknown EventType or a duplicate EventID.
func (s *Server) Schedule(spec EventSpec) (Event, error) {
	if spec.EventType == "" {
		spec.EventType = EventPreempt
	}
	if !validType(spec.EventType) {
		return Event{}, &ValidationError{Field: "type", Problem: "must be Freeze, Reboot, Redeploy, Preempt or Terminate, got " + strconv.Quote(spec.EventType)}
	}
	if spec.In < 0 || spec.NotBeforeIn < 0 {
		return Event{}, &ValidationError{Field: "in/notBeforeIn", Problem: "must not be negative"}
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(now)
	id := spec.EventID
	if id == "" {
		id = newEventID()
	}
	if s.findLocked(id) != nil {
		return Event{}, &ValidationError{Field: "id", Problem: "already exists: " + strconv.Quote(id)}
	}
	e := s.newEventLocked(id, spec, now)
	s.events = append(s.events, e)
	s.advanceLocked(now)
	return e.wire, nil
}

func (s *Server) newEventLocked(id string, spec EventSpec, now time.Time) *event {
	notice := spec.NotBeforeIn.D()
	if notice == 0 {
		notice = DefaultNotice(spec.EventType)
	}
	resources := spec.Resources
	if len(resources) == 0 {
		resources = []string{s.opts.VMName}
	}
	source := spec.EventSource
	if source == "" {
		source = "Platform"
	}
	appear := now.Add(spec.In.D())
	nb := appear.Add(notice).Truncate(time.Second)
	return &event{
		appearAt:  appear,
		notBefore: nb,
		wire: Event{
			EventID:           id,
			EventType:         spec.EventType,
			ResourceType:      "VirtualMachine",
			Resources:         slices.Clone(resources),
			EventStatus:       StatusScheduled,
			NotBefore:         nb.Format(http.TimeFormat),
			Description:       spec.Description,
			EventSource:       source,
			DurationInSeconds: -1,
		},
	}
}

// Cancel removes an event without starting it, as when the platform
// withdraws it. It reports whether the event existed.
func (s *Server) Cancel(id string) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(now)
	i := slices.IndexFunc(s.events, func(e *event) bool { return strings.EqualFold(e.wire.EventID, id) })
	if i < 0 {
		return false
	}
	if s.events[i].visible {
		s.incarnation++
	}
	s.events = slices.Delete(s.events, i, i+1)
	return true
}

// Start starts a Scheduled event now, as if its NotBefore had passed. It
// reports whether a visible Scheduled event with that id existed.
func (s *Server) Start(id string) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(now)
	e := s.findLocked(id)
	if e == nil || !e.visible || e.wire.EventStatus != StatusScheduled {
		return false
	}
	s.startLocked(e, now)
	s.incarnation++
	return true
}

// Reset forgets every event, acknowledgement and fault, as a fresh VM.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.events) > 0 {
		s.incarnation++
	}
	s.events, s.acks = nil, nil
	s.faults.Reset()
}

// Document returns the Scheduled Events document as served now.
func (s *Server) Document() Document {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(now)
	doc := Document{DocumentIncarnation: s.incarnation, Events: []Event{}}
	for _, e := range s.events {
		if e.visible {
			w := e.wire
			w.Resources = slices.Clone(w.Resources)
			doc.Events = append(doc.Events, w)
		}
	}
	return doc
}

// Acks returns every acknowledgement received so far, oldest first.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.acks)
}

// acknowledge records a StartRequests POST and starts the named events that
// are visible and Scheduled; it returns the ids it started.
func (s *Server) acknowledge(ids []string, body string) []string {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(now)
	var started []string
	for _, id := range ids {
		e := s.findLocked(id)
		if e == nil || !e.visible || e.wire.EventStatus != StatusScheduled {
			continue
		}
		s.startLocked(e, now)
		started = append(started, id)
	}
	if len(started) > 0 {
		s.incarnation++
	}
	s.acks = append(s.acks, Ack{Time: now, EventIDs: ids, Started: started, Body: body})
	return started
}

// advanceLocked moves every event along its lifecycle up to now and bumps
// DocumentIncarnation once if the served document changed.
func (s *Server) advanceLocked(now time.Time) {
	changed := false
	kept := s.events[:0]
	for _, e := range s.events {
		if !e.visible && !now.Before(e.appearAt) {
			e.visible, changed = true, true
		}
		if e.visible && e.wire.EventStatus == StatusScheduled && !now.Before(e.notBefore) {
			s.startLocked(e, now)
			changed = true
		}
		if e.wire.EventStatus == StatusStarted && !now.Before(e.removeAt) {
			changed = true
			continue
		}
		kept = append(kept, e)
	}
	clear(s.events[len(kept):])
	s.events = kept
	if changed {
		s.incarnation++
	}
}

// startLocked marks an event Started: Azure then clears NotBefore.
func (s *Server) startLocked(e *event, now time.Time) {
	e.wire.EventStatus = StatusStarted
	e.wire.NotBefore = ""
	e.removeAt = now.Add(s.opts.StartedFor)
}

func (s *Server) findLocked(id string) *event {
	for _, e := range s.events {
		if strings.EqualFold(e.wire.EventID, id) {
			return e
		}
	}
	return nil
}

func validType(t string) bool {
	switch t {
	case EventFreeze, EventReboot, EventRedeploy, EventPreempt, EventTerminate:
		return true
	}
	return false
}

// newEventID returns a random UUID (version 4), the shape of Azure EventIds.
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
