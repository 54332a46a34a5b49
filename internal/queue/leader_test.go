//go:build linux

package queue

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/handled"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/queue/message"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// TestLeaderFailover runs two replicas under one Lease. Only the leader
// consumes; when it dies in the middle of a drain, the other takes over,
// receives the message again and finishes the drain — never two drains of
// the node at once, never two leaders at once.
func TestLeaderFailover(t *testing.T) {
	e := newEnv(t, nil)
	ns := e.c.Namespace(t)
	node, id := e.node(t)
	p := e.pod(t, ns, node.Name)
	shared := newCountingDrainer(drain.New(e.c.API, drain.Config{Log: logging.Discard()}))
	shared.block.Store(true)

	cfg := LeaderConfig{
		Namespace: ns, Name: "lifeboat-queue", LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second,
		RetryPeriod: 500 * time.Millisecond,
	}
	var leaders, maxLeaders atomic.Int32
	var mu sync.Mutex
	led := map[string]bool{}
	run := func(identity string) (stop func()) {
		r := e.replica(t, shared)
		c := cfg
		c.Identity = identity
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = RunLeader(ctx, e.c.Client, c, logging.Discard(), func(lctx context.Context) {
				n := leaders.Add(1)
				defer leaders.Add(-1)
				for m := maxLeaders.Load(); n > m && !maxLeaders.CompareAndSwap(m, n); m = maxLeaders.Load() {
				}
				mu.Lock()
				led[identity] = true
				mu.Unlock()
				_ = r.consumer.Run(lctx)
			})
		}()
		var once sync.Once
		stop = func() { once.Do(func() { cancel(); <-done }) }
		t.Cleanup(stop)
		return stop
	}
	stopA := run("replica-a")
	testbed.Eventually(t, 30*time.Second, func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return led["replica-a"], nil
	})
	run("replica-b")
	body := message.SpotInterruption("failover-"+id, id, time.Now())
	parsed, err := message.Parse(body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	msg := e.send(t, body)
	testbed.Eventually(t, 30*time.Second, func() (bool, error) { return shared.count(node.Name) == 1, nil })
	shared.block.Store(false)
	stopA()
	e.waitDeleted(t, msg, 60*time.Second)
	e.c.Eventually(t, 30*time.Second, podGone(e, ns, p.Name))

	mu.Lock()
	defer mu.Unlock()
	switch {
	case !led["replica-b"]:
		t.Error("replica-b never led")
	case maxLeaders.Load() != 1:
		t.Errorf("%d replicas led at once, want 1", maxLeaders.Load())
	case shared.count(node.Name) != 2:
		t.Errorf("%d drain calls, want 2 (the interrupted one and the finishing one)", shared.count(node.Name))
	case shared.maxPer != 1:
		t.Errorf("%d drains of the node ran at once, want 1", shared.maxPer)
	}
	if !handled.Is(e.getNode(t, node.Name), parsed.Events[0].Notice.ID) {
		t.Error("notice not recorded as handled")
	}
}
