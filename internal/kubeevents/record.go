package kubeevents

import (
	"context"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"

	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

// lookupTimeout bounds one pod lookup.
const lookupTimeout = 10 * time.Second

// record turns an item into an Event on the broadcaster (or updates the
// pod UID cache). It runs on the recording goroutine only.
func (r *Recorder) record(it item) {
	switch {
	case r.ctx.Err() != nil:
		return
	case it.prefetch:
		r.uids.prefetch(r.ctx, it.node, r.cfg.Log)
		return
	case it.forget:
		r.uids.forget(it.node)
		return
	}
	ref := nodeRef(it.node)
	if it.pod != "" {
		ref = r.uids.podRef(r.ctx, it.node, it.pod)
	}
	r.pending.add(1)
	r.recorder.Event(ref, it.eventType, it.reason, truncate(it.message))
}

// nodeRef refers to a Node the way kubelet does (UID = name), which is what
// `kubectl describe node` searches for besides the real UID.
func nodeRef(node string) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: node, UID: types.UID(node)}
}

// podUIDs caches the UIDs of the pods on draining nodes: `kubectl describe
// pod` only shows events whose reference carries the pod's UID. One LIST
// per drain fills it; pods missing from it cost one GET.
type podUIDs struct {
	client kube.Interface
	nodes  map[string]map[string]types.UID // node -> "ns/name" -> UID
}

func newPodUIDs(c kube.Interface) *podUIDs {
	return &podUIDs{client: c, nodes: map[string]map[string]types.UID{}}
}

func (p *podUIDs) prefetch(ctx context.Context, node string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	list, err := p.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
	})
	if err != nil {
		log.Debug("listing pods for event references", logging.KeyNode, node, logging.KeyError, err)
		return
	}
	uids := map[string]types.UID{}
	for i := range list.Items {
		uids[list.Items[i].Namespace+"/"+list.Items[i].Name] = list.Items[i].UID
	}
	p.nodes[node] = uids
}

func (p *podUIDs) forget(node string) { delete(p.nodes, node) }

// podRef refers to pod "ns/name", with its UID when it can be found.
func (p *podUIDs) podRef(ctx context.Context, node, pod string) *corev1.ObjectReference {
	ns, name, _ := strings.Cut(pod, "/")
	ref := &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: ns, Name: name}
	if uid, ok := p.nodes[node][pod]; ok {
		ref.UID = uid
		return ref
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	// On error (the pod is gone, or reading pods is forbidden) the event is
	// recorded without a UID: `kubectl get events` still lists it.
	if got, err := p.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
		ref.UID = got.UID
	}
	if p.nodes[node] == nil {
		p.nodes[node] = map[string]types.UID{}
	}
	p.nodes[node][pod] = ref.UID
	return ref
}
