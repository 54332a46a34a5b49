package notify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/metrics"
	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
	"github.com/lifeboat-dev/lifeboat/internal/notify/webhook"
)

// generous bounds waits for asynchronous work; it is a hang detector,
// never a performance assertion.
const generous = 60 * time.Second

// recorder is a notifier that remembers what it delivered.
type recorder struct {
	name string
	mu   sync.Mutex
	msgs []notifier.Message
	got  chan notifier.Message
}

func newRecorder(name string) *recorder {
	return &recorder{name: name, got: make(chan notifier.Message, 100)}
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Notify(_ context.Context, m notifier.Message) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	r.got <- m
	return nil
}

func (r *recorder) messages() []notifier.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notifier.Message(nil), r.msgs...)
}

// hangingServer accepts requests and never answers until the test ends.
func hangingServer(t *testing.T) (*httptest.Server, chan struct{}) {
	t.Helper()
	arrived := make(chan struct{}, 100)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv, arrived
}

func waitFor[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(generous):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// closeWithin runs Close and fails the test if it hangs.
func closeWithin(ctx context.Context, t *testing.T, d *Dispatcher) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- d.Close(ctx) }()
	return waitFor(t, done, "Dispatcher.Close")
}

func count(m *metrics.Metrics, notifier, result string) float64 {
	return testutil.ToFloat64(m.Notifications.WithLabelValues(notifier, result))
}

func TestHangingEndpointNeverBlocksAndCloseIsBoundedByTheDeadline(t *testing.T) {
	srv, arrived := hangingServer(t)
	m := metrics.New("test")
	d := NewDispatcher(DispatcherConfig{Metrics: m, Backoff: time.Millisecond})
	d.Add(webhook.New(webhook.Config{URL: srv.URL}), 5)
	rec := newRecorder("healthy")
	d.Add(rec, 0)

	expires := time.Now().Add(time.Second)
	for i := range 3 {
		// Send returns although the first delivery hangs: the loop
		// finishing is the proof (Send has no way to wait).
		d.Send(notifier.Message{Step: string(drain.StepCordoned), Node: "n1", Expires: expires, Text: string(rune('a' + i))})
	}
	waitFor(t, arrived, "the webhook request")
	for range 3 {
		waitFor(t, rec.got, "delivery to the healthy notifier")
	}

	if err := closeWithin(context.Background(), t, d); err != nil {
		t.Fatalf("Close(Background) = %v, want nil once every message expired", err)
	}
	if !time.Now().After(expires) {
		t.Error("Close returned before the messages' deadline although the endpoint never answered")
	}
	if got := count(m, "webhook", metrics.NotificationExpired); got != 3 {
		t.Errorf("webhook expired = %v, want 3", got)
	}
	if got := count(m, "healthy", metrics.NotificationSent); got != 3 {
		t.Errorf("healthy sent = %v, want 3: a hanging notifier must not hold up the others", got)
	}
}

func TestCloseWithCanceledContextAbortsDeliveries(t *testing.T) {
	srv, arrived := hangingServer(t)
	m := metrics.New("test")
	d := NewDispatcher(DispatcherConfig{Metrics: m})
	d.Add(webhook.New(webhook.Config{URL: srv.URL}), 0)
	far := time.Now().Add(time.Hour)
	d.Send(notifier.Message{Step: string(drain.StepCordoned), Expires: far})
	d.Send(notifier.Message{Step: string(drain.StepDrained), Expires: far})
	waitFor(t, arrived, "the webhook request")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := closeWithin(ctx, t, d); !errors.Is(err, context.Canceled) {
		t.Errorf("Close(canceled ctx) = %v, want context.Canceled", err)
	}
	if got := count(m, "webhook", metrics.NotificationCanceled); got != 2 {
		t.Errorf("canceled = %v, want 2 (the one in flight and the queued one)", got)
	}
	d.Send(notifier.Message{Step: string(drain.StepNodeDeleted)})
	if got := count(m, "webhook", metrics.NotificationCanceled); got != 3 {
		t.Errorf("canceled after Send on a closed dispatcher = %v, want 3", got)
	}
}

func TestFullQueueDropsAndCounts(t *testing.T) {
	srv, arrived := hangingServer(t)
	m := metrics.New("test")
	d := NewDispatcher(DispatcherConfig{Metrics: m, QueueSize: 1})
	d.Add(webhook.New(webhook.Config{URL: srv.URL}), 0)
	expires := time.Now().Add(2 * time.Second) // far enough that the queued message waits
	d.Send(notifier.Message{Expires: expires})
	waitFor(t, arrived, "the first request") // in flight: the queue is empty again
	for range 4 {
		d.Send(notifier.Message{Expires: expires}) // one fits, three do not
	}
	if got := count(m, "webhook", metrics.NotificationQueueFull); got != 3 {
		t.Errorf("queue_full = %v, want 3", got)
	}
	if err := closeWithin(context.Background(), t, d); err != nil {
		t.Fatal(err)
	}
	if got := count(m, "webhook", metrics.NotificationExpired); got != 2 {
		t.Errorf("expired = %v, want 2", got)
	}
}

func TestRetriesOn5xxNotOn4xx(t *testing.T) {
	cases := []struct {
		name     string
		statuses []int
		retries  int
		requests int
		result   string
	}{
		{name: "5xx then success", statuses: []int{503, 500, 200}, retries: 3, requests: 3, result: metrics.NotificationSent},
		{name: "429 is retried", statuses: []int{429, 204}, retries: 3, requests: 2, result: metrics.NotificationSent},
		{name: "4xx is not retried", statuses: []int{400, 200}, retries: 3, requests: 1, result: metrics.NotificationFailed},
		{name: "retries exhausted", statuses: []int{502, 502, 502, 200}, retries: 2, requests: 3, result: metrics.NotificationFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu sync.Mutex
				n  int
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				w.WriteHeader(tc.statuses[min(n, len(tc.statuses)-1)])
				n++
			}))
			defer srv.Close()
			m := metrics.New("test")
			d := NewDispatcher(DispatcherConfig{Metrics: m, Backoff: time.Millisecond})
			d.Add(webhook.New(webhook.Config{URL: srv.URL}), tc.retries)
			d.Send(notifier.Message{Step: string(drain.StepDrained), Expires: time.Now().Add(generous)})
			if err := closeWithin(context.Background(), t, d); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if n != tc.requests {
				t.Errorf("requests = %d, want %d", n, tc.requests)
			}
			if got := count(m, "webhook", tc.result); got != 1 {
				t.Errorf("notifications{result=%q} = %v, want 1", tc.result, got)
			}
		})
	}
}

func TestMessagesKeepTheirOrderAndGetIDs(t *testing.T) {
	d := NewDispatcher(DispatcherConfig{})
	rec := newRecorder("rec")
	d.Add(rec, 0)
	for _, s := range []drain.StepType{drain.StepNoticeReceived, drain.StepCordoned, drain.StepDrainStarted, drain.StepDrained} {
		d.Send(notifier.Message{Step: string(s)})
	}
	if err := closeWithin(context.Background(), t, d); err != nil {
		t.Fatal(err)
	}
	got := rec.messages()
	if len(got) != 4 || got[0].Step != string(drain.StepNoticeReceived) || got[3].Step != string(drain.StepDrained) {
		t.Fatalf("delivered %+v, want the four steps in order", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i].ID <= got[i-1].ID {
			t.Errorf("IDs %d then %d, want increasing", got[i-1].ID, got[i].ID)
		}
		if got[i].Expires.IsZero() {
			t.Errorf("message %d has no Expires; Send must apply the TTL", i)
		}
	}
}
