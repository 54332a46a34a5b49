package telegram

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
)

const token = "123456789:AAE-SeCrEt_tokenValue"

func TestSendMessageWireFormat(t *testing.T) {
	cases := []struct {
		name   string
		chatID string
		want   any // chat_id as decoded from JSON
	}{
		{name: "numeric chat", chatID: "-1001234567890", want: float64(-1001234567890)},
		{name: "channel username", chatID: "@lifeboat_alerts", want: "@lifeboat_alerts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var (
				method, path, ctype string
				body                map[string]any
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				method, path, ctype = r.Method, r.URL.Path, r.Header.Get("Content-Type")
				_ = json.NewDecoder(r.Body).Decode(&body)
				_, _ = io.WriteString(w, `{"ok":true,"result":{"message_id":42}}`)
			}))
			defer srv.Close()
			n := New(Config{Token: token, ChatID: tc.chatID, APIURL: srv.URL + "/"})
			m := notifier.Message{Cluster: "prod", Node: "n1", Text: "cordoned"}
			if err := n.Notify(t.Context(), m); err != nil {
				t.Fatal(err)
			}
			if method != http.MethodPost || path != "/bot"+token+"/sendMessage" || ctype != "application/json" {
				t.Errorf("request = %s %s (%s), want POST /bot<token>/sendMessage with JSON", method, path, ctype)
			}
			if body["chat_id"] != tc.want || body["text"] != "[prod] n1: cordoned" {
				t.Errorf("body = %v, want chat_id %v and the summary as text", body, tc.want)
			}
		})
	}
}

func TestBotAPIErrors(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		body       string
		permanent  bool
		retryAfter time.Duration
	}{
		{name: "chat not found", status: 400, body: `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`, permanent: true},
		{name: "unauthorized", status: 401, body: `{"ok":false,"error_code":401,"description":"Unauthorized"}`, permanent: true},
		{name: "flood control", status: 429, body: `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}`, retryAfter: 7 * time.Second},
		{name: "bad gateway without JSON", status: 502, body: `<html>bad gateway</html>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			err := New(Config{Token: token, ChatID: "1", APIURL: srv.URL}).Notify(t.Context(), notifier.Message{Text: "x"})
			var de *notifier.DeliveryError
			if !errors.As(err, &de) {
				t.Fatalf("Notify = %v, want *DeliveryError", err)
			}
			if de.Permanent != tc.permanent || de.RetryAfter != tc.retryAfter || de.StatusCode != tc.status {
				t.Errorf("DeliveryError = %+v, want status %d permanent=%v retryAfter=%v", de, tc.status, tc.permanent, tc.retryAfter)
			}
		})
	}
}

func TestConnectionErrorHidesToken(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // connection refused: the *url.Error carries the URL with the token
	err := New(Config{Token: token, ChatID: "1", APIURL: srv.URL}).Notify(t.Context(), notifier.Message{Text: "x"})
	if err == nil {
		t.Fatal("Notify to a closed server succeeded")
	}
	if strings.Contains(err.Error(), "SeCrEt") || strings.Contains(err.Error(), "123456789") {
		t.Errorf("error %q leaks the bot token", err)
	}
}
