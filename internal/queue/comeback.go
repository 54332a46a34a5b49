package queue

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/lifeboat-dev/lifeboat/internal/decide"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/queue/nodeindex"
	"github.com/lifeboat-dev/lifeboat/internal/report"
)

// ActorLambda is the mark's By for Lambda mode's entries.
const ActorLambda = "lambda"

// MarkedNodes lists the Nodes that carry lifeboat's mark and tells when any
// Node changes (nodeindex.Index).
type MarkedNodes interface {
	Marked() []*corev1.Node
	Changed() <-chan struct{}
}

// Returned lists the entries of lifeboat's mark on n whose machine came
// back: the Node is Ready with a boot ID other than the one recorded when
// the entry was written, so the reboot, stop or hibernation the notice
// announced is over. Only queue and Lambda mode's own entries are returned:
// the agent undoes its own at start, and a drain by hand is an operator's to
// undo. It is pure.
func Returned(n *corev1.Node) []drain.MarkNotice {
	mark, has, err := drain.ReadMark(n)
	if err != nil || !has || !nodeindex.Ready(n) {
		return nil
	}
	boot := n.Status.NodeInfo.BootID
	var out []drain.MarkNotice
	for _, e := range mark.Notices {
		if (e.By != string(decide.ModeQueue) && e.By != ActorLambda) || e.BootID == "" || boot == "" || e.BootID == boot {
			continue
		}
		out = append(out, e)
	}
	return out
}

// ReleaseReturned undoes, on every marked Node, lifeboat's cordon for
// notices whose machine came back (Returned), at every Node change until
// ctx ends. Queue mode runs it while it leads, so a node drained for a
// Health reboot, a spot stop or hibernation, or an EC2 stop is schedulable
// again once it is back, as the agent does on its own node at start.
func (p *Processor) ReleaseReturned(ctx context.Context, nodes MarkedNodes) {
	retry := time.NewTicker(30 * time.Second)
	defer retry.Stop()
	for {
		changed := nodes.Changed()
		for _, n := range nodes.Marked() {
			for _, e := range Returned(n) {
				p.releaseReturned(ctx, n.Name, e)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-retry.C:
		}
	}
}

func (p *Processor) releaseReturned(ctx context.Context, node string, e drain.MarkNotice) {
	log := p.Log.With(logging.KeyNode, node, logging.KeyEvent, e.ID)
	if _, err := p.Drainer.Release(ctx, node, e.ID); err != nil {
		if !isNodeNotFound(err) && ctx.Err() == nil {
			log.Warn("cannot release lifeboat's mark of a node that came back; retrying", "error", err)
		}
		return
	}
	log.Info("node came back (Ready, new boot ID): lifeboat's mark for the notice released", "kind", e.Kind)
	n := notice.Notice{ID: e.ID, Kind: notice.Kind(e.Kind), Node: node, Reason: e.Reason, Canceled: true}
	p.reporter().Finished(n, report.Finish{Kind: report.FinishReleased, Node: node})
}
