// Package googlechat sends lifeboat's notifications to a Google Chat space
// through an incoming webhook: one message per step, all steps of a node
// lifecycle in one thread (threadKey = the lifecycle, with
// messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD).
package googlechat

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
)

// Name is the notifier's metric label and log name.
const Name = "google-chat"

// ReplyOption is the messageReplyOption that threads by threadKey.
const ReplyOption = "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"

// Notifier posts to a Google Chat webhook.
type Notifier struct {
	url    string
	http   *http.Client
	redact *notifier.Redactor
}

var _ notifier.Notifier = (*Notifier)(nil)

// New returns a notifier for the webhook URL (a secret: its key and token
// query parameters authorise posting). hc may be nil for a default client.
func New(raw string, hc *http.Client) *Notifier {
	if hc == nil {
		hc = notifier.NewHTTPClient(notifier.HTTPConfig{Timeout: 10 * time.Second})
	}
	r := notifier.NewRedactor()
	r.AddURL(raw)
	target := raw
	if u, err := url.Parse(raw); err == nil {
		q := u.Query()
		q.Set("messageReplyOption", ReplyOption)
		u.RawQuery = q.Encode()
		target = u.String()
		r.AddURL(target)
		for _, k := range []string{"key", "token"} {
			r.Add(q.Get(k))
		}
	}
	return &Notifier{url: target, http: hc, redact: r}
}

// Name is "google-chat".
func (n *Notifier) Name() string { return Name }

// Message is the webhook body.
type Message struct {
	Text   string `json:"text"`
	Thread Thread `json:"thread"`
}

// Thread names the thread the message goes to.
type Thread struct {
	ThreadKey string `json:"threadKey"`
}

// Payload builds the webhook body for m: the summary in bold, then the
// facts, one per line.
func Payload(m notifier.Message) Message {
	var b strings.Builder
	b.WriteString("*" + m.Summary() + "*")
	for _, f := range m.Facts() {
		b.WriteString("\n" + f[0] + ": " + f[1])
	}
	key := m.Lifecycle
	if key == "" {
		key = m.Node
	}
	return Message{Text: b.String(), Thread: Thread{ThreadKey: key}}
}

// Notify posts m.
func (n *Notifier) Notify(ctx context.Context, m notifier.Message) error {
	return notifier.PostJSON(ctx, n.http, n.url, Payload(m), Name, n.redact)
}
