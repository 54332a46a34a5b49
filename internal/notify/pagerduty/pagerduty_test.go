package pagerduty_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/drain"

	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
	"github.com/lifeboat-dev/lifeboat/internal/notify/pagerduty"
)

const key = "R0UTINGKEYSECRET0000000000000000"

// fakePD speaks the Events API v2: 202 with status success, or a queued answer.
type fakePD struct {
	mu     sync.Mutex
	events []string
	next   []int // statuses to answer first
}

func (f *fakePD) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path != "/v2/enqueue" || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if len(f.next) > 0 {
		code := f.next[0]
		f.next = f.next[1:]
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"status":"invalid event","message":"Event object is invalid","errors":["x"]}`)
		return
	}
	f.events = append(f.events, string(b))
	var ev struct {
		DedupKey string `json:"dedup_key"`
	}
	_ = json.Unmarshal(b, &ev)
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey})
}

func TestTriggersOnTroubleAndResolvesOnlyWhatItOpened(t *testing.T) {
	f := &fakePD{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	n := pagerduty.New(pagerduty.Config{RoutingKey: key, URL: srv.URL + "/v2/enqueue"})
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	steps := []notifier.Message{
		{Lifecycle: "ok", Node: "n0", Step: string(drain.StepNoticeReceived), Time: at},
		{Lifecycle: "ok", Node: "n0", Step: string(drain.StepDrained), Result: "succeeded", Time: at},
		{Lifecycle: "bad", Cluster: "prod", Node: "n1", Trigger: "aws", Step: string(drain.StepDeadlineFallback), Text: "fallback", Time: at},
		{Lifecycle: "bad", Node: "n1", Step: string(drain.StepNodeDeleted), Time: at},
	}
	var skipped int
	for _, m := range steps {
		if err := n.Notify(context.Background(), m); errors.Is(err, notifier.ErrSkipped) {
			skipped++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	wantTrigger := `{"routing_key":"` + key + `","event_action":"trigger","dedup_key":"bad","payload":{"summary":"[prod] n1: fallback",` +
		`"source":"n1","severity":"warning","timestamp":"2026-03-01T10:00:00Z","component":"prod","group":"aws","class":"DeadlineFallback",` +
		`"custom_details":{"Cluster":"prod","Node":"n1","Step":"DeadlineFallback","Trigger":"aws"}},"client":"lifeboat"}`
	wantResolve := `{"routing_key":"` + key + `","event_action":"resolve","dedup_key":"bad"}`
	if skipped != 2 || len(f.events) != 2 || f.events[0] != wantTrigger || f.events[1] != wantResolve {
		t.Fatalf("skipped %d, events:\n%s\nwant\n%s\n%s", skipped, strings.Join(f.events, "\n"), wantTrigger, wantResolve)
	}
}

func TestRefusalsArePermanentAndRedacted(t *testing.T) {
	f := &fakePD{next: []int{400, 429}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	n := pagerduty.New(pagerduty.Config{RoutingKey: key, URL: srv.URL + "/v2/enqueue"})
	m := notifier.Message{Lifecycle: "x", Node: "n", Step: string(drain.StepDrainFailed), Text: "failed " + key}
	var de *notifier.DeliveryError
	if err := n.Notify(context.Background(), m); !errors.As(err, &de) || !de.Permanent || strings.Contains(err.Error(), key) {
		t.Fatalf("400: %v, want permanent and redacted", err)
	}
	if err := n.Notify(context.Background(), m); !errors.As(err, &de) || de.Permanent {
		t.Fatalf("429: %v, want retryable", err)
	}
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatalf("retry: %v", err)
	}
	// The trigger went through on the retry, so the success resolves it.
	if err := n.Notify(context.Background(), notifier.Message{Lifecycle: "x", Node: "n", Step: string(drain.StepNodeDeleted)}); err != nil {
		t.Fatal(err)
	}
	if len(f.events) != 2 || !strings.Contains(f.events[1], `"resolve"`) {
		t.Errorf("events = %v", f.events)
	}
}
