// Package budget is lifeboat's cluster-wide drain budget: at most Max nodes
// (per value of a node label, or in the whole cluster) drain at once for
// voluntary reasons. Each running drain holds a coordination.k8s.io Lease in
// lifeboat's namespace — slot 0 to Max-1 of its group, created atomically —
// renewed while it runs and deleted after; a Lease whose holder died expires
// after its duration, so no slot outlives its holder by more than that. Voluntary work (scheduled maintenance, rebalance
// drains, scale-in, `lifeboat drain --max-concurrent-drains`) waits for a
// free slot; involuntary work (spot, preemption, host shutdown) never waits
// but holds a Lease too, so voluntary work backs off while it runs.
package budget

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

// Labels on the budget's Leases.
const (
	// LabelGroup carries a hash of the drain group ("cluster" without a
	// group label).
	LabelGroup = "lifeboat.dev/drain-group"
	// LabelNode names the node whose drain holds the Lease.
	LabelNode = "lifeboat.dev/node"
	// LabelSlot numbers a slot Lease (0 to Max-1); overflow Leases of
	// involuntary drains beyond Max have none.
	LabelSlot = "lifeboat.dev/slot"
)

// DefaultLeaseDuration is how long a Lease outlives a holder that stopped
// renewing it.
const DefaultLeaseDuration = 30 * time.Second

// Config configures a Budget.
type Config struct {
	// Client writes the Leases.
	Client kube.Interface
	// Namespace holds the Leases (--lease-namespace).
	Namespace string
	// Max is how many nodes may drain at once (--max-concurrent-drains); 0
	// means no budget.
	Max int
	// GroupLabel, if set, gives each value of this node label its own
	// budget (--drain-group-label).
	GroupLabel string
	// Holder identifies this process in the Leases (e.g. "queue/pod-1").
	Holder string
	// LeaseDuration is the Lease's duration; 0 means DefaultLeaseDuration.
	LeaseDuration time.Duration
	// Clock tells time; nil means the real clock.
	Clock clock.WithTicker
	// Log receives what the budget does.
	Log *slog.Logger
}

// Budget hands out drain slots.
type Budget struct{ cfg Config }

// New returns a budget; nil when cfg.Max is 0 (no budget).
func New(cfg Config) (*Budget, error) {
	if cfg.Max <= 0 {
		return nil, nil
	}
	if cfg.Client == nil || cfg.Namespace == "" {
		return nil, errors.New("--max-concurrent-drains needs a lease namespace (--lease-namespace)")
	}
	if cfg.LeaseDuration <= 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Budget{cfg: cfg}, nil
}

// Group is the budget group a node belongs to: its GroupLabel value, or
// "cluster".
func (b *Budget) Group(n *corev1.Node) string {
	if b.cfg.GroupLabel == "" || n == nil {
		return "cluster"
	}
	if v := n.Labels[b.cfg.GroupLabel]; v != "" {
		return b.cfg.GroupLabel + "=" + v
	}
	return b.cfg.GroupLabel + " unset"
}

// Waiting describes a voluntary drain waiting for a slot.
type Waiting struct {
	// Group is the budget group.
	Group string
	// Holders are the nodes whose drains hold the group's slots.
	Holders []string
	// Max is the group's budget.
	Max int
}

// Slot is a held drain slot; Release gives it back.
type Slot struct {
	b      *Budget
	lease  string
	cancel context.CancelFunc
	done   chan struct{}
}

// Acquire takes a slot for draining node n. Involuntary work takes one at
// once whatever the count; voluntary work waits until fewer than Max drains
// of its group hold one, calling waiting (if not nil) each time it finds the
// budget full, until ctx ends. The slot is renewed until Release.
//
// Slots are Leases with fixed names (slot 0 to Max-1 of the group): creating
// one is atomic, so two voluntary drains never hold one slot. Involuntary
// work takes a free slot if there is one, else an overflow Lease named after
// its node; voluntary work counts overflow Leases against Max.
func (b *Budget) Acquire(ctx context.Context, n *corev1.Node, voluntary bool, waiting func(Waiting)) (*Slot, error) {
	group := b.Group(n)
	for {
		leases, err := b.live(ctx, group)
		if err != nil {
			return nil, err
		}
		held := map[string]bool{}
		overflow := 0
		var holders []string
		for _, l := range leases {
			if l.Labels[LabelNode] == n.Name {
				// A restarted holder finds its own slot again.
				return b.keep(ctx, l.Name), nil
			}
			held[l.Name] = true
			holders = append(holders, l.Labels[LabelNode])
			if l.Labels[LabelSlot] == "" {
				overflow++
			}
		}
		free := b.cfg.Max
		if voluntary {
			free = b.cfg.Max - overflow
		}
		for i := range free {
			name := slotName(group, i)
			if held[name] {
				continue
			}
			switch err := b.create(ctx, name, group, n.Name, fmt.Sprint(i)); {
			case err == nil:
				return b.keep(ctx, name), nil
			case !apierrors.IsAlreadyExists(err):
				return nil, err
			}
		}
		if !voluntary {
			name := overflowName(group, n.Name)
			if err := b.create(ctx, name, group, n.Name, ""); err != nil && !apierrors.IsAlreadyExists(err) {
				return nil, err
			}
			return b.keep(ctx, name), nil
		}
		slices.Sort(holders)
		if waiting != nil {
			waiting(Waiting{Group: group, Holders: holders, Max: b.cfg.Max})
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-b.cfg.Clock.After(b.pollInterval()):
		}
	}
}

