package azure_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/emulate/azure"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	source "github.com/lifeboat-dev/lifeboat/internal/notice/azure"
)

// wait bounds every wait for something that should happen; generous so a
// loaded 2-core machine does not fail tests.
const wait = 20 * time.Second

const testVM = azure.DefaultVMName

// emulator starts an Azure IMDS emulator on a loopback httptest server.
func emulator(t testing.TB, o azure.Options) (*azure.Server, *httptest.Server) {
	t.Helper()
	if o.Log == nil {
		o.Log = logging.Discard()
	}
	emu := azure.New(o)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv
}

// errorLog records OnError reasons.
type errorLog struct {
	mu      sync.Mutex
	reasons []string
}

func (l *errorLog) add(r string) {
	l.mu.Lock()
	l.reasons = append(l.reasons, r)
	l.mu.Unlock()
}

func (l *errorLog) count(reason string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.reasons {
		if r == reason {
			n++
		}
	}
	return n
}

func (l *errorLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.reasons)
}

// run starts a source with fast polling against url and returns its notices.
// Cleanup stops it and checks Run returned nil.
func run(t testing.TB, cfg source.Config) (*source.Source, <-chan notice.Notice, *errorLog) {
	t.Helper()
	errs := &errorLog{}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	if cfg.Node == "" {
		cfg.Node = "node-a"
	}
	if cfg.Log == nil {
		cfg.Log = logging.Discard()
	}
	cfg.OnError = errs.add
	src, err := source.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	out := make(chan notice.Notice, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(wait):
			t.Errorf("Run did not return after cancel")
		}
	})
	return src, out, errs
}

func next(t testing.TB, ch <-chan notice.Notice) notice.Notice {
	t.Helper()
	select {
	case n := <-ch:
		return n
	case <-time.After(wait):
		t.Fatalf("no notice within %s", wait)
		return notice.Notice{}
	}
}

// quiet asserts no notice arrives while the source makes polls more
// requests to the scheduled events document.
func quiet(t *testing.T, ch <-chan notice.Notice, emu *azure.Server, polls int) {
	t.Helper()
	target := emu.Requests(azure.ScheduledEventsPath) + polls
	eventually(t, func() bool { return emu.Requests(azure.ScheduledEventsPath) >= target })
	select {
	case n := <-ch:
		t.Fatalf("unexpected notice %+v", n)
	default:
	}
}

func eventually(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", wait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func schedule(t testing.TB, emu *azure.Server, spec azure.EventSpec) azure.Event {
	t.Helper()
	ev, err := emu.Schedule(spec)
	if err != nil {
		t.Fatalf("Schedule: %v", err)
	}
	return ev
}
