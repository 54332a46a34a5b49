package notify

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/spf13/pflag"

	"github.com/lifeboat-dev/lifeboat/internal/notify/discord"
	"github.com/lifeboat-dev/lifeboat/internal/notify/email"
	"github.com/lifeboat-dev/lifeboat/internal/notify/googlechat"
	"github.com/lifeboat-dev/lifeboat/internal/notify/pagerduty"
	"github.com/lifeboat-dev/lifeboat/internal/notify/teams"
)

// addMoreFlags registers the flags of the Teams, Discord, Google Chat,
// PagerDuty and email notifiers.
func (o *Options) addMoreFlags(fs *pflag.FlagSet) {
	fs.Var(secretFlag{&o.TeamsWebhookURL}, "teams-webhook-url", "Microsoft Teams Workflows webhook URL: one Adaptive Card per step. Prefer LIFEBOAT_TEAMS_WEBHOOK_URL or --teams-webhook-url-file.")
	fs.StringVar(&o.TeamsWebhookURLFile, "teams-webhook-url-file", o.TeamsWebhookURLFile, "File containing the Teams Workflows webhook URL.")
	fs.Var(secretFlag{&o.DiscordWebhookURL}, "discord-webhook-url", "Discord webhook URL: one message per step. Prefer LIFEBOAT_DISCORD_WEBHOOK_URL or --discord-webhook-url-file.")
	fs.StringVar(&o.DiscordWebhookURLFile, "discord-webhook-url-file", o.DiscordWebhookURLFile, "File containing the Discord webhook URL.")
	fs.Var(secretFlag{&o.GoogleChatWebhookURL}, "google-chat-webhook-url", "Google Chat space webhook URL: one message per step, threaded per node lifecycle. Prefer LIFEBOAT_GOOGLE_CHAT_WEBHOOK_URL or --google-chat-webhook-url-file.")
	fs.StringVar(&o.GoogleChatWebhookURLFile, "google-chat-webhook-url-file", o.GoogleChatWebhookURLFile, "File containing the Google Chat webhook URL.")
	fs.Var(secretFlag{&o.PagerDutyRoutingKey}, "pagerduty-routing-key", "PagerDuty Events API v2 integration key: a failed or deadline-cut drain triggers an alert, its later success resolves it. Prefer LIFEBOAT_PAGERDUTY_ROUTING_KEY or --pagerduty-routing-key-file.")
	fs.StringVar(&o.PagerDutyRoutingKeyFile, "pagerduty-routing-key-file", o.PagerDutyRoutingKeyFile, "File containing the PagerDuty integration key.")
	fs.StringVar(&o.PagerDutyURL, "pagerduty-url", o.PagerDutyURL, "PagerDuty Events API v2 endpoint.")
	fs.StringVar(&o.SMTPAddress, "smtp-address", o.SMTPAddress, "SMTP server host:port: one email per step to --smtp-to.")
	fs.StringVar(&o.SMTPFrom, "smtp-from", o.SMTPFrom, "Sender address of notification emails.")
	fs.StringArrayVar(&o.SMTPTo, "smtp-to", o.SMTPTo, "Recipient of notification emails (repeatable).")
	fs.StringVar(&o.SMTPUsername, "smtp-username", o.SMTPUsername, "SMTP AUTH PLAIN user name (only over TLS, or to localhost).")
	fs.Var(secretFlag{&o.SMTPPassword}, "smtp-password", "SMTP password. Prefer LIFEBOAT_SMTP_PASSWORD or --smtp-password-file.")
	fs.StringVar(&o.SMTPPasswordFile, "smtp-password-file", o.SMTPPasswordFile, "File containing the SMTP password.")
	fs.StringVar(&o.SMTPTLS, "smtp-tls", o.SMTPTLS, "SMTP transport security: starttls (required, port 587), tls (implicit, port 465) or none (a local relay).")
}

