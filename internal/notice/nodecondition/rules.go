package nodecondition

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Rule turns a Node condition into a notice: when the condition Type has
// Status, a notice of kind node-condition asks for Action.
type Rule struct {
	// Type is the condition type, e.g. VMEventScheduled.
	Type corev1.NodeConditionType
	// Status is the status that triggers (True unless given).
	Status corev1.ConditionStatus
	// Action is the agent action name (none, taint, cordon, drain, drain-delete).
	Action string
}

// String is the rule as --on-condition spells it.
func (r Rule) String() string { return string(r.Type) + "=" + string(r.Status) + "=" + r.Action }

// ParseRule parses "TYPE=ACTION" (status True) or "TYPE=STATUS=ACTION";
// validAction checks the action name.
func ParseRule(s string, validAction func(string) error) (Rule, error) {
	parts := strings.Split(strings.TrimSpace(s), "=")
	var r Rule
	switch len(parts) {
	case 2:
		r = Rule{Type: corev1.NodeConditionType(parts[0]), Status: corev1.ConditionTrue, Action: parts[1]}
	case 3:
		r = Rule{Type: corev1.NodeConditionType(parts[0]), Status: corev1.ConditionStatus(parts[1]), Action: parts[2]}
	default:
		return Rule{}, fmt.Errorf("%q is not TYPE=ACTION or TYPE=STATUS=ACTION", s)
	}
	if !conditionType.MatchString(string(r.Type)) {
		return Rule{}, fmt.Errorf("%q: condition type %q is not a valid name", s, r.Type)
	}
	switch r.Status {
	case corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown:
	default:
		return Rule{}, fmt.Errorf("%q: status must be True, False or Unknown, got %q", s, r.Status)
	}
	if validAction != nil {
		if err := validAction(r.Action); err != nil {
			return Rule{}, fmt.Errorf("%q: %w", s, err)
		}
	}
	return r, nil
}

// ParseRules parses every spec, failing on the first bad one, and refuses
// two rules for the same type and status.
func ParseRules(specs []string, validAction func(string) error) ([]Rule, error) {
	var out []Rule
	seen := map[string]bool{}
	for _, s := range specs {
		r, err := ParseRule(s, validAction)
		if err != nil {
			return nil, err
		}
		k := string(r.Type) + "=" + string(r.Status)
		if seen[k] {
			return nil, fmt.Errorf("two rules for %s", k)
		}
		seen[k] = true
		out = append(out, r)
	}
	return out, nil
}

// conditionType is a qualified-name-like condition type (letters, digits,
// ".", "-", "_", "/").
var conditionType = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,252}$`)

// Times a condition message may carry: an RFC 1123 time with its zone (AKS
// node-problem-detector: "Preempt Scheduled: Wed, 26 Feb 2025 10:13:13
// GMT. DurationInSeconds: -1.") or an RFC 3339 one. Times without a zone
// are not guessed at.
var (
	rfc1123RE = regexp.MustCompile(`[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} (?:GMT|UTC|[+-]\d{4})`)
	rfc3339RE = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})`)
)

// DeadlineFromMessage returns the first zone-explicit time in a condition
// message, in UTC.
func DeadlineFromMessage(msg string) (time.Time, bool) {
	if s := rfc1123RE.FindString(msg); s != "" {
		layout := time.RFC1123
		if !strings.HasSuffix(s, "GMT") && !strings.HasSuffix(s, "UTC") {
			layout = time.RFC1123Z
		}
		if t, err := time.Parse(layout, s); err == nil && t.Year() >= 2000 {
			return t.UTC(), true
		}
	}
	if s := rfc3339RE.FindString(msg); s != "" {
		if t, err := time.Parse(time.RFC3339, s); err == nil && t.Year() >= 2000 {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
