package drain

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/lifeboat-dev/lifeboat/internal/budget"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

// StepWaitingForBudget reports a voluntary drain waiting for a slot of the
// cluster's drain budget (--max-concurrent-drains).
const StepWaitingForBudget StepType = "WaitingForDrainBudget"

// waitingForBudget reports, each time the holders change, that the drain of
// node waits for a budget slot.
func (d *Drainer) waitingForBudget(node string, opts Options) func(budget.Waiting) {
	var last []string
	return func(w budget.Waiting) {
		if last != nil && slices.Equal(last, w.Holders) {
			return
		}
		last = slices.Clone(w.Holders)
		if last == nil {
			last = []string{}
		}
		msg := fmt.Sprintf("waiting for a drain slot: %d of %d in %s held by %s", len(w.Holders), w.Max, w.Group, strings.Join(w.Holders, ", "))
		d.log.Info("drain waits for the drain budget", logging.KeyNode, node, "group", w.Group, "holders", w.Holders, "max", w.Max)
		e := opts.step(StepWaitingForBudget, node)
		e.Message = msg
		d.emit(e)
	}
}

// budgetWaitShare is the share of the time left to a voluntary drain's
// deadline it may spend waiting for a budget slot; then it drains anyway
// (holding a slot), so the budget never costs pods their graceful exit.
const budgetWaitShare = 2

// budgetWaitUntil is when a voluntary drain stops waiting for a slot: half
// the time to its deadline; zero (no bound) without one. It is pure.
func budgetWaitUntil(now, deadline time.Time) time.Time {
	if deadline.IsZero() {
		return time.Time{}
	}
	return now.Add(deadline.Sub(now) / budgetWaitShare)
}

// acquireSlot takes the drain's budget slot: a voluntary drain waits for
// one, at most until budgetWaitUntil.
func (d *Drainer) acquireSlot(ctx context.Context, n *corev1.Node, opts Options) (*budget.Slot, error) {
	if !opts.Voluntary {
		return opts.Budget.Acquire(ctx, n, false, nil)
	}
	wctx := ctx
	if until := budgetWaitUntil(d.clock.Now(), opts.Deadline); !until.IsZero() {
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, until)
		defer cancel()
	}
	slot, err := opts.Budget.Acquire(wctx, n, true, d.waitingForBudget(n.Name, opts))
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		d.log.Warn("the drain budget stayed full for half the time to the deadline; draining anyway", logging.KeyNode, n.Name)
		return opts.Budget.Acquire(ctx, n, false, nil)
	}
	return slot, err
}
