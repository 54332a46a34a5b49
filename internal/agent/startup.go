package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/handled"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// NodeMissingError reports that the agent's Node does not exist: a wrong
// --node / NODE_NAME (host mode falls back to the hostname), or a node that
// has not registered yet. The agent is not ready until it appears.
type NodeMissingError struct {
	// Node is the name looked for.
	Node string
}

func (e *NodeMissingError) Error() string {
	return fmt.Sprintf("node %q not found: check --node / $NODE_NAME (host mode falls back to the hostname), "+
		"or the kubelet has not registered it yet", e.Node)
}

// Reconcile brings the node's state left by an earlier run up to date. It
// removes pods GracefulNodeShutdown left behind and releases the entries of
// lifeboat's mark whose reason is over: a host shutdown (the agent starting
// again means the host is back), and a scheduled reboot or host maintenance
// after the node rebooted (a new boot ID). An entry for a notice that may
// still be in force (a spot interruption, a pending maintenance) is kept, so
// a crash and restart in the middle of a notice never uncordons; an admin's
// cordon is never touched. A Node that does not exist is a *NodeMissingError.
func (a *Agent) Reconcile(ctx context.Context) error {
	_, err := a.reconcile(ctx)
	return err
}

// reconcile is Reconcile; it returns the IDs of reboot entries whose boot ID
// has not changed (yet), which Run re-checks for a while.
func (a *Agent) reconcile(ctx context.Context) (waiting []string, err error) {
	n, err := a.getOwnNode(ctx)
	if err != nil {
		return nil, err
	}
	if removed, err := a.cfg.Drainer.RemoveShutdownLeftovers(ctx, a.cfg.Node); err != nil {
		return nil, fmt.Errorf("removing GracefulNodeShutdown leftovers: %w", err)
	} else if removed > 0 {
		a.cfg.Log.Info("removed pods left by GracefulNodeShutdown", "node", a.cfg.Node, "pods", removed)
	}
	return a.releaseOver(ctx, n, true)
}

// getOwnNode reads the agent's Node; a missing one is a *NodeMissingError.
func (a *Agent) getOwnNode(ctx context.Context) (*corev1.Node, error) {
	cctx, cancel := context.WithTimeout(ctx, apiCallTimeout)
	defer cancel()
	n, err := a.cfg.Client.CoreV1().Nodes().Get(cctx, a.cfg.Node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, &NodeMissingError{Node: a.cfg.Node}
	}
	if err != nil {
		return nil, err
	}
	a.sawNode()
	return n, nil
}

// releaseOver releases the entries of lifeboat's mark on n whose reason is
// over and returns the reboot entries still waiting for a new boot ID;
// logKept logs the entries kept.
func (a *Agent) releaseOver(ctx context.Context, n *corev1.Node, logKept bool) (waiting []string, err error) {
	mark, has, err := drain.ReadMark(n)
	if err != nil || !has {
		return nil, err
	}
	for _, e := range mark.Notices {
		if notice.Kind(e.Kind) == notice.KindRebalance && a.cfg.AtRiskTTL > 0 && !e.At.IsZero() {
			// The taint of a rebalance recommendation expires AtRiskTTL
			// after it was set, across restarts.
			rn := notice.Notice{ID: e.ID, Kind: notice.KindRebalance, Node: a.cfg.Node, Source: "mark"}
			at := e.At
			a.startJob(context.WithoutCancel(ctx), e.ID, func(jctx context.Context) { a.expireAtRisk(jctx, rn, at) })
			continue
		}
		switch why, wait := entryOver(n, e); {
		case why != "":
			if _, err := a.cfg.Drainer.Release(ctx, a.cfg.Node, e.ID); err != nil {
				return nil, err
			}
			a.cfg.Log.Info("lifeboat's mark released", "node", a.cfg.Node, "reason", why, "notice", e.ID)
		case wait:
			waiting = append(waiting, e.ID)
		case logKept:
			a.cfg.Log.Info("keeping lifeboat's mark: its notice may still be in force", "node", a.cfg.Node,
				"notice", e.ID, "kind", e.Kind)
		}
	}
	return waiting, nil
}

// entryOver says why a mark entry's reason no longer holds, or "" if it
// may; wait is set for a reboot entry whose boot ID has not changed (yet).
func entryOver(n *corev1.Node, e drain.MarkNotice) (why string, wait bool) {
	switch notice.Kind(e.Kind) {
	case notice.KindShutdown:
		return "the host shutdown is over (the agent started again)", false
	case notice.KindScheduledReboot, notice.KindHostMaintenance:
		now := n.Status.NodeInfo.BootID
		if e.BootID != "" && now != "" && e.BootID != now {
			return "the node rebooted (new boot ID)", false
		}
		return "", e.BootID != ""
	}
	return "", false
}

// reconcileUntilDone runs Reconcile until it succeeds, with backoff, then
// re-checks reboot entries whose boot ID had not changed yet for up to
// RebootWait (reading only the Node). It closes done after the first
// success.
func (a *Agent) reconcileUntilDone(ctx context.Context, done chan<- struct{}) {
	var waiting []string
	for attempt := 1; ; attempt++ {
		var err error
		if waiting, err = a.reconcile(ctx); err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		wait := RetryDelay(attempt)
		if attempt > 3 {
			wait = retryMax
		}
		a.cfg.Log.Error("start-up reconciliation failed; retrying (not ready until it succeeds)",
			"node", a.cfg.Node, "attempt", attempt, "retryIn", wait, "err", err)
		if !a.sleep(ctx, wait) {
			return
		}
	}
	close(done)
	until := a.cfg.Clock.Now().Add(a.cfg.RebootWait)
	for len(waiting) > 0 && a.cfg.Clock.Now().Before(until) {
		if !a.sleep(ctx, 5*time.Second) {
			return
		}
		n, err := a.getOwnNode(ctx)
		var w []string
		if err == nil {
			w, err = a.releaseOver(ctx, n, false)
		}
		if err != nil {
			a.cfg.Log.Warn("re-checking reboot marks failed", "node", a.cfg.Node, "err", err)
			continue
		}
		waiting = w
	}
}

func (a *Agent) handled(ctx context.Context, id string) (bool, error) {
	n, err := a.getOwnNode(ctx)
	var missing *NodeMissingError
	if errors.As(err, &missing) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return handled.Is(n, id), nil
}
