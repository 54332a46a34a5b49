package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaderConfig configures the Lease-based leader election that lets exactly
// one replica consume the queue.
type LeaderConfig struct {
	// Namespace and Name of the coordination.k8s.io Lease.
	Namespace, Name string
	// Identity of this replica; must be unique among the replicas (the
	// command uses POD_NAME, else the host name plus a random suffix): two
	// replicas with one identity would both hold the Lease.
	Identity string
	// LeaseDuration is how long followers wait before taking over an
	// unrenewed lease; RenewDeadline how long the leader keeps trying to
	// renew before it stops leading; RetryPeriod the interval between tries.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// ReleaseOnCancel gives the lease up on a clean shutdown so a follower
	// takes over at once.
	ReleaseOnCancel bool
}

// DefaultLeaderConfig returns client-go's customary timings.
func DefaultLeaderConfig() LeaderConfig {
	return LeaderConfig{Name: "lifeboat-queue", LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second, ReleaseOnCancel: true}
}

// Validate checks the configuration; messages name the flags.
func (c *LeaderConfig) Validate() error {
	switch {
	case c.Namespace == "" || c.Name == "":
		return errors.New("--leader-elect-namespace and --leader-elect-lease-name must be set")
	case c.Identity == "":
		return errors.New("leader election needs an identity (POD_NAME or the host name)")
	case c.RetryPeriod <= 0 || c.RenewDeadline <= time.Duration(leaderelection.JitterFactor*float64(c.RetryPeriod)):
		return fmt.Errorf("--leader-elect-renew-deadline (%s) must exceed 1.2 × --leader-elect-retry-period (%s)", c.RenewDeadline, c.RetryPeriod)
	case c.LeaseDuration <= c.RenewDeadline:
		return fmt.Errorf("--leader-elect-lease-duration (%s) must exceed --leader-elect-renew-deadline (%s)", c.LeaseDuration, c.RenewDeadline)
	}
	return nil
}

// RunLeader campaigns for the lease and runs lead while this replica leads.
// lead's context is canceled when leadership is lost; RunLeader waits for
// lead to return before campaigning again, so this replica never acts
// without the lease. It returns when ctx ends.
func RunLeader(ctx context.Context, client kubernetes.Interface, cfg LeaderConfig, log *slog.Logger, lead func(context.Context)) error {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: cfg.Namespace, Name: cfg.Name},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: cfg.Identity},
	}
	g := &leading{}
	g.cond = sync.NewCond(&g.mu)
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: lock, Name: cfg.Name, ReleaseOnCancel: cfg.ReleaseOnCancel,
			LeaseDuration: cfg.LeaseDuration, RenewDeadline: cfg.RenewDeadline, RetryPeriod: cfg.RetryPeriod,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lctx context.Context) {
					g.run(lctx, func(lctx context.Context) {
						log.Info("became leader", "lease", cfg.Namespace+"/"+cfg.Name, "identity", cfg.Identity)
						lead(lctx)
					})
				},
				OnStoppedLeading: func() { log.Info("not leading", "lease", cfg.Namespace+"/"+cfg.Name, "identity", cfg.Identity) },
				OnNewLeader: func(id string) {
					if id != cfg.Identity {
						log.Info("following leader", "leader", id)
					}
				},
			},
		})
		if err != nil {
			return fmt.Errorf("leader election: %w", err)
		}
		le.Run(ctx)
		// Run returns once leadership is lost, after canceling the leading
		// context; OnStartedLeading runs in its own goroutine, so wait for
		// the work to stop before campaigning again.
		g.wait()
	}
	return nil
}

// leading tracks the work started by OnStartedLeading.
type leading struct {
	mu      sync.Mutex
	cond    *sync.Cond
	running int
}

// run runs f unless ctx already ended (the callback's goroutine may start
// after leadership was already lost).
func (g *leading) run(ctx context.Context, f func(context.Context)) {
	g.mu.Lock()
	if ctx.Err() != nil {
		g.mu.Unlock()
		return
	}
	g.running++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.running--
		g.cond.Broadcast()
		g.mu.Unlock()
	}()
	f(ctx)
}

func (g *leading) wait() {
	g.mu.Lock()
	for g.running > 0 {
		g.cond.Wait()
	}
	g.mu.Unlock()
}
