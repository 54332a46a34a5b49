// Package pagerduty sends lifeboat's notifications to PagerDuty as Events
// API v2 alerts. Only trouble pages: a drain that failed, ran into its
// deadline fallback or ended incomplete triggers an alert (dedup_key = the
// node lifecycle, so later steps update the same alert), and a later
// success or withdrawal of that lifecycle resolves it. Other steps are
// skipped (counted as skipped by the dispatcher).
package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/drain"

	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
)

// Name is the notifier's metric label and log name.
const Name = "pagerduty"

// DefaultURL is the Events API v2 endpoint.
const DefaultURL = "https://events.pagerduty.com/v2/enqueue"

// Event actions.
const (
	ActionTrigger = "trigger"
	ActionResolve = "resolve"
)

// Config configures a Notifier.
type Config struct {
	// RoutingKey is the integration key of an Events API v2 integration (a secret).
	RoutingKey string
	// URL is the Events API endpoint (DefaultURL if empty).
	URL string
	// HTTP is the client (a default notifier client if nil).
	HTTP *http.Client
}

// Notifier sends Events API v2 events.
type Notifier struct {
	key, url string
	http     *http.Client
	redact   *notifier.Redactor

	mu        sync.Mutex
	triggered map[string]bool // lifecycles with an open alert
}

var _ notifier.Notifier = (*Notifier)(nil)

// New returns a PagerDuty notifier.
func New(c Config) *Notifier {
	if c.HTTP == nil {
		c.HTTP = notifier.NewHTTPClient(notifier.HTTPConfig{Timeout: 10 * time.Second})
	}
	if c.URL == "" {
		c.URL = DefaultURL
	}
	return &Notifier{key: c.RoutingKey, url: c.URL, http: c.HTTP, redact: notifier.NewRedactor(c.RoutingKey), triggered: map[string]bool{}}
}

// Name is "pagerduty".
func (n *Notifier) Name() string { return Name }

// Event is the Events API v2 request body.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key"`
	Payload     *Payload `json:"payload,omitempty"`
	Client      string   `json:"client,omitempty"`
}

// Payload describes a triggered alert.
type Payload struct {
	Summary       string            `json:"summary"`
	Source        string            `json:"source"`
	Severity      string            `json:"severity"`
	Timestamp     string            `json:"timestamp,omitempty"`
	Component     string            `json:"component,omitempty"`
	Group         string            `json:"group,omitempty"`
	Class         string            `json:"class,omitempty"`
	CustomDetails map[string]string `json:"custom_details,omitempty"`
}

// Decide returns the event action for m ("" = skip) and the severity of a
// trigger: failures are errors, a deadline fallback or an incomplete drain
// a warning; a success or withdrawal resolves.
func Decide(m notifier.Message) (action, severity string) {
	switch {
	case m.Step == string(drain.StepDrainFailed) || m.Result == "failed":
		return ActionTrigger, "error"
	case m.Step == string(drain.StepDeadlineFallback) || m.Result == "incomplete" || m.Result == "fallback":
		return ActionTrigger, "warning"
	case m.Step == string(drain.StepNoticeCanceled) || m.Step == string(drain.StepUncordoned) ||
		m.Step == string(drain.StepNodeDeleted) || m.Result == "succeeded":
		return ActionResolve, ""
	}
	return "", ""
}

// Build returns the event for m, or nil when m is not sent: a resolve is
// sent only for a lifecycle whose alert this notifier triggered.
func (n *Notifier) Build(m notifier.Message) *Event {
	action, severity := Decide(m)
	key := m.Lifecycle
	if key == "" {
		key = m.Node
	}
	n.mu.Lock()
	open := n.triggered[key]
	n.mu.Unlock()
	switch {
	case action == "", action == ActionResolve && !open:
		return nil
	case action == ActionResolve:
		return &Event{RoutingKey: n.key, EventAction: ActionResolve, DedupKey: key}
	}
	details := map[string]string{}
	for _, f := range m.Facts() {
		details[f[0]] = f[1]
	}
	return &Event{RoutingKey: n.key, EventAction: ActionTrigger, DedupKey: key, Client: "lifeboat", Payload: &Payload{
		Summary: m.Summary(), Source: m.Node, Severity: severity, Timestamp: m.Time.UTC().Format(time.RFC3339),
		Component: m.Cluster, Group: m.Trigger, Class: string(m.Step), CustomDetails: details,
	}}
}

// response is the Events API answer.
type response struct {
	Status  string   `json:"status"`
	Message string   `json:"message"`
	Errors  []string `json:"errors"`
}

// Notify sends the event for m, or returns notifier.ErrSkipped. The open
// alerts are updated only once PagerDuty accepted the event, so a retried
// message builds the same event again.
func (n *Notifier) Notify(ctx context.Context, m notifier.Message) error {
	ev := n.Build(m)
	if ev == nil {
		return notifier.ErrSkipped
	}
	if err := n.post(ctx, ev); err != nil {
		return err
	}
	n.mu.Lock()
	if ev.EventAction == ActionTrigger {
		n.triggered[ev.DedupKey] = true
	} else {
		delete(n.triggered, ev.DedupKey)
	}
	n.mu.Unlock()
	return nil
}

func (n *Notifier) post(ctx context.Context, ev *Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return n.redact.Err(Name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(b))
	if err != nil {
		return n.redact.Err(Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.http.Do(req)
	if err != nil {
		return n.redact.Err(Name, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode/100 != 2 {
		return n.redact.Err(Name, notifier.StatusError(resp))
	}
	var r response
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&r); err == nil && r.Status != "" && r.Status != "success" {
		return n.redact.Err(Name, notifier.Permanent("Events API: %s %s %v", r.Status, r.Message, r.Errors))
	}
	return nil
}