// validateMore checks those flags without reading files.
func (o *Options) validateMore() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(exclusive("teams-webhook-url", o.TeamsWebhookURL != "", o.TeamsWebhookURLFile))
	add(exclusive("discord-webhook-url", o.DiscordWebhookURL != "", o.DiscordWebhookURLFile))
	add(exclusive("google-chat-webhook-url", o.GoogleChatWebhookURL != "", o.GoogleChatWebhookURLFile))
	add(exclusive("pagerduty-routing-key", o.PagerDutyRoutingKey != "", o.PagerDutyRoutingKeyFile))
	add(exclusive("smtp-password", o.SMTPPassword != "", o.SMTPPasswordFile))
	add(checkURL("teams-webhook-url", o.TeamsWebhookURL.Reveal(), false))
	add(checkURL("discord-webhook-url", o.DiscordWebhookURL.Reveal(), false))
	add(checkURL("google-chat-webhook-url", o.GoogleChatWebhookURL.Reveal(), false))
	add(checkURL("pagerduty-url", o.PagerDutyURL, true))
	switch o.SMTPTLS {
	case email.TLSStartTLS, email.TLSImplicit, email.TLSNone:
	default:
		add(fmt.Errorf("--smtp-tls must be starttls, tls or none, got %q", o.SMTPTLS))
	}
	if o.SMTPAddress != "" {
		if _, _, err := net.SplitHostPort(o.SMTPAddress); err != nil {
			add(fmt.Errorf("--smtp-address must be host:port, got %q", o.SMTPAddress))
		}
		if o.SMTPFrom == "" || len(o.SMTPTo) == 0 {
			add(errors.New("--smtp-address needs --smtp-from and at least one --smtp-to"))
		}
	} else if o.SMTPFrom != "" || len(o.SMTPTo) > 0 || o.SMTPUsername != "" || o.SMTPPassword != "" || o.SMTPPasswordFile != "" {
		add(errors.New("--smtp-from, --smtp-to, --smtp-username and --smtp-password need --smtp-address"))
	}
	if (o.SMTPPassword != "" || o.SMTPPasswordFile != "") && o.SMTPUsername == "" {
		add(errors.New("--smtp-password needs --smtp-username"))
	}
	return errors.Join(errs...)
}

// moreNotifiers builds the enabled Teams, Discord, Google Chat, PagerDuty
// and email notifiers.
func (o *Options) moreNotifiers(hc *http.Client) ([]registration, error) {
	var regs []registration
	for _, w := range []struct {
		flag string
		v    Secret
		file string
		mk   func(string) registration
	}{
		{"teams-webhook-url", o.TeamsWebhookURL, o.TeamsWebhookURLFile, func(u string) registration { return registration{teams.New(u, hc), o.Retries} }},
		{"discord-webhook-url", o.DiscordWebhookURL, o.DiscordWebhookURLFile, func(u string) registration { return registration{discord.New(u, hc), o.Retries} }},
		{"google-chat-webhook-url", o.GoogleChatWebhookURL, o.GoogleChatWebhookURLFile, func(u string) registration { return registration{googlechat.New(u, hc), o.Retries} }},
	} {
		u, err := secretURL(w.flag, w.v, w.file)
		if err != nil {
			return nil, err
		}
		if u != "" {
			regs = append(regs, w.mk(u))
		}
	}
	key, err := secret("pagerduty-routing-key", o.PagerDutyRoutingKey, o.PagerDutyRoutingKeyFile)
	if err != nil {
		return nil, err
	}
	if key != "" {
		regs = append(regs, registration{pagerduty.New(pagerduty.Config{RoutingKey: key, URL: o.PagerDutyURL, HTTP: hc}), o.Retries})
	}
	if o.SMTPAddress == "" {
		return regs, nil
	}
	pass, err := secret("smtp-password", o.SMTPPassword, o.SMTPPasswordFile)
	if err != nil {
		return nil, err
	}
	m, err := email.New(email.Config{
		Address: o.SMTPAddress, From: o.SMTPFrom, To: o.SMTPTo, Username: o.SMTPUsername, Password: pass, TLS: o.SMTPTLS,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.InsecureSkipTLSVerify}, //nolint:gosec // only with --notify-insecure-skip-tls-verify
		Timeout:   o.Timeout,
	})
	if err != nil {
		return nil, fmt.Errorf("--smtp-address: %w", err)
	}
	return append(regs, registration{m, o.Retries}), nil
}
