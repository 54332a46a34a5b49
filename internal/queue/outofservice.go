package queue

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/queue/nodeindex"
)

// KindInstanceGone is the kind of queue mode's mark entry for a node whose
// instance EC2 reports stopped or terminated while its Node object is kept:
// TendMarks applies the out-of-service taint to it once it is NotReady.
const KindInstanceGone = "instance-gone"

// outOfServiceSuffix makes the ID of the instance-gone entry from the
// notice's.
const outOfServiceSuffix = "/out-of-service"

// TaintOutOfService is Kubernetes' non-graceful node shutdown taint
// (KEP-2268): with it the pods of a node that is gone are deleted and their
// volumes detached at once, so StatefulSet pods and volumes fail over.
var TaintOutOfService = corev1.Taint{Key: corev1.TaintNodeOutOfService, Value: "nodeshutdown", Effect: corev1.TaintEffectNoExecute}

// instanceGone reports an EC2 state change saying the instance is stopped or
// terminated (not merely stopping).
func instanceGone(n notice.Notice) bool {
	if n.Kind != notice.KindTermination {
		return false
	}
	switch n.Attributes["state"] {
	case "stopped", "terminated":
		return true
	}
	return false
}

// watchOutOfService records, after the drain of a node whose instance is
// gone and whose Node is kept, an instance-gone entry in lifeboat's mark;
// TendMarks taints the node out of service once it is NotReady.
func (t *Task) watchOutOfService(ctx context.Context) {
	o := t.p.Policy.drainOptions(&t.ev, t.plan, t.p.actor())
	o.NoticeID, o.NoticeKind, o.Taint, o.Deadline = t.ev.Notice.ID+outOfServiceSuffix, KindInstanceGone, nil, t.plan.Deadline
	if _, err := t.p.Drainer.Taint(ctx, t.node, o); err != nil && !isNodeNotFound(err) {
		t.log.Warn("cannot record that the instance is gone; the node will not be tainted out of service", "error", err)
	}
}

// outOfServiceDue lists queue mode's instance-gone entries on n whose node
// is NotReady and not yet tainted out of service.
func outOfServiceDue(n *corev1.Node) []drain.MarkNotice {
	mark, has, err := drain.ReadMark(n)
	if err != nil || !has || nodeindex.Ready(n) {
		return nil
	}
	for _, t := range n.Spec.Taints {
		if t.Key == TaintOutOfService.Key {
			return nil
		}
	}
	var out []drain.MarkNotice
	for _, e := range mark.Notices {
		if ownEntry(e) && e.Kind == KindInstanceGone {
			out = append(out, e)
		}
	}
	return out
}

// taintOutOfService applies the out-of-service taint, recorded as
// lifeboat's in its mark so it goes when the node comes back (Returned).
func (p *Processor) taintOutOfService(ctx context.Context, node string, e drain.MarkNotice) {
	taint := TaintOutOfService
	o := drain.Options{NoticeID: e.ID, NoticeKind: e.Kind, Reason: e.Reason, Taint: &taint, Actor: p.actor()}
	if _, err := p.Drainer.Taint(ctx, node, o); err != nil {
		if !isNodeNotFound(err) && ctx.Err() == nil {
			p.Log.Warn("cannot taint a gone node out of service; retrying", logging.KeyNode, node, "error", err)
		}
		return
	}
	p.Log.Info("instance gone and node NotReady: tainted out of service so its pods and volumes fail over",
		logging.KeyNode, node, "taint", TaintOutOfService.Key)
}
