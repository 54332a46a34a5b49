// Package noticetest holds helpers the tests of the cloud notice sources
// (notice/azure, notice/gcp) share: recording OnError reasons and waiting
// for notices and conditions with generous timeouts. Only tests import it.
package noticetest

import (
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
