package notify

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/lifeboat-dev/lifeboat/internal/notify/email"
	"github.com/lifeboat-dev/lifeboat/internal/notify/pagerduty"
	"github.com/lifeboat-dev/lifeboat/internal/notify/slack"
	"github.com/lifeboat-dev/lifeboat/internal/notify/telegram"
	"github.com/lifeboat-dev/lifeboat/internal/notify/webhook"
)

// Options configure notifications. Every secret has a -file variant (a
// mounted Kubernetes Secret) and, like every flag, an environment variable
// LIFEBOAT_<FLAG> (e.g. LIFEBOAT_SLACK_TOKEN).
type Options struct {
	// ClusterName prefixes every message and is .Cluster in templates. When
	// the command already has a --cluster-name flag (lambda: the EKS
	// cluster), AddFlags leaves it alone and the command copies its value.
	ClusterName string

	// SlackToken is a Slack bot token (xoxb-...); with SlackChannel it
	// enables threaded Slack messages with outcome reactions.
	SlackToken Secret
	// SlackTokenFile is a file holding SlackToken.
	SlackTokenFile string
	// SlackChannel is the channel ID or name the bot posts to.
	SlackChannel string
	// SlackAPIURL is the Slack Web API base URL.
	SlackAPIURL string
	// SlackWebhookURL is a Slack incoming webhook URL (one message per step).
	SlackWebhookURL Secret
	// SlackWebhookURLFile is a file holding SlackWebhookURL.
	SlackWebhookURLFile string

	// TelegramToken is a Telegram bot token; with TelegramChatID it enables
	// Telegram messages.
	TelegramToken Secret
	// TelegramTokenFile is a file holding TelegramToken.
	TelegramTokenFile string
	// TelegramChatID is the numeric chat ID or @channelusername.
	TelegramChatID string
	// TelegramAPIURL is the Telegram Bot API base URL.
	TelegramAPIURL string

	// WebhookURL enables the generic webhook (one request per step).
	WebhookURL Secret
	// WebhookURLFile is a file holding WebhookURL.
	WebhookURLFile string
	// WebhookMethod is the HTTP method of webhook requests.
	WebhookMethod string
	// WebhookHeaders are extra "Name: value" request headers; their values
	// are treated as secrets.
	WebhookHeaders Headers
	// WebhookContentType is the Content-Type of webhook bodies.
	WebhookContentType string
	// WebhookTemplate is an inline text/template for the body; empty
	// sends the message as JSON.
	WebhookTemplate string
	// WebhookTemplateFile is a file holding WebhookTemplate.
	WebhookTemplateFile string
	// WebhookTimeout bounds one webhook request.
	WebhookTimeout time.Duration
	// WebhookRetries is how often a failed webhook request is retried.
	WebhookRetries int
	// WebhookProxy is an HTTP(S) proxy URL for webhook requests; empty uses
	// HTTPS_PROXY/HTTP_PROXY/NO_PROXY from the environment.
	WebhookProxy string

	// TeamsWebhookURL is a Microsoft Teams Workflows webhook URL.
	TeamsWebhookURL Secret
	// TeamsWebhookURLFile is a file holding TeamsWebhookURL.
	TeamsWebhookURLFile string
	// DiscordWebhookURL is a Discord webhook URL.
	DiscordWebhookURL Secret
	// DiscordWebhookURLFile is a file holding DiscordWebhookURL.
	DiscordWebhookURLFile string
	// GoogleChatWebhookURL is a Google Chat space webhook URL.
	GoogleChatWebhookURL Secret
	// GoogleChatWebhookURLFile is a file holding GoogleChatWebhookURL.
	GoogleChatWebhookURLFile string
	// PagerDutyRoutingKey is an Events API v2 integration key.
	PagerDutyRoutingKey Secret
	// PagerDutyRoutingKeyFile is a file holding PagerDutyRoutingKey.
	PagerDutyRoutingKeyFile string
	// PagerDutyURL is the Events API v2 endpoint.
	PagerDutyURL string
	// SMTPAddress (host:port) enables email.
	SMTPAddress string
	// SMTPFrom is the sender address.
	SMTPFrom string
	// SMTPTo are the recipients.
	SMTPTo []string
	// SMTPUsername enables AUTH PLAIN with SMTPPassword.
	SMTPUsername string
	// SMTPPassword is the SMTP password.
	SMTPPassword Secret
	// SMTPPasswordFile is a file holding SMTPPassword.
	SMTPPasswordFile string
	// SMTPTLS is starttls, tls or none.
	SMTPTLS string

	// InsecureSkipTLSVerify disables TLS certificate checks for every
	// notifier. Only for testing.
	InsecureSkipTLSVerify bool
	// Timeout bounds one Slack or Telegram request.
	Timeout time.Duration
	// Retries is how often a failed Slack or Telegram delivery is retried.
	Retries int
	// RetryBackoff is the wait before the first retry; it doubles each time.
	RetryBackoff time.Duration
	// QueueSize bounds each notifier's queue; overflow is dropped and counted.
	QueueSize int
	// MessageTTL is how long a message may wait for delivery when the drain
	// has no deadline; with a deadline, the deadline bounds it.
	MessageTTL time.Duration
}

