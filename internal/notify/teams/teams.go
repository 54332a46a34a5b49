// Package teams sends lifeboat's notifications to Microsoft Teams through a
// Workflows webhook ("Post to a channel when a webhook request is
// received"): one message per step, carrying an Adaptive Card with the
// step's summary and its facts.
package teams

import (
	"context"
	"net/http"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/drain"

	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
)

// Name is the notifier's metric label and log name.
const Name = "teams"

// Notifier posts Adaptive Cards to a Teams Workflows webhook.
type Notifier struct {
	url    string
	http   *http.Client
	redact *notifier.Redactor
}

var _ notifier.Notifier = (*Notifier)(nil)

// New returns a notifier for the webhook URL (a secret: it carries the
// workflow's signature). hc may be nil for a default notifier client.
func New(url string, hc *http.Client) *Notifier {
	if hc == nil {
		hc = notifier.NewHTTPClient(notifier.HTTPConfig{Timeout: 10 * time.Second})
	}
	r := notifier.NewRedactor()
	r.AddURL(url)
	return &Notifier{url: url, http: hc, redact: r}
}

// Name is "teams".
func (n *Notifier) Name() string { return Name }

// Notify posts m as an Adaptive Card message.
func (n *Notifier) Notify(ctx context.Context, m notifier.Message) error {
	return notifier.PostJSON(ctx, n.http, n.url, Payload(m), Name, n.redact)
}

// Card content types and schema.
const (
	ContentTypeAdaptiveCard = "application/vnd.microsoft.card.adaptive"
	AdaptiveCardSchema      = "http://adaptivecards.io/schemas/adaptive-card.json"
	AdaptiveCardVersion     = "1.4"
)

// Message is the webhook body: a message with one Adaptive Card attachment.
type Message struct {
	Type        string       `json:"type"`
	Attachments []Attachment `json:"attachments"`
}

// Attachment wraps the card.
type Attachment struct {
	ContentType string  `json:"contentType"`
	ContentURL  *string `json:"contentUrl"`
	Content     Card    `json:"content"`
}

// Card is an Adaptive Card.
type Card struct {
	Schema  string    `json:"$schema"`
	Type    string    `json:"type"`
	Version string    `json:"version"`
	Body    []Element `json:"body"`
	MSTeams *MSTeams  `json:"msteams,omitempty"`
}

// MSTeams holds Teams-specific card options.
type MSTeams struct {
	Width string `json:"width,omitempty"`
}

// Element is a TextBlock or a FactSet.
type Element struct {
	Type   string `json:"type"`
	Text   string `json:"text,omitempty"`
	Weight string `json:"weight,omitempty"`
	Size   string `json:"size,omitempty"`
	Color  string `json:"color,omitempty"`
	Wrap   bool   `json:"wrap,omitempty"`
	Facts  []Fact `json:"facts,omitempty"`
}

// Fact is one row of a FactSet.
type Fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// Payload builds the webhook body for m.
func Payload(m notifier.Message) Message {
	title := Element{Type: "TextBlock", Text: m.Summary(), Weight: "Bolder", Size: "Medium", Wrap: true}
	switch {
	case m.Step == string(drain.StepDrainFailed) || m.Error != "":
		title.Color = "Attention"
	case m.Step == string(drain.StepDeadlineFallback):
		title.Color = "Warning"
	case m.Final():
		title.Color = "Good"
	}
	facts := Element{Type: "FactSet"}
	for _, f := range m.Facts() {
		facts.Facts = append(facts.Facts, Fact{Title: f[0], Value: f[1]})
	}
	return Message{Type: "message", Attachments: []Attachment{{
		ContentType: ContentTypeAdaptiveCard,
		Content: Card{
			Schema: AdaptiveCardSchema, Type: "AdaptiveCard", Version: AdaptiveCardVersion,
			Body: []Element{title, facts}, MSTeams: &MSTeams{Width: "Full"},
		},
	}}}
}
