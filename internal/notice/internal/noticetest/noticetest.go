// Package noticetest holds helpers the tests of the cloud notice sources
// (notice/azure, notice/gcp) share: recording OnError reasons and waiting
// for notices and conditions with generous timeouts. Only tests import it.
package noticetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// Wait bounds every wait for something that should happen; generous so a
// loaded 2-core machine does not fail tests.
const Wait = 20 * time.Second

// ErrorLog records the reasons a source reports through Config.OnError.
// It is safe for concurrent use.
type ErrorLog struct {
	mu      sync.Mutex
	reasons []string
}

// Add records one reason; use it as Config.OnError.
func (l *ErrorLog) Add(reason string) {
	l.mu.Lock()
	l.reasons = append(l.reasons, reason)
	l.mu.Unlock()
}

// Count returns how often reason was recorded.
func (l *ErrorLog) Count(reason string) int {
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

// All returns every recorded reason, oldest first.
func (l *ErrorLog) All() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.reasons)
}

// Next returns the next notice on ch, failing t if none arrives within Wait.
func Next(t testing.TB, ch <-chan notice.Notice) notice.Notice {
	t.Helper()
	select {
	case n := <-ch:
		return n
	case <-time.After(Wait):
		t.Fatalf("no notice within %s", Wait)
		return notice.Notice{}
	}
}

// Eventually polls cond until it holds, failing t after Wait.
func Eventually(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", Wait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Run starts src in the background; the returned stop (also registered as
// a cleanup) cancels it and fails t unless Run returns nil within Wait.
func Run(t testing.TB, src notice.Source) (<-chan notice.Notice, func()) {
	t.Helper()
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
			case <-time.After(Wait):
				t.Errorf("Run did not return within %s of cancel", Wait)
			}
		})
	}
	t.Cleanup(stop)
	return out, stop
}

// None fails t if a notice arrives on ch within d.
func None(t testing.TB, ch <-chan notice.Notice, d time.Duration) {
	t.Helper()
	select {
	case n := <-ch:
		t.Fatalf("unexpected notice %+v", n)
	case <-time.After(d):
	}
}

// Ready waits for r's first read, failing t after Wait.
func Ready(t testing.TB, r notice.Readier) {
	t.Helper()
	select {
	case <-r.ReadOnce():
	case <-time.After(Wait):
		t.Fatalf("source not ready within %s", Wait)
	}
}
