// Package slack sends lifeboat's notifications to Slack, either as a bot
// (chat.postMessage, one thread per node lifecycle, a reaction on the first
// message for the outcome) or through an incoming webhook (one message per
// step; webhooks cannot thread).
package slack

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
)

// DefaultAPIURL is Slack's Web API base URL.
const DefaultAPIURL = slack.APIURL

// threadTTL is how long a lifecycle's thread is remembered; later steps of
// an older lifecycle start a new thread.
const threadTTL = 24 * time.Hour

// Reactions added to a lifecycle's first message for each drain result.
var Reactions = map[drain.Outcome]string{
	"succeeded":  "white_check_mark",
	"fallback":   "warning",
	"incomplete": "warning",
	"failed":     "x",
	"missing":    "grey_question",
	"dry_run":    "memo",
}

// BotConfig configures a Bot.
type BotConfig struct {
	// Token is the bot token (xoxb-...).
	Token string
	// Channel is a channel ID or name to post to.
	Channel string
	// APIURL is the Web API base URL; empty means DefaultAPIURL.
	APIURL string
	// HTTP is the client to use; nil means a default notifier client.
	HTTP *http.Client
	// Clock dates threads for expiry; nil means the real clock.
	Clock clock.PassiveClock
}

// Bot posts each lifecycle's first step as a message and later steps as
// replies in its thread, and reacts to the first message with the outcome.
type Bot struct {
	client  *slack.Client
	channel string
	redact  *notifier.Redactor
	clock   clock.PassiveClock

	mu      sync.Mutex
	threads map[string]*thread
}

var _ notifier.Notifier = (*Bot)(nil)

// thread is a lifecycle's Slack thread.
type thread struct {
	channel, ts string
	// lastID is the newest message posted, so a retry after a failed
	// reaction does not post the message twice.
	lastID  uint64
	created time.Time
}

// NewBot returns a Bot. The token is sent as "Authorization: Bearer", never
// in a request body.
func NewBot(c BotConfig) *Bot {
	if c.HTTP == nil {
		c.HTTP = notifier.NewHTTPClient(notifier.HTTPConfig{Timeout: 10 * time.Second})
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	api := c.APIURL
	if api == "" {
		api = DefaultAPIURL
	}
	if !strings.HasSuffix(api, "/") {
		api += "/"
	}
	hc := *c.HTTP
	hc.Transport = &bearer{token: c.Token, next: transportOf(c.HTTP)}
	return &Bot{
		client:  slack.New(c.Token, slack.OptionHTTPClient(&hc), slack.OptionAPIURL(api)),
		channel: c.Channel,
		redact:  notifier.NewRedactor(c.Token),
		clock:   c.Clock,
		threads: map[string]*thread{},
	}
}

// Name is "slack".
func (b *Bot) Name() string { return "slack" }

// Notify posts m (in its lifecycle's thread if there is one) and, for a
// final step, adds the outcome reaction to the thread's first message.
func (b *Bot) Notify(ctx context.Context, m notifier.Message) error {
	b.mu.Lock()
	th := b.threads[m.Lifecycle]
	b.mu.Unlock()
	if th == nil || m.ID > th.lastID {
		var err error
		if th, err = b.post(ctx, th, m); err != nil {
			return classify(b.Name(), b.redact, err)
		}
	}
	emoji := Reactions[drain.Outcome(m.Result)]
	if emoji == "" {
		return nil
	}
	err := b.client.AddReactionContext(ctx, emoji, slack.NewRefToMessage(th.channel, th.ts))
	var api slack.SlackErrorResponse
	if errors.As(err, &api) && api.Err == "already_reacted" {
		return nil
	}
	return classify(b.Name(), b.redact, err)
}

// post sends m, as a reply when th is set, and records the thread.
func (b *Bot) post(ctx context.Context, th *thread, m notifier.Message) (*thread, error) {
	opts := []slack.MsgOption{slack.MsgOptionText(m.Summary(), true)}
	if th != nil {
		opts = append(opts, slack.MsgOptionTS(th.ts))
	}
	channel, ts, err := b.client.PostMessageContext(ctx, b.channel, opts...)
	if err != nil {
		return th, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if th == nil {
		b.prune()
		th = &thread{channel: channel, ts: ts, created: b.clock.Now()}
		b.threads[m.Lifecycle] = th
	}
	th.lastID = m.ID
	return th, nil
}

// prune forgets threads older than threadTTL. Callers hold b.mu.
func (b *Bot) prune() {
	now := b.clock.Now()
	for k, th := range b.threads {
		if now.Sub(th.created) > threadTTL {
			delete(b.threads, k)
		}
	}
}
