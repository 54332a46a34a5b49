package drain

import "time"

// EventType names a step of a drain. The values are stable: they are used as
// Kubernetes Event reasons, metric labels and notification steps.
type EventType string

// The drain steps reported to observers.
const (
	EventCordoned         EventType = "Cordoned"
	EventUncordoned       EventType = "Uncordoned"
	EventDrainStarted     EventType = "DrainStarted"
	EventPodEvicted       EventType = "PodEvicted"      // eviction accepted
	EventPodGone          EventType = "PodGone"         // pod object removed
	EventPodBlocked       EventType = "PodBlockedByPDB" // eviction answered 429
	EventDeadlineFallback EventType = "DeadlineFallback"
	EventPodDeleted       EventType = "PodDeleted" // finished pod or fallback deletion
	EventDrained          EventType = "Drained"
	EventDrainFailed      EventType = "DrainFailed"
	EventNodeDeleted      EventType = "NodeDeleted"
	EventLeftoversRemoved EventType = "ShutdownLeftoversRemoved"
	EventEvictionFailed   EventType = "EvictionFailed"
)

// Progress is a snapshot of a running drain.
type Progress struct {
	// Total pods the drain set out to remove.
	Total int
	// Left is how many of them still exist.
	Left int
	// Blocked maps "namespace/pod" to the PDB currently blocking it.
	Blocked map[string]string
	// Deadline of the drain, zero if none.
	Deadline time.Time
}

// Event is one step of a drain, delivered to an Observer.
type Event struct {
	Type EventType
	Time time.Time
	Node string
	// Pod is "namespace/name" for pod-level events.
	Pod string
	// PDB is "namespace/name" of the blocking budget for EventPodBlocked.
	PDB string
	// GracePeriodSeconds used for an eviction or deletion, when relevant.
	GracePeriodSeconds int64
	// Message is a human-readable description.
	Message string
	// Progress at the time of the event.
	Progress Progress
	// Result is set on EventDrained and EventDrainFailed.
	Result *Result
	// Err is set on failure events.
	Err error
}

// Observer receives drain events. Observe is called synchronously from the
// drain's goroutines and must return quickly (hand off anything slow).
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Observe calls f(e).
func (f ObserverFunc) Observe(e Event) { f(e) }

// Observers fans an event out to several observers.
type Observers []Observer

// Observe calls every observer in order.
func (os Observers) Observe(e Event) {
	for _, o := range os {
		if o != nil {
			o.Observe(e)
		}
	}
}
