package notify

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/lifeboat-dev/lifeboat/internal/envflag"
	"github.com/lifeboat-dev/lifeboat/internal/metrics"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// parse registers the flags on a fresh flag set, parses args and applies
// env like the root command does, then validates.
func parse(t *testing.T, args []string, env map[string]string) (Options, error) {
	t.Helper()
	o := DefaultOptions()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := envflag.Apply(fs, lookup); err != nil {
		return o, err
	}
	return o, o.Validate()
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{name: "nothing configured"},
		{name: "slack bot", args: []string{"--slack-token=xoxb-1", "--slack-channel=C1"}},
		{name: "slack token from env", args: []string{"--slack-channel=C1"}, env: map[string]string{"LIFEBOAT_SLACK_TOKEN": "xoxb-1"}},
		{name: "slack token without channel", args: []string{"--slack-token=xoxb-1"}, wantErr: "--slack-channel is required with --slack-token"},
		{name: "channel without token", args: []string{"--slack-channel=C1"}, wantErr: "--slack-channel needs --slack-token"},
		{name: "token and token file", args: []string{"--slack-token=x", "--slack-token-file=" + dir + "/t", "--slack-channel=C"}, wantErr: "--slack-token and --slack-token-file are mutually exclusive"},
		{name: "telegram without chat", args: []string{"--telegram-token=1:a"}, wantErr: "--telegram-chat-id is required with --telegram-token"},
		{name: "bad slack webhook", args: []string{"--slack-webhook-url=hooks.slack.com/services/SECRET"}, wantErr: "--slack-webhook-url must be an absolute http(s) URL"},
		{name: "bad api url", args: []string{"--telegram-api-url=ftp://x"}, wantErr: "--telegram-api-url must be an absolute http(s) URL"},
		{name: "template without webhook", args: []string{"--webhook-template={{.Node}}"}, wantErr: "--webhook-template needs --webhook-url"},
		{name: "broken template", args: []string{"--webhook-url=https://h/x", "--webhook-template={{.Nope}}"}, wantErr: "--webhook-template:"},
		{name: "template and file", args: []string{"--webhook-url=https://h/x", "--webhook-template=x", "--webhook-template-file=f"}, wantErr: "mutually exclusive"},
		{name: "bad header", args: []string{"--webhook-url=https://h/x", "--webhook-header=Bearer SECRET"}, wantErr: "--webhook-header: header #1"},
		{name: "bad method", args: []string{"--webhook-url=https://h/x", "--webhook-method=post it"}, wantErr: "--webhook-method"},
		{name: "bad proxy", args: []string{"--webhook-url=https://h/x", "--webhook-proxy=user:SECRET@proxy"}, wantErr: "--webhook-proxy must be"},
		{name: "negative retries", args: []string{"--webhook-retries=-1"}, wantErr: "--webhook-retries must not be negative"},
		{name: "zero timeout", args: []string{"--notify-timeout=0s"}, wantErr: "--notify-timeout must be positive"},
		{name: "zero queue", args: []string{"--notify-queue-size=0"}, wantErr: "--notify-queue-size must be at least 1"},
		{name: "full webhook", args: []string{
			"--webhook-url=https://hooks.example.com/x", "--webhook-method=PUT", "--webhook-header=Authorization: Bearer x",
			"--webhook-header=X-A: b, c", "--webhook-template={{ json .Node }}", "--webhook-proxy=http://proxy:3128",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.args, tc.env)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error %q echoes a secret", err)
			}
		})
	}
}

