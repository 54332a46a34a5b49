package discord_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/notify/discord"
	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
)

func TestExecutesTheWebhook(t *testing.T) {
	var body, path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body, path = string(b), r.URL.Path
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	m := notifier.Message{Cluster: "prod", Node: "@everyone-node", Text: "cordoned"}
	if err := discord.New(srv.URL+"/api/webhooks/123/TOKEN", nil).Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if want := `{"content":"[prod] @everyone-node: cordoned","allowed_mentions":{"parse":[]}}`; body != want || path != "/api/webhooks/123/TOKEN" {
		t.Errorf("POST %s %s, want %s", path, body, want)
	}
	long := discord.Payload(notifier.Message{Text: strings.Repeat("é", 3000)})
	if n := len([]rune(long.Content)); n != 2000 {
		t.Errorf("content of %d characters, want it cut to 2000", n)
	}
}

func TestRateLimitIsRetryableWithItsDelay(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"message":"You are being rate limited.","retry_after":3,"global":false}`)
	}))
	defer srv.Close()
	err := discord.New(srv.URL+"/api/webhooks/123/SECRETTOKEN", nil).Notify(context.Background(), notifier.Message{Text: "x"})
	var de *notifier.DeliveryError
	if !errors.As(err, &de) || de.Permanent || de.RetryAfter != 3*time.Second || strings.Contains(err.Error(), "SECRETTOKEN") {
		t.Fatalf("error %v: want a retryable, redacted 429 with a 3s wait", err)
	}
}
