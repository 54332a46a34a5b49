package notify

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/metrics"
	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
	"github.com/lifeboat-dev/lifeboat/internal/notify/slack"
	"github.com/lifeboat-dev/lifeboat/internal/notify/telegram"
	"github.com/lifeboat-dev/lifeboat/internal/notify/webhook"
)

// Deps are what New needs besides Options; every field is optional.
type Deps struct {
	// Log receives delivery failures and drops (never secrets).
	Log *slog.Logger
	// Metrics counts lifeboat_notifications_total.
	Metrics *metrics.Metrics
	// Clock times deadlines, expiry and backoff.
	Clock clock.WithTicker
}

// registration is a notifier with its retry budget.
type registration struct {
	n       notifier.Notifier
	retries int
}

// New reads secret and template files, builds the notifiers o enables and
// starts their dispatcher. With no notifier enabled the Observer does
// nothing. Call Observer.Close before exiting to flush queued messages.
func New(o Options, deps Deps) (*Observer, error) {
	if deps.Clock == nil {
		deps.Clock = clock.RealClock{}
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	regs, err := o.notifiers(deps.Clock)
	if err != nil {
		return nil, err
	}
	d := NewDispatcher(DispatcherConfig{
		QueueSize: o.QueueSize, TTL: o.MessageTTL, Backoff: o.RetryBackoff,
		Clock: deps.Clock, Log: deps.Log, Metrics: deps.Metrics,
	})
	names := make([]string, 0, len(regs))
	for _, r := range regs {
		d.Add(r.n, r.retries)
		names = append(names, r.n.Name())
	}
	if len(names) > 0 {
		deps.Log.Info("notifications enabled", "notifiers", strings.Join(names, ","))
	}
	return NewObserver(d, ObserverConfig{Cluster: o.ClusterName, TTL: o.MessageTTL, Clock: deps.Clock}), nil
}

// notifiers builds every enabled notifier.
func (o *Options) notifiers(clk clock.PassiveClock) ([]registration, error) {
	var regs []registration
	hc := notifier.NewHTTPClient(notifier.HTTPConfig{Timeout: o.Timeout, InsecureSkipVerify: o.InsecureSkipTLSVerify})

	token, err := secret("slack-token", o.SlackToken, o.SlackTokenFile)
	if err != nil {
		return nil, err
	}
	if token != "" {
		regs = append(regs, registration{slack.NewBot(slack.BotConfig{
			Token: token, Channel: o.SlackChannel, APIURL: o.SlackAPIURL, HTTP: hc, Clock: clk,
		}), o.Retries})
	}
	hook, err := secretURL("slack-webhook-url", o.SlackWebhookURL, o.SlackWebhookURLFile)
	if err != nil {
		return nil, err
	}
	if hook != "" {
		regs = append(regs, registration{slack.NewWebhook(hook, hc), o.Retries})
	}
	tg, err := secret("telegram-token", o.TelegramToken, o.TelegramTokenFile)
	if err != nil {
		return nil, err
	}
	if tg != "" {
		regs = append(regs, registration{telegram.New(telegram.Config{
			Token: tg, ChatID: o.TelegramChatID, APIURL: o.TelegramAPIURL, HTTP: hc,
		}), o.Retries})
	}
	more, err := o.moreNotifiers(hc)
	if err != nil {
		return nil, err
	}
	regs = append(regs, more...)
	wh, err := o.webhook()
	if err != nil || wh == nil {
		return regs, err
	}
	return append(regs, registration{wh, o.WebhookRetries}), nil
}

// webhook builds the generic webhook notifier, or nil when not enabled.
func (o *Options) webhook() (*webhook.Notifier, error) {
	u, err := secretURL("webhook-url", o.WebhookURL, o.WebhookURLFile)
	if err != nil || u == "" {
		return nil, err
	}
	c := webhook.Config{URL: u, Method: o.WebhookMethod, ContentType: o.WebhookContentType}
	if c.Header, err = webhook.ParseHeaders(o.WebhookHeaders); err != nil {
		return nil, fmt.Errorf("--webhook-header: %w", err)
	}
	flag, text := "webhook-template", o.WebhookTemplate
	if o.WebhookTemplateFile != "" {
		b, err := os.ReadFile(o.WebhookTemplateFile)
		if err != nil {
			return nil, fmt.Errorf("--webhook-template-file: %w", err)
		}
		flag, text = "webhook-template-file", string(b)
	}
	if text != "" {
		if c.Template, err = webhook.ParseTemplate(flag, text); err != nil {
			return nil, fmt.Errorf("--%s: %w", flag, err)
		}
	}
	hc := notifier.HTTPConfig{Timeout: o.WebhookTimeout, InsecureSkipVerify: o.InsecureSkipTLSVerify}
	if o.WebhookProxy != "" {
		if hc.Proxy, err = url.Parse(o.WebhookProxy); err != nil {
			return nil, fmt.Errorf("--webhook-proxy must be a URL")
		}
		c.Redact = append(c.Redact, o.WebhookProxy)
	}
	c.HTTP = notifier.NewHTTPClient(hc)
	return webhook.New(c), nil
}

// secret returns the value of a secret flag or the trimmed content of its
// -file variant.
func secret(flag string, v Secret, file string) (string, error) {
	if file == "" {
		return v.Reveal(), nil
	}
	b, err := os.ReadFile(file) //nolint:gosec // the operator names the file on purpose
	if err != nil {
		return "", fmt.Errorf("--%s-file: %w", flag, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("--%s-file %s is empty", flag, file)
	}
	return s, nil
}

// secretURL is secret for URLs: a URL read from a file is checked too.
func secretURL(flag string, v Secret, file string) (string, error) {
	u, err := secret(flag, v, file)
	if err != nil || file == "" {
		return u, err
	}
	return u, checkURL(flag+"-file", u, false)
}
