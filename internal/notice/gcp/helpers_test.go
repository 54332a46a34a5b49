package gcp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/emulate/gcp"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	source "github.com/lifeboat-dev/lifeboat/internal/notice/gcp"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/noticetest"
)

// wait bounds every wait for something that should happen.
const wait = noticetest.Wait

func emulator(t testing.TB, wrap func(http.Handler) http.Handler) (*gcp.Server, *httptest.Server) {
	t.Helper()
	emu := gcp.New(gcp.Options{Log: logging.Discard()})
	var h http.Handler = emu
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return emu, srv
}

// run starts a source; cleanup stops it and checks that Run returned nil
// promptly.
func run(t testing.TB, cfg source.Config) (<-chan notice.Notice, *noticetest.ErrorLog, func()) {
	t.Helper()
	errs := &noticetest.ErrorLog{}
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
	var once sync.Once
	stop := func() {
		once.Do(func() {
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
	}
	t.Cleanup(stop)
	return out, errs, stop
}

func none(t *testing.T, ch <-chan notice.Notice) {
	t.Helper()
	select {
	case n := <-ch:
		t.Fatalf("unexpected notice %+v", n)
	default:
	}
}

// hanging waits until the source holds a wait_for_change request on key.
func hanging(t testing.TB, emu *gcp.Server, key string) {
	t.Helper()
	noticetest.Eventually(t, func() bool { return emu.Waiting(key) == 1 })
}

func etag(t testing.TB, emu *gcp.Server, key string) string {
	t.Helper()
	_, e, ok := emu.Value(key)
	if !ok {
		t.Fatalf("emulator has no %s", key)
	}
	return e
}