// DefaultOptions returns the defaults: no notifier enabled.
func DefaultOptions() Options {
	return Options{
		SlackAPIURL:        slack.DefaultAPIURL,
		TelegramAPIURL:     telegram.DefaultAPIURL,
		PagerDutyURL:       pagerduty.DefaultURL,
		SMTPTLS:            email.TLSStartTLS,
		WebhookMethod:      "POST",
		WebhookContentType: "application/json",
		WebhookTimeout:     10 * time.Second,
		WebhookRetries:     3,
		Timeout:            10 * time.Second,
		Retries:            3,
		RetryBackoff:       time.Second,
		QueueSize:          100,
		MessageTTL:         5 * time.Minute,
	}
}

// AddFlags registers the notification flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	if fs.Lookup("cluster-name") == nil {
		fs.StringVar(&o.ClusterName, "cluster-name", o.ClusterName, "Cluster name shown in notifications.")
	}

	fs.Var(secretFlag{&o.SlackToken}, "slack-token", "Slack bot token (xoxb-...): one thread per node lifecycle in --slack-channel. Prefer LIFEBOAT_SLACK_TOKEN or --slack-token-file.")
	fs.StringVar(&o.SlackTokenFile, "slack-token-file", o.SlackTokenFile, "File containing the Slack bot token.")
	fs.StringVar(&o.SlackChannel, "slack-channel", o.SlackChannel, "Slack channel ID or name for --slack-token.")
	fs.StringVar(&o.SlackAPIURL, "slack-api-url", o.SlackAPIURL, "Slack Web API base URL.")
	fs.Var(secretFlag{&o.SlackWebhookURL}, "slack-webhook-url", "Slack incoming webhook URL: one message per step. Prefer LIFEBOAT_SLACK_WEBHOOK_URL or --slack-webhook-url-file.")
	fs.StringVar(&o.SlackWebhookURLFile, "slack-webhook-url-file", o.SlackWebhookURLFile, "File containing the Slack incoming webhook URL.")

	fs.Var(secretFlag{&o.TelegramToken}, "telegram-token", "Telegram bot token: one message per step to --telegram-chat-id. Prefer LIFEBOAT_TELEGRAM_TOKEN or --telegram-token-file.")
	fs.StringVar(&o.TelegramTokenFile, "telegram-token-file", o.TelegramTokenFile, "File containing the Telegram bot token.")
	fs.StringVar(&o.TelegramChatID, "telegram-chat-id", o.TelegramChatID, "Telegram chat ID or @channelusername.")
	fs.StringVar(&o.TelegramAPIURL, "telegram-api-url", o.TelegramAPIURL, "Telegram Bot API base URL.")

	fs.Var(secretFlag{&o.WebhookURL}, "webhook-url", "Generic webhook URL: one request per step. Prefer LIFEBOAT_WEBHOOK_URL or --webhook-url-file.")
	fs.StringVar(&o.WebhookURLFile, "webhook-url-file", o.WebhookURLFile, "File containing the generic webhook URL.")
	fs.StringVar(&o.WebhookMethod, "webhook-method", o.WebhookMethod, "HTTP method of webhook requests.")
	fs.Var(headersFlag{&o.WebhookHeaders}, "webhook-header", `Extra webhook request header "Name: value" (repeatable; values are treated as secrets).`)
	fs.StringVar(&o.WebhookContentType, "webhook-content-type", o.WebhookContentType, "Content-Type of webhook bodies.")
	fs.StringVar(&o.WebhookTemplate, "webhook-template", o.WebhookTemplate, "Go text/template for the webhook body (default: the message as JSON). A body of only white space is not sent.")
	fs.StringVar(&o.WebhookTemplateFile, "webhook-template-file", o.WebhookTemplateFile, "File containing the webhook body template.")
	fs.DurationVar(&o.WebhookTimeout, "webhook-timeout", o.WebhookTimeout, "Timeout of one webhook request.")
	fs.IntVar(&o.WebhookRetries, "webhook-retries", o.WebhookRetries, "Retries of a failed webhook request (5xx, 408, 429, network errors), with exponential backoff.")
	fs.StringVar(&o.WebhookProxy, "webhook-proxy", o.WebhookProxy, "HTTP proxy URL for webhook requests (default: HTTPS_PROXY/HTTP_PROXY).")

	o.addMoreFlags(fs)

	fs.BoolVar(&o.InsecureSkipTLSVerify, "notify-insecure-skip-tls-verify", o.InsecureSkipTLSVerify, "Do not verify TLS certificates of notification endpoints (testing only).")
	fs.DurationVar(&o.Timeout, "notify-timeout", o.Timeout, "Timeout of one Slack or Telegram request.")
	fs.IntVar(&o.Retries, "notify-retries", o.Retries, "Retries of a failed Slack or Telegram delivery, with exponential backoff.")
	fs.DurationVar(&o.RetryBackoff, "notify-retry-backoff", o.RetryBackoff, "Wait before the first retry of a notification; doubles per retry up to 30s.")
	fs.IntVar(&o.QueueSize, "notify-queue-size", o.QueueSize, "Messages queued per notifier; more are dropped and counted.")
	fs.DurationVar(&o.MessageTTL, "notify-message-ttl", o.MessageTTL, "Longest a message waits for delivery when the drain has no deadline.")
}

