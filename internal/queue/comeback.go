package queue

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/lifeboat-dev/lifeboat/internal/decide"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/queue/message"
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
		if !ownEntry(e) || e.BootID == "" || boot == "" || e.BootID == boot {
			continue
		}
		out = append(out, e)
	}
	return out
}

// TendMarks looks after queue mode's entries in lifeboat's marks, at every
// Node change and every few seconds, until ctx ends; queue mode runs it
// while it leads. It undoes the cordon of notices whose machine came back
// (Returned: a Health reboot, a spot stop or hibernation, an EC2 stop), so
// the node is schedulable again as the agent does on its own node at start;
// it removes a rebalance taint no interruption followed within AtRiskTTL;
// it taints a node whose instance is gone out of service once it is
// NotReady (and Returned removes that taint when it is back);
// and it starts the drain of a deferred maintenance once its lead is
// reached (the at-risk taint's entry records the maintenance's time, so
// this survives restarts and leader changes).
func (p *Processor) TendMarks(ctx context.Context, nodes MarkedNodes) {
	retry := time.NewTicker(5 * time.Second)
	defer retry.Stop()
	running := map[string]bool{}
	var mu sync.Mutex
	for {
		changed := nodes.Changed()
		now := p.Clock.Now()
		for _, n := range nodes.Marked() {
			for _, e := range Returned(n) {
				p.releaseReturned(ctx, n.Name, e)
			}
			for _, e := range p.expiredAtRisk(n, now) {
				p.releaseExpired(ctx, n.Name, e)
			}
			for _, e := range outOfServiceDue(n) {
				p.taintOutOfService(ctx, n.Name, e)
			}
			for _, ev := range p.dueMaintenance(n, now) {
				mu.Lock()
				busy := running[ev.Notice.ID]
				running[ev.Notice.ID] = true
				mu.Unlock()
				if busy {
					continue
				}
				go func() {
					defer func() { mu.Lock(); delete(running, ev.Notice.ID); mu.Unlock() }()
					p.Log.Info("maintenance lead reached: draining", logging.KeyNode, n.Name, logging.KeyEvent, ev.Notice.ID)
					if _, err := p.Process(ctx, ev, 1); err != nil && ctx.Err() == nil {
						p.Log.Warn("deferred maintenance drain failed; trying again", logging.KeyNode, n.Name, "error", err)
					}
				}()
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

// ownEntry reports a mark entry queue or Lambda mode wrote.
func ownEntry(e drain.MarkNotice) bool {
	return e.By == string(decide.ModeQueue) || e.By == ActorLambda
}

// expiredAtRisk lists queue mode's taint-only rebalance entries on n older
// than AtRiskTTL.
func (p *Processor) expiredAtRisk(n *corev1.Node, now time.Time) []drain.MarkNotice {
	mark, has, err := drain.ReadMark(n)
	if err != nil || !has || p.Policy.AtRiskTTL <= 0 {
		return nil
	}
	var out []drain.MarkNotice
	for _, e := range mark.Notices {
		if ownEntry(e) && !e.Cordon && notice.Kind(e.Kind) == notice.KindRebalance && !now.Before(e.At.Add(p.Policy.AtRiskTTL)) {
			out = append(out, e)
		}
	}
	return out
}

// dueMaintenance lists, as events, queue mode's taint-only entries on n of a
// deferred maintenance whose lead is reached.
func (p *Processor) dueMaintenance(n *corev1.Node, now time.Time) []message.Event {
	mark, has, err := drain.ReadMark(n)
	if err != nil || !has {
		return nil
	}
	instance, ok := nodeindex.InstanceID(n.Spec.ProviderID)
	if !ok {
		return nil
	}
	var out []message.Event
	for _, e := range mark.Notices {
		k := notice.Kind(e.Kind)
		if !ownEntry(e) || e.Cordon || e.Deadline.IsZero() || (k != notice.KindScheduledReboot && k != notice.KindHostMaintenance) {
			continue
		}
		if now.Before(e.Deadline.Add(-p.Policy.MaintenanceLead)) {
			continue
		}
		out = append(out, message.Event{Notice: notice.Notice{
			ID: e.ID, Kind: k, InstanceID: instance, Node: n.Name, Deadline: e.Deadline, Reason: e.Reason,
			Detected: now, Source: "sqs",
		}})
	}
	return out
}

func (p *Processor) releaseExpired(ctx context.Context, node string, e drain.MarkNotice) {
	if _, err := p.Drainer.Release(ctx, node, e.ID); err != nil {
		if !isNodeNotFound(err) && ctx.Err() == nil {
			p.Log.Warn("cannot remove an expired at-risk taint; retrying", logging.KeyNode, node, "error", err)
		}
		return
	}
	p.Log.Info("no interruption followed the rebalance recommendation: at-risk taint expired", logging.KeyNode, node, logging.KeyEvent, e.ID)
	n := notice.Notice{ID: e.ID, Kind: notice.KindRebalance, Node: node, Reason: e.Reason, Canceled: true}
	p.reporter().Finished(n, report.Finish{Kind: report.FinishReleased, Node: node})
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
