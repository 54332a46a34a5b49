package queue

import (
	"context"
	"sync"

	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// msgRef is one received message whose events are being worked on.
type msgRef struct {
	msg       *sqstypes.Message
	remaining int  // events not finished
	failed    bool // an event hit a transient error: do not delete
	release   bool // interrupted by shutdown: make visible at exit
}

// tracker bounds and lists in-flight messages.
type tracker struct {
	mu       sync.Mutex
	max      int
	live     map[*msgRef]struct{}
	released []*sqstypes.Message
	freed    chan struct{} // closed and replaced when a slot frees
}

func newTracker(max int) *tracker {
	return &tracker{max: max, live: map[*msgRef]struct{}{}, freed: make(chan struct{})}
}

// waitSlots blocks until a slot is free and returns how many (≤ want) are;
// 0 when ctx ended.
func (t *tracker) waitSlots(ctx context.Context, want int) int {
	for {
		t.mu.Lock()
		free, ch := t.max-len(t.live), t.freed
		t.mu.Unlock()
		if free > 0 {
			return min(free, want)
		}
		select {
		case <-ctx.Done():
			return 0
		case <-ch:
		}
	}
}

func (t *tracker) add(m *sqstypes.Message, events int) *msgRef {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := &msgRef{msg: m, remaining: events}
	t.live[r] = struct{}{}
	return r
}

// done records one finished event. last reports the message's last event;
// ok that none failed, so the message may be deleted.
func (t *tracker) done(r *msgRef, err error, shuttingDown bool) (last, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		r.failed = true
		r.release = r.release || shuttingDown
	}
	r.remaining--
	if r.remaining > 0 {
		return false, false
	}
	delete(t.live, r)
	if r.release {
		t.released = append(t.released, r.msg)
	}
	close(t.freed)
	t.freed = make(chan struct{})
	return true, !r.failed
}

// inFlight lists messages whose work is running and not failed.
func (t *tracker) inFlight() []*sqstypes.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*sqstypes.Message, 0, len(t.live))
	for r := range t.live {
		if !r.failed {
			out = append(out, r.msg)
		}
	}
	return out
}

// unfinished lists messages interrupted by shutdown or still tracked.
func (t *tracker) unfinished() []*sqstypes.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]*sqstypes.Message(nil), t.released...)
	for r := range t.live {
		out = append(out, r.msg)
	}
	return out
}
