package notice

import (
	"strings"
	"time"
)

// KindASGLaunch classifies an Auto Scaling launch lifecycle action: not a
// reason to drain, but a lifecycle hook to complete once the instance's Node
// is Ready (queue and Lambda modes).
const KindASGLaunch Kind = "asg-launch"

// SameEventSlack is how far apart two observations of one cloud event may
// put its time: the agent reads a spot interruption's time from instance
// metadata, queue mode derives it from the EventBridge event's time, and the
// two need not agree to the second.
const SameEventSlack = 2 * time.Minute

// EventID is the notice ID every mode gives one cloud event about one
// instance, "<kind>/<instance>" or "<kind>/<instance>/<time>" with the time
// in RFC 3339 UTC, so that the agent and queue mode running on one cluster
// recognise each other's work (see SameEvent). at is the event's own time
// (a spot interruption's deadline, a rebalance recommendation's notice
// time); zero for events that happen once per instance (a scale-in).
func EventID(k Kind, instance string, at time.Time) string {
	id := string(k) + "/" + instance
	if !at.IsZero() {
		id += "/" + at.UTC().Format(time.RFC3339)
	}
	return id
}

// SameEvent reports whether notice IDs a and b name the same cloud event:
// they are equal, or both are EventIDs of the same kind and instance whose
// times are at most SameEventSlack apart.
func SameEvent(a, b string) bool {
	if a == b {
		return true
	}
	ka, ia, ta, okA := splitEventID(a)
	kb, ib, tb, okB := splitEventID(b)
	if !okA || !okB || ka != kb || ia != ib || ta.IsZero() != tb.IsZero() {
		return false
	}
	d := ta.Sub(tb)
	return d <= SameEventSlack && d >= -SameEventSlack
}

// splitEventID reads an EventID; ok is false for IDs of another shape
// (an Azure EventId, a GCP maintenance value).
func splitEventID(id string) (k Kind, instance string, at time.Time, ok bool) {
	parts := strings.SplitN(id, "/", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return "", "", time.Time{}, false
	}
	if len(parts) == 3 {
		t, err := time.Parse(time.RFC3339, parts[2])
		if err != nil {
			return "", "", time.Time{}, false
		}
		at = t
	}
	return Kind(parts[0]), parts[1], at, true
}
