package slack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
)

const (
	testToken   = "xoxb-1234-5678-SeCrEtToKeN"
	testChannel = "#node-events"
	channelID   = "C024BE91L"
)

// call is one request the fake Slack API received.
type call struct {
	method string // Web API method: chat.postMessage, reactions.add
	auth   string
	form   url.Values
	raw    string
}

// fakeSlack speaks the Slack Web API's form-encoded methods.
type fakeSlack struct {
	mu    sync.Mutex
	calls []call
	ts    int
	// reply overrides the answer to a method once, then is cleared.
	reply map[string]string
}

func (f *fakeSlack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(raw))
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{method: method, auth: r.Header.Get("Authorization"), form: form, raw: string(raw)})
	w.Header().Set("Content-Type", "application/json")
	if body, ok := f.reply[method]; ok {
		delete(f.reply, method)
		_, _ = io.WriteString(w, body)
		return
	}
	switch method {
	case "chat.postMessage":
		f.ts++
		_ = json.NewEncoder(w).Encode(map[string]any{
			"ok": true, "channel": channelID, "ts": fmt.Sprintf("1700000000.%06d", f.ts),
			"message": map[string]any{"text": form.Get("text")},
		})
	case "reactions.add":
		_, _ = io.WriteString(w, `{"ok":true}`)
	default:
		_, _ = io.WriteString(w, `{"ok":false,"error":"unknown_method"}`)
	}
}

func (f *fakeSlack) snapshot() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func newBot(t *testing.T) (*Bot, *fakeSlack) {
	t.Helper()
	f := &fakeSlack{reply: map[string]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return NewBot(BotConfig{Token: testToken, Channel: testChannel, APIURL: srv.URL + "/api"}), f
}

func msg(id uint64, lifecycle string, step drain.StepType, result drain.Outcome, text string) notifier.Message {
	return notifier.Message{ID: id, Lifecycle: lifecycle, Step: string(step), Result: string(result), Cluster: "prod", Node: "n1", Text: text}
}

func TestBotThreadsALifecycleAndReactsWithTheOutcome(t *testing.T) {
	b, f := newBot(t)
	ctx := t.Context()
	for _, m := range []notifier.Message{
		msg(1, "n1/a", drain.StepNoticeReceived, "", "going away: spot-interruption from aws"),
		msg(2, "n1/a", drain.StepCordoned, "", "cordoned"),
		msg(3, "n1/a", drain.StepDrained, drain.OutcomeSucceeded, "drained in 40s: 3 evicted, 0 deleted"),
	} {
		if err := b.Notify(ctx, m); err != nil {
			t.Fatalf("Notify(%s): %v", m.Step, err)
		}
	}
	calls := f.snapshot()
	if len(calls) != 4 {
		t.Fatalf("got %d calls, want 3 chat.postMessage and 1 reactions.add: %+v", len(calls), calls)
	}
	first := "1700000000.000001"
	for i, c := range calls {
		if c.auth != "Bearer "+testToken {
			t.Errorf("call %d (%s): Authorization = %q, want the bot token as Bearer", i, c.method, c.auth)
		}
		if strings.Contains(c.raw, testToken) {
			t.Errorf("call %d (%s): the token is in the request body", i, c.method)
		}
	}
	for i, want := range []struct{ text, threadTS string }{
		{"[prod] n1: going away: spot-interruption from aws", ""},
		{"[prod] n1: cordoned", first},
		{"[prod] n1: drained in 40s: 3 evicted, 0 deleted", first},
	} {
		c := calls[i]
		if c.method != "chat.postMessage" || c.form.Get("channel") != testChannel || c.form.Get("text") != want.text {
			t.Errorf("call %d = %s channel=%q text=%q; want chat.postMessage to %s with %q",
				i, c.method, c.form.Get("channel"), c.form.Get("text"), testChannel, want.text)
		}
		if got := c.form.Get("thread_ts"); got != want.threadTS {
			t.Errorf("call %d thread_ts = %q, want %q", i, got, want.threadTS)
		}
	}
	r := calls[3]
	if r.method != "reactions.add" || r.form.Get("name") != "white_check_mark" ||
		r.form.Get("channel") != channelID || r.form.Get("timestamp") != first {
		t.Errorf("reaction call = %s %v; want reactions.add white_check_mark on %s/%s", r.method, r.form, channelID, first)
	}

	// Another lifecycle of the same node gets its own thread.
	if err := b.Notify(ctx, msg(4, "n1/b", drain.StepCordoned, "", "cordoned")); err != nil {
		t.Fatal(err)
	}
	if c := f.snapshot()[4]; c.form.Get("thread_ts") != "" {
		t.Errorf("first message of a new lifecycle has thread_ts %q, want a new thread", c.form.Get("thread_ts"))
	}
}

func TestBotRetryAfterFailedReactionDoesNotRepost(t *testing.T) {
	b, f := newBot(t)
	f.reply["reactions.add"] = `{"ok":false,"error":"internal_error"}`
	m := msg(1, "n1/a", drain.StepDrainFailed, drain.OutcomeFailed, "drain failed")
	err := b.Notify(t.Context(), m)
	var de *notifier.DeliveryError
	if !errors.As(err, &de) || de.Permanent {
		t.Fatalf("Notify with internal_error = %v, want a retryable *DeliveryError", err)
	}
	if err := b.Notify(t.Context(), m); err != nil {
		t.Fatalf("retry: %v", err)
	}
	var posts, reactions int
	for _, c := range f.snapshot() {
		switch c.method {
		case "chat.postMessage":
			posts++
		case "reactions.add":
			reactions++
			if c.form.Get("name") != "x" {
				t.Errorf("reaction for a failed drain = %q, want x", c.form.Get("name"))
			}
		}
	}
	if posts != 1 || reactions != 2 {
		t.Errorf("posts=%d reactions=%d, want the message posted once and the reaction tried twice", posts, reactions)
	}
}

func TestBotErrors(t *testing.T) {
	cases := []struct {
		name      string
		handler   http.HandlerFunc
		permanent bool
		status    int
	}{
		{
			name: "API refusal is permanent",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, `{"ok":false,"error":"channel_not_found"}`)
			},
			permanent: true,
		},
		{
			name:    "5xx is retryable",
			handler: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) },
			status:  http.StatusBadGateway,
		},
		{
			name: "429 is retryable",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "3")
				w.WriteHeader(http.StatusTooManyRequests)
			},
			status: http.StatusTooManyRequests,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			b := NewBot(BotConfig{Token: testToken, Channel: testChannel, APIURL: srv.URL + "/api/"})
			err := b.Notify(t.Context(), msg(1, "l", drain.StepCordoned, "", "x"))
			var de *notifier.DeliveryError
			if !errors.As(err, &de) {
				t.Fatalf("Notify = %v, want *DeliveryError", err)
			}
			if de.Permanent != tc.permanent || de.StatusCode != tc.status {
				t.Errorf("DeliveryError = %+v, want permanent=%v status=%d", de, tc.permanent, tc.status)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error %q leaks the token", err)
			}
		})
	}
}