func TestFlagWinsOverEnvAndSecretsDoNotPrint(t *testing.T) {
	o, err := parse(t, []string{"--slack-token=xoxb-from-flag", "--slack-channel=C1", "--webhook-header=Authorization: Bearer hdr-secret"},
		map[string]string{"LIFEBOAT_SLACK_TOKEN": "xoxb-from-env", "LIFEBOAT_WEBHOOK_URL": "https://hooks.example.com/env-secret"})
	if err != nil {
		t.Fatal(err)
	}
	if o.SlackToken.Reveal() != "xoxb-from-flag" || o.WebhookURL.Reveal() != "https://hooks.example.com/env-secret" {
		t.Errorf("slack token %q, webhook %q: want the flag over env, and env where no flag", o.SlackToken.Reveal(), o.WebhookURL.Reveal())
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("options", "opts", o, "token", o.SlackToken)
	for _, s := range []string{fmt.Sprintf("%v %+v %#v %s", o, o, o, o.SlackToken), buf.String()} {
		if strings.Contains(s, "xoxb-from") || strings.Contains(s, "env-secret") || strings.Contains(s, "hdr-secret") {
			t.Errorf("formatted options leak a secret: %s", s)
		}
	}
}

func TestWebhookHeadersFromEnv(t *testing.T) {
	o, err := parse(t, []string{"--webhook-url=https://h/x"}, map[string]string{"LIFEBOAT_WEBHOOK_HEADER": "X-A: 1, X-B: 2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.WebhookHeaders) != 2 || o.WebhookHeaders[0] != "X-A: 1" || o.WebhookHeaders[1] != "X-B: 2" {
		t.Errorf("headers from env = %q, want two headers", []string(o.WebhookHeaders))
	}
	o, err = parse(t, []string{"--webhook-url=https://h/x", "--webhook-header=X-C: 3", "--webhook-header=X-D: 4"},
		map[string]string{"LIFEBOAT_WEBHOOK_HEADER": "X-A: 1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.WebhookHeaders) != 2 || o.WebhookHeaders[0] != "X-C: 3" {
		t.Errorf("headers = %q, want the two flags to win over env", []string(o.WebhookHeaders))
	}
}

func TestSecretsFromFiles(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Path
		_, _ = io.WriteString(w, `{"ok":true,"result":{}}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("42:from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := parse(t, []string{"--telegram-token-file=" + tokenFile, "--telegram-chat-id=7", "--telegram-api-url=" + srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := New(o, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	obs.NoticeReceived(notice.Notice{ID: "x", Node: "n1", Source: "gcp", Kind: notice.KindPreemption})
	if err := obs.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got != "/bot42:from-file/sendMessage" {
		t.Errorf("request path = %q, want the token read from the file without its newline", got)
	}

	o.TelegramTokenFile = filepath.Join(dir, "missing")
	if _, err := New(o, Deps{}); err == nil || !strings.Contains(err.Error(), "--telegram-token-file") {
		t.Errorf("New with a missing file = %v, want an error naming --telegram-token-file", err)
	}
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	o.TelegramTokenFile = empty
	if _, err := New(o, Deps{}); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("New with an empty file = %v, want an error", err)
	}
}

func TestWebhookProxyFlagIsUsed(t *testing.T) {
	proxied := make(chan string, 1)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		proxied <- r.Method + " " + r.URL.String() + " " + r.Header.Get("X-Team") + " " + string(b)
	}))
	defer proxy.Close()
	o, err := parse(t, []string{
		"--webhook-url=http://receiver.invalid/hook", "--webhook-proxy=" + proxy.URL,
		"--webhook-header=X-Team: sre", "--webhook-template={{ .Node }} {{ .Step }}", "--webhook-content-type=text/plain",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := New(o, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	obs.NoticeReceived(notice.Notice{ID: "x", Node: "n1"})
	if err := obs.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-proxied:
		if got != "POST http://receiver.invalid/hook sre n1 NoticeReceived" {
			t.Errorf("proxy received %q", got)
		}
	default:
		t.Error("the webhook request did not go through --webhook-proxy")
	}
}

func TestFailingDeliveriesNeverLogSecrets(t *testing.T) {
	const (
		slackToken  = "xoxb-9999-LEAK-slack-token"
		tgToken     = "987654:LEAK-telegram-token"
		hookSecret  = "T000/B000/LEAKwebhookpath"
		querySecret = "LEAK-query-token"
		hdrSecret   = "LEAK-header-value"
	)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // every request: connection refused, a *url.Error with the full URL
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such hook "+r.URL.String(), http.StatusNotFound) // echoes the URL back
	}))
	defer refusing.Close()

	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := metrics.New("test")
	o, err := parse(t, []string{
		"--slack-token=" + slackToken, "--slack-channel=C1", "--slack-api-url=" + closed.URL + "/api/",
		"--slack-webhook-url=" + refusing.URL + "/services/" + hookSecret,
		"--telegram-token=" + tgToken, "--telegram-chat-id=1", "--telegram-api-url=" + closed.URL,
		"--webhook-url=" + closed.URL + "/hook?token=" + querySecret, "--webhook-header=Authorization: Bearer " + hdrSecret,
		"--notify-retries=1", "--webhook-retries=1", "--notify-retry-backoff=1ms",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := New(o, Deps{Log: log, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	obs.NoticeReceived(notice.Notice{ID: "x", Node: "n1", Source: "aws", Deadline: time.Now().Add(time.Hour)})
	if err := obs.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"slack", "slack-webhook", "telegram", "webhook"} {
		if got := count(m, n, metrics.NotificationFailed); got != 1 {
			t.Errorf("%s failed = %v, want 1", n, got)
		}
		if !strings.Contains(logs.String(), `"notifier":"`+n+`"`) {
			t.Errorf("no log line for the failing %s notifier", n)
		}
	}
	if !strings.Contains(logs.String(), `"msg":"notification failed"`) {
		t.Errorf("logs lack the failure:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "LEAK") {
		t.Errorf("a secret reached the logs:\n%s", logs.String())
	}
}

func TestAddFlagsKeepsAnExistingClusterNameFlag(t *testing.T) {
	fs := pflag.NewFlagSet("lambda", pflag.ContinueOnError)
	var eks string
	fs.StringVar(&eks, "cluster-name", "", "EKS cluster name")
	o := DefaultOptions()
	o.AddFlags(fs) // must not panic with "flag redefined"
	if err := fs.Parse([]string{"--cluster-name=prod-eks"}); err != nil {
		t.Fatal(err)
	}
	if eks != "prod-eks" || o.ClusterName != "" {
		t.Errorf("cluster-name went to %q / %q, want the command's own flag", eks, o.ClusterName)
	}
}
