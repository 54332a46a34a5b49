// Package discord sends lifeboat's notifications to a Discord channel
// through an incoming webhook (Execute Webhook): one message per step.
package discord

import (
	"context"
	"net/http"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
)

// Name is the notifier's metric label and log name.
const Name = "discord"

// maxContent is Discord's limit on a message's content (characters).
const maxContent = 2000

// Notifier executes a Discord webhook.
type Notifier struct {
	url    string
	http   *http.Client
	redact *notifier.Redactor
}

var _ notifier.Notifier = (*Notifier)(nil)

// New returns a notifier for the webhook URL (a secret: it carries the
// webhook token). hc may be nil for a default notifier client.
func New(url string, hc *http.Client) *Notifier {
	if hc == nil {
		hc = notifier.NewHTTPClient(notifier.HTTPConfig{Timeout: 10 * time.Second})
	}
	r := notifier.NewRedactor()
	r.AddURL(url)
	return &Notifier{url: url, http: hc, redact: r}
}

// Name is "discord".
func (n *Notifier) Name() string { return Name }

// Message is the Execute Webhook body.
type Message struct {
	Content         string          `json:"content"`
	AllowedMentions AllowedMentions `json:"allowed_mentions"`
}

// AllowedMentions with an empty Parse list keeps node or pod names that
// look like @everyone from pinging anyone.
type AllowedMentions struct {
	Parse []string `json:"parse"`
}

// Payload builds the webhook body for m.
func Payload(m notifier.Message) Message {
	text := []rune(m.Summary())
	if len(text) > maxContent {
		text = append(text[:maxContent-1], '…')
	}
	return Message{Content: string(text), AllowedMentions: AllowedMentions{Parse: []string{}}}
}

// Notify posts m. Discord answers 204 (or 200); a 429 carries Retry-After,
// which the dispatcher honours.
func (n *Notifier) Notify(ctx context.Context, m notifier.Message) error {
	return notifier.PostJSON(ctx, n.http, n.url, Payload(m), Name, n.redact)
}