func TestEveryDrainResultHasAReaction(t *testing.T) {
	for _, r := range drain.Outcomes {
		if Reactions[r] == "" {
			t.Errorf("no reaction for drain result %q", r)
		}
	}
}

func TestWebhookPostsJSONText(t *testing.T) {
	var (
		got         map[string]any
		contentType string
		path        string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, contentType = r.URL.Path, r.Header.Get("Content-Type")
		_ = json.NewDecoder(r.Body).Decode(&got)
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	hook := srv.URL + "/services/T000/B000/XXXXXXXX"
	w := NewWebhook(hook, nil)
	m := msg(1, "l", drain.StepDrainStarted, "", "draining 3 pods")
	if err := w.Notify(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if path != "/services/T000/B000/XXXXXXXX" || contentType != "application/json" {
		t.Errorf("request = %s (%s), want POST of JSON to the webhook path", path, contentType)
	}
	if got["text"] != "[prod] n1: draining 3 pods" {
		t.Errorf("payload text = %v", got["text"])
	}
	if _, threaded := got["thread_ts"]; threaded {
		t.Error("webhook payload has thread_ts; incoming webhooks cannot thread")
	}
}

func TestWebhookErrorsHideTheURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no_service", http.StatusNotFound)
	}))
	hook := srv.URL + "/services/T000/B000/XXXXSECRETXXXX"
	w := NewWebhook(hook, nil)
	err := w.Notify(t.Context(), msg(1, "l", drain.StepCordoned, "", "x"))
	var de *notifier.DeliveryError
	if !errors.As(err, &de) || !de.Permanent || de.StatusCode != http.StatusNotFound {
		t.Errorf("404 = %v, want a permanent *DeliveryError with status 404", err)
	}
	srv.Close() // now the connection is refused: a *url.Error naming the URL
	err = w.Notify(t.Context(), msg(2, "l", drain.StepCordoned, "", "x"))
	if err == nil || strings.Contains(err.Error(), "XXXXSECRETXXXX") {
		t.Errorf("connection error %v: want an error without the webhook path", err)
	}
	if errors.As(err, &de) && de.Permanent {
		t.Errorf("connection error %v is permanent, want retryable", err)
	}
}
