package agent

import (
	"context"

	"github.com/lifeboat-dev/lifeboat/internal/handled"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// Reconcile runs once at start-up. It removes pods GracefulNodeShutdown
// left behind and undoes lifeboat's own cordon when its reason is over: a
// cordon made for a host shutdown (the agent starting again means the host
// is back), or one made for a scheduled reboot after the node rebooted (a
// new boot ID). A cordon for a notice that may still be in force (a spot
// interruption, a pending maintenance) is kept, so a crash and restart in
// the middle of a notice never uncordons; an admin's cordon is never touched.
func (a *Agent) Reconcile(ctx context.Context) error {
	n, err := a.cfg.Client.CoreV1().Nodes().Get(ctx, a.cfg.Node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		a.cfg.Log.Warn("node not registered (yet); nothing to reconcile", "node", a.cfg.Node)
		return nil
	}
	if err != nil {
		return err
	}
	if removed, err := a.cfg.Drainer.RemoveShutdownLeftovers(ctx, a.cfg.Node); err != nil {
		a.cfg.Log.Warn("cannot remove GracefulNodeShutdown leftovers", "node", a.cfg.Node, "err", err)
	} else if removed > 0 {
		a.cfg.Log.Info("removed pods left by GracefulNodeShutdown", "node", a.cfg.Node, "pods", removed)
	}
	mark, has, err := drain.ReadMark(n)
	if err != nil || !has {
		return err
	}
	if why := reasonOver(n, mark); why != "" {
		if _, err := a.cfg.Drainer.Uncordon(ctx, a.cfg.Node); err != nil {
			return err
		}
		a.cfg.Log.Info("lifeboat's cordon undone", "node", a.cfg.Node, "reason", why, "notice", mark.NoticeID)
		return nil
	}
	a.cfg.Log.Info("keeping lifeboat's cordon: its notice may still be in force", "node", a.cfg.Node,
		"notice", mark.NoticeID, "kind", mark.NoticeKind)
	return nil
}

// reasonOver says why a mark's reason no longer holds, or "" if it may.
func reasonOver(n *corev1.Node, m *drain.Mark) string {
	switch notice.Kind(m.NoticeKind) {
	case notice.KindShutdown:
		return "the host shutdown is over (the agent started again)"
	case notice.KindScheduledReboot, notice.KindHostMaintenance:
		if m.BootID != "" && n.Status.NodeInfo.BootID != "" && m.BootID != n.Status.NodeInfo.BootID {
			return "the node rebooted (new boot ID)"
		}
	}
	return ""
}

func (a *Agent) handled(ctx context.Context, id string) (bool, error) {
	n, err := a.cfg.Client.CoreV1().Nodes().Get(ctx, a.cfg.Node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return handled.Is(n, id), nil
}
