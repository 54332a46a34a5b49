package kubeevents

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

// lookupTimeout bounds one pod lookup.
const lookupTimeout = 10 * time.Second

// record turns an item into an Event on the broadcaster. It runs on the
// recording goroutine only.
func (r *Recorder) record(it item) {
	if r.ctx.Err() != nil {
		return
	}
	ref := nodeRef(it.node)
	if it.pod != "" {
		ref = r.podRef(r.ctx, it.pod, it.podUID)
	}
	r.pending.add(1)
	r.recorder.Event(ref, it.eventType, it.reason, truncate(it.message))
}

// nodeRef refers to a Node the way kubelet does (UID = name), which is what
// `kubectl describe node` searches for besides the real UID.
func nodeRef(node string) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: node, UID: types.UID(node)}
}

// podRef refers to pod "ns/name" with its UID: `kubectl describe pod` only
// shows events whose reference carries it. Drain steps carry the UID; a
// step without one costs a GET.
func (r *Recorder) podRef(ctx context.Context, pod string, uid types.UID) *corev1.ObjectReference {
	ns, name, _ := strings.Cut(pod, "/")
	ref := &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: ns, Name: name, UID: uid}
	if uid != "" {
		return ref
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	// On error (the pod is gone, or reading pods is forbidden) the event is
	// recorded without a UID: `kubectl get events` still lists it.
	if got, err := r.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
		ref.UID = got.UID
	} else {
		r.cfg.Log.Debug("looking up a pod for its event reference", logging.KeyPod, pod, logging.KeyError, err)
	}
	return ref
}