func (b *Budget) pollInterval() time.Duration {
	return max(b.cfg.LeaseDuration/10, 200*time.Millisecond)
}

// live returns the group's unexpired Leases; it deletes the expired ones (a
// holder that died), only if nobody renewed them meanwhile.
func (b *Budget) live(ctx context.Context, group string) ([]coordinationv1.Lease, error) {
	l, err := b.cfg.Client.CoordinationV1().Leases(b.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelGroup + "=" + groupHash(group)})
	if err != nil {
		return nil, fmt.Errorf("listing drain budget leases: %w", err)
	}
	now := b.cfg.Clock.Now()
	var out []coordinationv1.Lease
	for _, lease := range l.Items {
		if expired(&lease, now) {
			b.cfg.Log.Info("drain budget lease expired (its holder stopped renewing): freeing the slot", "lease", lease.Name, "node", lease.Labels[LabelNode])
			rv := lease.ResourceVersion
			err := b.cfg.Client.CoordinationV1().Leases(b.cfg.Namespace).Delete(ctx, lease.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return nil, fmt.Errorf("freeing an expired drain budget lease: %w", err)
			}
			continue
		}
		out = append(out, lease)
	}
	return out, nil
}

// expired reports whether a Lease was not renewed within its duration.
func expired(l *coordinationv1.Lease, now time.Time) bool {
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return true
	}
	return now.After(l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second))
}

// create creates the Lease name; it fails with AlreadyExists when another
// holder has it.
func (b *Budget) create(ctx context.Context, name, group, node, slot string) error {
	now := metav1.NewMicroTime(b.cfg.Clock.Now())
	secs := int32(min(b.cfg.LeaseDuration/time.Second, math.MaxInt32)) //nolint:gosec // bounded just above
	holder := b.cfg.Holder
	labels := map[string]string{LabelGroup: groupHash(group), LabelNode: node}
	if slot != "" {
		labels[LabelSlot] = slot
	}
	_, err := b.cfg.Client.CoordinationV1().Leases(b.cfg.Namespace).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.cfg.Namespace, Labels: labels},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, AcquireTime: &now, RenewTime: &now},
	}, metav1.CreateOptions{})
	return err
}

// renew moves the Lease's renew time to now.
func (b *Budget) renew(ctx context.Context, name string) error {
	leases := b.cfg.Client.CoordinationV1().Leases(b.cfg.Namespace)
	cur, err := leases.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	now := metav1.NewMicroTime(b.cfg.Clock.Now())
	cur.Spec.RenewTime = &now
	_, err = leases.Update(ctx, cur, metav1.UpdateOptions{})
	return err
}

func (b *Budget) delete(ctx context.Context, name string) error {
	err := b.cfg.Client.CoordinationV1().Leases(b.cfg.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// keep renews the Lease every third of its duration until Release.
func (b *Budget) keep(ctx context.Context, name string) *Slot {
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Slot{b: b, lease: name, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := b.cfg.Clock.NewTicker(b.cfg.LeaseDuration / 3)
		defer t.Stop()
		for {
			select {
			case <-kctx.Done():
				return
			case <-t.C():
				if err := b.renew(kctx, name); err != nil && kctx.Err() == nil {
					b.cfg.Log.Warn("cannot renew the drain budget lease", "lease", name, logging.KeyError, err)
				}
			}
		}
	}()
	return s
}

// Release stops renewing the slot's Lease and deletes it.
func (s *Slot) Release(ctx context.Context) {
	if s == nil {
		return
	}
	s.cancel()
	<-s.done
	if err := s.b.delete(ctx, s.lease); err != nil {
		s.b.cfg.Log.Warn("cannot delete the drain budget lease; it expires", "lease", s.lease, logging.KeyError, err)
	}
}

// slotName is the Lease of slot i of group.
func slotName(group string, i int) string {
	return fmt.Sprintf("lifeboat-drain-%s-%d", groupHash(group)[:10], i)
}

// overflowName is the Lease an involuntary drain of node holds when every
// slot of its group is taken.
func overflowName(group, node string) string {
	return "lifeboat-drain-" + groupHash(group)[:10] + "-x-" + truncate(node, 63-len("lifeboat-drain--x-")-10)
}

func groupHash(group string) string {
	h := sha256.Sum256([]byte(group))
	return hex.EncodeToString(h[:])[:32]
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.TrimRight(s[:n], "-.")
}

// Abandon stops renewing the slot's Lease without deleting it, as a holder
// that dies does: the slot frees itself once the Lease expires. (Tests use
// it to play a dead holder.)
func (s *Slot) Abandon() {
	if s == nil {
		return
	}
	s.cancel()
	<-s.done
}
