package azure_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/emulate/azure"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	source "github.com/lifeboat-dev/lifeboat/internal/notice/azure"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/noticetest"
)

// wait bounds every wait for something that should happen.
const wait = noticetest.Wait

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

// run starts a source with fast polling against url and returns its notices.
// Cleanup stops it and checks Run returned nil.
func run(t testing.TB, cfg source.Config) (*source.Source, <-chan notice.Notice, *noticetest.ErrorLog) {
	t.Helper()
	errs := &noticetest.ErrorLog{}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	if cfg.Node == "" {
		cfg.Node = "node-a"
	}
	if cfg.Log == nil {
		cfg.Log = logging.Discard()
	}
	cfg.OnError = errs.Add
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

// quiet asserts no notice arrives while the source makes polls more
// requests to the scheduled events document.
func quiet(t *testing.T, ch <-chan notice.Notice, emu *azure.Server, polls int) {
	t.Helper()
	target := emu.Requests(azure.ScheduledEventsPath) + polls
	noticetest.Eventually(t, func() bool { return emu.Requests(azure.ScheduledEventsPath) >= target })
	select {
	case n := <-ch:
		t.Fatalf("unexpected notice %+v", n)
	default:
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
