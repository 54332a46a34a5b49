// Package notifier holds what every notification channel shares: the
// Message describing one step of a node's lifecycle, the Notifier interface
// the Slack, webhook and Telegram packages implement, the DeliveryError they
// return, secret redaction for errors, and the HTTP client they use.
package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Message is one step of a node's lifecycle. Its exported fields are also
// the data of webhook templates (see docs/NOTIFICATIONS.md).
type Message struct {
	// ID is unique per process and increases; the dispatcher assigns it.
	ID uint64 `json:"-"`
	// Lifecycle identifies the node lifecycle (one notice, one drain) the
	// message belongs to; threading notifiers group messages by it.
	Lifecycle string `json:"lifecycle"`
	// Step is the lifecycle step: a drain.StepType value (the drain steps
	// plus NoticeReceived, Acknowledged, ...), as a plain string for
	// templates.
	Step string `json:"step"`
	// Time is when the step happened.
	Time time.Time `json:"time"`
	// Expires is when delivering the message stops being useful; it is
	// dropped (and counted as expired) after that.
	Expires time.Time `json:"-"`
	// Cluster is --cluster-name.
	Cluster string `json:"cluster,omitempty"`
	// Node is the Kubernetes node name.
	Node string `json:"node"`
	// Trigger is the notice source: aws, azure, gcp, systemd, sqs, manual...
	Trigger string `json:"trigger,omitempty"`
	// Kind is the notice kind: spot-interruption, host-shutdown...
	Kind string `json:"kind,omitempty"`
	// NoticeID identifies the cloud event.
	NoticeID string `json:"noticeID,omitempty"`
	// Reason is the human-readable reason of the notice.
	Reason string `json:"reason,omitempty"`
	// Deadline is when the node disappears; zero when unknown.
	Deadline time.Time `json:"deadline,omitzero"`
	// InstanceID, InstanceType, Region and Zone describe the machine, when
	// the notice source knows them.
	InstanceID   string `json:"instanceID,omitempty"`
	InstanceType string `json:"instanceType,omitempty"`
	Region       string `json:"region,omitempty"`
	Zone         string `json:"zone,omitempty"`
	// PodsTotal is how many pods the drain set out to remove.
	PodsTotal int `json:"podsTotal"`
	// PodsEvicted counts pods removed through the Eviction API.
	PodsEvicted int `json:"podsEvicted"`
	// PodsDeleted counts finished pods and deadline fallbacks deleted.
	PodsDeleted int `json:"podsDeleted"`
	// PodsLeft counts pods still on the node.
	PodsLeft int `json:"podsLeft"`
	// Fallbacks counts PDB-blocked pods deleted because of the deadline.
	Fallbacks int `json:"fallbacks"`
	// Result is set on the final steps: the drain's drain.Outcome
	// (succeeded, fallback, incomplete, failed, missing or dry_run).
	Result string `json:"result,omitempty"`
	// Duration of the drain, on the final steps; JSON has it as
	// durationSeconds.
	Duration time.Duration `json:"-"`
	// Text is a one-line human-readable description of the step.
	Text string `json:"text"`
	// Error describes a failure (never containing secrets).
	Error string `json:"error,omitempty"`
}

// DurationSeconds is Duration in seconds, for templates.
func (m Message) DurationSeconds() float64 { return m.Duration.Seconds() }

// MarshalJSON encodes the message with the duration in seconds.
func (m Message) MarshalJSON() ([]byte, error) {
	type plain Message // without methods: no recursion
	return json.Marshal(struct {
		plain
		DurationSeconds float64 `json:"durationSeconds,omitempty"`
	}{plain(m), m.Duration.Seconds()})
}

// Summary is the message as one line: "[cluster] node: text".
func (m Message) Summary() string {
	var b strings.Builder
	if m.Cluster != "" {
		fmt.Fprintf(&b, "[%s] ", m.Cluster)
	}
	if m.Node != "" {
		b.WriteString(m.Node)
		b.WriteString(": ")
	}
	b.WriteString(m.Text)
	return b.String()
}

// Final reports whether the step carries the outcome of the drain.
func (m Message) Final() bool { return m.Result != "" }

// Notifier delivers messages to one channel. Notify is called by one
// goroutine at a time, in message order, and again with the same message
// when a retryable error is returned; it must honour ctx and return errors
// whose text contains no secret (use a Redactor).
type Notifier interface {
	// Name is the metric label and log name: "slack", "slack-webhook",
	// "telegram", "webhook".
	Name() string
	// Notify delivers m.
	Notify(ctx context.Context, m Message) error
}

// ErrSkipped is returned by a Notifier that chose not to send a message
// (its template rendered an empty body); the dispatcher counts it as skipped.
var ErrSkipped = errors.New("message skipped: empty body")
