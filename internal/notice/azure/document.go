package azure

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// Event types and statuses of Azure Scheduled Events.
const (
	EventFreeze    = "Freeze"
	EventReboot    = "Reboot"
	EventRedeploy  = "Redeploy"
	EventPreempt   = "Preempt"
	EventTerminate = "Terminate"

	StatusScheduled = "Scheduled"
	StatusStarted   = "Started"
)

// Document is the Scheduled Events document (the emulator in
// internal/emulate/azure serves the same type).
type Document struct {
	// DocumentIncarnation changes whenever Events change.
	DocumentIncarnation int64 `json:"DocumentIncarnation"`
	// Events lists the pending and started events.
	Events []Event `json:"Events"`
}

// Event is one scheduled event.
type Event struct {
	EventID           string   `json:"EventId"`
	EventType         string   `json:"EventType"`
	ResourceType      string   `json:"ResourceType"`
	Resources         []string `json:"Resources"`
	EventStatus       string   `json:"EventStatus"`
	NotBefore         string   `json:"NotBefore"`
	Description       string   `json:"Description"`
	EventSource       string   `json:"EventSource"`
	DurationInSeconds int      `json:"DurationInSeconds"`
}

// StartRequests is the body of an acknowledgement POST.
type StartRequests struct {
	StartRequests []StartRequest `json:"StartRequests"`
}

// StartRequest asks the platform to start one event now.
type StartRequest struct {
	EventID string `json:"EventId"`
}

// KindOf maps an Azure EventType to a notice kind: Preempt -> preemption,
// Terminate -> termination, Reboot and Redeploy -> scheduled-reboot,
// Freeze -> freeze. ok is false for any other type.
func KindOf(eventType string) (kind notice.Kind, ok bool) {
	switch eventType {
	case EventPreempt:
		return notice.KindPreemption, true
	case EventTerminate:
		return notice.KindTermination, true
	case EventReboot, EventRedeploy:
		return notice.KindScheduledReboot, true
	case EventFreeze:
		return notice.KindFreeze, true
	}
	return "", false
}

// ParseNotBefore parses an event's NotBefore, an RFC 1123 time in GMT
// ("Mon, 19 Sep 2016 18:29:47 GMT"). An empty value (the event has started)
// is the zero time and no error.
func ParseNotBefore(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	// time.Parse reads a zone abbreviation it does not know (PST, CEST...)
	// as UTC, hours off; IMDS writes GMT, so only GMT, UTC and numeric
	// offsets are accepted.
	if z := s[strings.LastIndexByte(s, ' ')+1:]; z != "UTC" && !strings.HasPrefix(z, "GMT") &&
		!strings.HasPrefix(z, "+") && !strings.HasPrefix(z, "-") {
		return time.Time{}, fmt.Errorf("NotBefore %q: time zone %q is not GMT", s, z)
	}
	for _, layout := range []string{time.RFC1123, "Mon, 2 Jan 2006 15:04:05 MST", time.RFC1123Z} {
		if t, err := time.Parse(layout, s); err == nil && !t.IsZero() { // zero would read as "started"
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("NotBefore %q is not an RFC 1123 time", s)
}

// names reports whether the event lists vm among its Resources
// (case-insensitively).
func (e *Event) names(vm string) bool {
	for _, r := range e.Resources {
		if strings.EqualFold(strings.TrimSpace(r), vm) {
			return true
		}
	}
	return false
}

// toNotice builds the notice for an event this VM is named in. The deadline
// is NotBefore; for a Started event (NotBefore cleared) it is now. An
// unparsable NotBefore leaves the deadline unknown and is returned as err
// alongside the notice.
func (e *Event) toNotice(kind notice.Kind, vm, node string, incarnation int64, now time.Time) (notice.Notice, error) {
	deadline, err := ParseNotBefore(e.NotBefore)
	if err == nil && deadline.IsZero() && e.EventStatus == StatusStarted {
		deadline = now
	}
	attrs := map[string]string{
		"event-type":           e.EventType,
		"event-status":         e.EventStatus,
		"event-source":         e.EventSource,
		"resource-type":        e.ResourceType,
		"document-incarnation": strconv.FormatInt(incarnation, 10),
	}
	if e.NotBefore != "" {
		attrs["not-before"] = e.NotBefore
	}
	if e.Description != "" {
		attrs["description"] = e.Description
	}
	if e.DurationInSeconds > 0 {
		attrs["duration-seconds"] = strconv.Itoa(e.DurationInSeconds)
	}
	reason := fmt.Sprintf("Azure scheduled event %s (%s, %s)", e.EventType, nonEmpty(e.EventSource, "unknown source"), e.EventStatus)
	return notice.Notice{
		ID:         e.EventID,
		Source:     Name,
		Kind:       kind,
		Node:       node,
		InstanceID: vm,
		Deadline:   deadline,
		Detected:   now,
		Reason:     reason,
		Attributes: attrs,
	}, err
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