// Validate checks the options without reading files.
func (o *Options) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(exclusive("slack-token", o.SlackToken != "", o.SlackTokenFile))
	add(exclusive("slack-webhook-url", o.SlackWebhookURL != "", o.SlackWebhookURLFile))
	add(exclusive("telegram-token", o.TelegramToken != "", o.TelegramTokenFile))
	add(exclusive("webhook-url", o.WebhookURL != "", o.WebhookURLFile))
	add(exclusive("webhook-template", o.WebhookTemplate != "", o.WebhookTemplateFile))
	add(pair("slack-token", o.SlackToken != "" || o.SlackTokenFile != "", "slack-channel", o.SlackChannel != ""))
	add(pair("telegram-token", o.TelegramToken != "" || o.TelegramTokenFile != "", "telegram-chat-id", o.TelegramChatID != ""))
	add(checkURL("slack-api-url", o.SlackAPIURL, true))
	add(checkURL("telegram-api-url", o.TelegramAPIURL, true))
	add(checkURL("slack-webhook-url", o.SlackWebhookURL.Reveal(), false))
	add(checkURL("webhook-url", o.WebhookURL.Reveal(), false))
	add(checkProxy(o.WebhookProxy))
	add(o.validateWebhook())
	add(o.validateMore())
	add(positive("webhook-timeout", o.WebhookTimeout))
	add(positive("notify-timeout", o.Timeout))
	add(positive("notify-retry-backoff", o.RetryBackoff))
	add(positive("notify-message-ttl", o.MessageTTL))
	if o.WebhookRetries < 0 {
		add(fmt.Errorf("--webhook-retries must not be negative, got %d", o.WebhookRetries))
	}
	if o.Retries < 0 {
		add(fmt.Errorf("--notify-retries must not be negative, got %d", o.Retries))
	}
	if o.QueueSize < 1 {
		add(fmt.Errorf("--notify-queue-size must be at least 1, got %d", o.QueueSize))
	}
	return errors.Join(errs...)
}

func (o *Options) validateWebhook() error {
	hasURL := o.WebhookURL != "" || o.WebhookURLFile != ""
	var errs []error
	for _, f := range []struct {
		flag string
		set  bool
	}{
		{"webhook-template", o.WebhookTemplate != ""},
		{"webhook-template-file", o.WebhookTemplateFile != ""},
		{"webhook-header", len(o.WebhookHeaders) > 0},
		{"webhook-proxy", o.WebhookProxy != ""},
	} {
		if f.set && !hasURL {
			errs = append(errs, fmt.Errorf("--%s needs --webhook-url or --webhook-url-file", f.flag))
		}
	}
	if !validMethod(o.WebhookMethod) {
		errs = append(errs, fmt.Errorf("--webhook-method must be an HTTP method like POST or PUT, got %q", o.WebhookMethod))
	}
	if _, err := webhook.ParseHeaders(o.WebhookHeaders); err != nil {
		errs = append(errs, fmt.Errorf("--webhook-header: %w", err))
	}
	if o.WebhookTemplate != "" {
		if _, err := webhook.ParseTemplate("webhook-template", o.WebhookTemplate); err != nil {
			errs = append(errs, fmt.Errorf("--webhook-template: %w", err))
		}
	}
	return errors.Join(errs...)
}

func validMethod(m string) bool {
	return m != "" && strings.Trim(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
}

func exclusive(flag string, set bool, file string) error {
	if set && file != "" {
		return fmt.Errorf("--%s and --%s-file are mutually exclusive", flag, flag)
	}
	return nil
}

func pair(a string, aSet bool, b string, bSet bool) error {
	switch {
	case aSet && !bSet:
		return fmt.Errorf("--%s is required with --%s", b, a)
	case bSet && !aSet:
		return fmt.Errorf("--%s needs --%s or --%s-file", b, a, a)
	}
	return nil
}

func positive(flag string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("--%s must be positive, got %s", flag, d)
	}
	return nil
}

// checkURL requires an absolute http(s) URL. The value is echoed only for
// non-secret URLs (show).
func checkURL(flag, raw string, show bool) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return nil
	}
	if show {
		return fmt.Errorf("--%s must be an absolute http(s) URL, got %q", flag, raw)
	}
	return fmt.Errorf("--%s must be an absolute http(s) URL", flag)
}

// checkProxy accepts http, https and socks5 proxy URLs. The value is not
// echoed: it may carry credentials.
func checkProxy(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "socks5") {
		return nil
	}
	return fmt.Errorf("--webhook-proxy must be an http, https or socks5 URL with a host")
}
