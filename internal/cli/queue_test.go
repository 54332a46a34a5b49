//go:build linux && !lifeboat_agent

package cli

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/queue"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

func TestQueueLeaderIdentity(t *testing.T) {
	host := func() (string, error) { return "node-1", nil }
	t.Run("the pod name", func(t *testing.T) {
		o := NewQueueOptions()
		env := map[string]string{"POD_NAME": "lifeboat-queue-7d9f-abcde", "POD_NAMESPACE": "lifeboat"}
		if err := o.Complete(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, host); err != nil {
			t.Fatal(err)
		}
		if o.Leader.Identity != "lifeboat-queue-7d9f-abcde" || o.Leader.Namespace != "lifeboat" {
			t.Errorf("identity %q in %q, want the pod name in the pod's namespace", o.Leader.Identity, o.Leader.Namespace)
		}
	})
	t.Run("no host name and no pod name", func(t *testing.T) {
		o := NewQueueOptions()
		err := o.Complete(noEnv, func() (string, error) { return "", nil })
		if err == nil || !strings.Contains(err.Error(), "POD_NAME") {
			t.Errorf("error = %v, want one naming POD_NAME", err)
		}
	})
	t.Run("without leader election nothing is needed", func(t *testing.T) {
		o := NewQueueOptions()
		o.LeaderElect = false
		if err := o.Complete(noEnv, func() (string, error) { return "", nil }); err != nil {
			t.Error(err)
		}
	})
}

// TestQueueReplicasOnOneHostElectOneLeader: two replicas on one host without
// POD_NAME (host mode, or a pod spec without the downward API) used to share
// the host name as their identity, so both held the Lease and both consumed.
// Their identities now differ, exactly one leads, and the other takes over
// when it stops.
func TestQueueReplicasOnOneHostElectOneLeader(t *testing.T) {
	c := testbed.Get(t)
	ns := c.Namespace(t)
	host := func() (string, error) { return "shared-host", nil }
	var logs testbed.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	var leading, maxLeading atomic.Int32
	var mu sync.Mutex
	led := map[string]bool{}
	stops := map[string]func(){}
	for range 2 {
		o := NewQueueOptions()
		if err := o.Complete(noEnv, host); err != nil {
			t.Fatal(err)
		}
		id := o.Leader.Identity
		if !strings.HasPrefix(id, "shared-host_") || stops[id] != nil {
			t.Fatalf("identity %q: want the host name plus a unique suffix", id)
		}
		cfg := o.Leader
		cfg.Namespace, cfg.LeaseDuration, cfg.RenewDeadline, cfg.RetryPeriod = ns, 3*time.Second, 2*time.Second, 200*time.Millisecond
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = queue.RunLeader(ctx, c.Client, cfg, log, func(lctx context.Context) {
				n := leading.Add(1)
				defer leading.Add(-1)
				for m := maxLeading.Load(); n > m && !maxLeading.CompareAndSwap(m, n); m = maxLeading.Load() {
				}
				mu.Lock()
				led[id] = true
				mu.Unlock()
				<-lctx.Done()
			})
		}()
		stops[id] = func() { cancel(); <-done }
		t.Cleanup(stops[id])
	}
	leader := func() string {
		mu.Lock()
		defer mu.Unlock()
		for id := range led {
			return id
		}
		return ""
	}
	// Both campaigned: one leads and the other saw it lead.
	testbed.Eventually(t, 30*time.Second, func() (bool, error) {
		return leader() != "" && strings.Contains(logs.String(), "following leader"), nil
	})
	first := leader()
	if n := leading.Load(); n != 1 {
		t.Fatalf("%d replicas lead, want 1", n)
	}
	stops[first]()
	testbed.Eventually(t, 30*time.Second, func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(led) == 2, nil
	})
	if m := maxLeading.Load(); m != 1 {
		t.Errorf("%d replicas led at once, want 1", m)
	}
}
