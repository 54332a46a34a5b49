package notify

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

func TestValidateMoreNotifiers(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "teams", args: []string{"--teams-webhook-url=https://prod.westeurope.logic.azure.com/workflows/x?sig=SECRET"}},
		{name: "bad teams url", args: []string{"--teams-webhook-url=SECRET"}, wantErr: "--teams-webhook-url must be an absolute http(s) URL"},
		{name: "discord url and file", args: []string{"--discord-webhook-url=https://discord.com/api/webhooks/1/SECRET", "--discord-webhook-url-file=f"}, wantErr: "mutually exclusive"},
		{name: "bad chat url", args: []string{"--google-chat-webhook-url=chat.googleapis.com/SECRET"}, wantErr: "--google-chat-webhook-url must be"},
		{name: "bad pagerduty url", args: []string{"--pagerduty-routing-key=SECRET", "--pagerduty-url=events"}, wantErr: "--pagerduty-url must be"},
		{name: "smtp", args: []string{"--smtp-address=smtp.example.com:587", "--smtp-from=a@example.com", "--smtp-to=b@example.com", "--smtp-username=u", "--smtp-password=SECRET"}},
		{name: "smtp without recipients", args: []string{"--smtp-address=smtp.example.com:587", "--smtp-from=a@example.com"}, wantErr: "--smtp-address needs --smtp-from and at least one --smtp-to"},
		{name: "smtp without port", args: []string{"--smtp-address=smtp.example.com", "--smtp-from=a@b", "--smtp-to=c@d"}, wantErr: "--smtp-address must be host:port"},
		{name: "smtp tls", args: []string{"--smtp-tls=maybe"}, wantErr: "--smtp-tls must be"},
		{name: "recipients without server", args: []string{"--smtp-to=b@example.com"}, wantErr: "need --smtp-address"},
		{name: "password without user", args: []string{"--smtp-address=h:25", "--smtp-from=a@b", "--smtp-to=c@d", "--smtp-password=SECRET"}, wantErr: "--smtp-password needs --smtp-username"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.args, nil)
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

// The new notifiers are built from flags, env and files and deliver a step
// through the dispatcher.
func TestMoreNotifiersDeliverFromFlagsEnvAndFiles(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got[r.URL.Path] = string(b)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "chat")
	if err := os.WriteFile(file, []byte(srv.URL+"/chat?key=k1&token=t1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := parse(t, []string{"--teams-webhook-url=" + srv.URL + "/teams", "--google-chat-webhook-url-file=" + file},
		map[string]string{"LIFEBOAT_DISCORD_WEBHOOK_URL": srv.URL + "/discord"})
	if err != nil {
		t.Fatal(err)
	}
	obs, err := New(o, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	obs.NoticeReceived(notice.Notice{ID: "x", Node: "n1", Source: "alibaba", Kind: notice.KindSpotInterruption})
	if err := obs.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(got["/teams"], `"AdaptiveCard"`) || !strings.Contains(got["/discord"], `"content":"n1: `) ||
		!strings.Contains(got["/chat"], `"threadKey"`) {
		t.Errorf("deliveries = %v", got)
	}
}
