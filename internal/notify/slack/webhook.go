package slack

import (
	"context"
	"net/http"
	"time"

	"github.com/slack-go/slack"

	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
)

// Webhook posts every step as its own message to a Slack incoming webhook.
type Webhook struct {
	url    string
	http   *http.Client
	redact *notifier.Redactor
}

var _ notifier.Notifier = (*Webhook)(nil)

// NewWebhook returns a notifier for the incoming webhook URL (a secret).
// hc may be nil for a default notifier client.
func NewWebhook(url string, hc *http.Client) *Webhook {
	if hc == nil {
		hc = notifier.NewHTTPClient(notifier.HTTPConfig{Timeout: 10 * time.Second})
	}
	r := notifier.NewRedactor()
	r.AddURL(url)
	return &Webhook{url: url, http: hc, redact: r}
}

// Name is "slack-webhook".
func (w *Webhook) Name() string { return "slack-webhook" }

// Notify posts {"text": ...} to the webhook.
func (w *Webhook) Notify(ctx context.Context, m notifier.Message) error {
	err := slack.PostWebhookCustomHTTPContext(ctx, w.url, w.http, &slack.WebhookMessage{Text: m.Summary()})
	return classify(w.Name(), w.redact, err)
}
