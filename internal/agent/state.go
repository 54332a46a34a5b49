package agent

import (
	"context"
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// AnnotationHandled on a Node lists the notice IDs lifeboat finished acting
// on (JSON, newest last, capped), so a notice is acted on once even across
// agent restarts.
const AnnotationHandled = "lifeboat.dev/handled-notices"

// maxHandled caps the list so the annotation stays small.
const maxHandled = 20

type handledEntry struct {
	ID string    `json:"id"`
	At time.Time `json:"at"`
}

func readHandled(n *corev1.Node) []handledEntry {
	var hs []handledEntry
	if v := n.Annotations[AnnotationHandled]; v != "" {
		_ = json.Unmarshal([]byte(v), &hs) // a malformed list is treated as empty
	}
	return hs
}

func isHandled(n *corev1.Node, id string) bool {
	for _, h := range readHandled(n) {
		if h.ID == id {
			return true
		}
	}
	return false
}

// markHandled records id on the node with a merge patch of the annotation;
// the list is rebuilt from a fresh read and guarded by resourceVersion.
func (a *Agent) markHandled(ctx context.Context, id string) error {
	for range 5 {
		n, err := a.cfg.Client.CoreV1().Nodes().Get(ctx, a.cfg.Node, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil // the node was deleted: nothing left to remember
		}
		if err != nil {
			return err
		}
		if isHandled(n, id) {
			return nil
		}
		hs := append(readHandled(n), handledEntry{ID: id, At: a.cfg.Clock.Now().UTC().Truncate(time.Second)})
		if len(hs) > maxHandled {
			hs = hs[len(hs)-maxHandled:]
		}
		v, err := json.Marshal(hs)
		if err != nil {
			return err
		}
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"resourceVersion": n.ResourceVersion,
			"annotations":     map[string]string{AnnotationHandled: string(v)},
		}})
		if err != nil {
			return err
		}
		_, err = a.cfg.Client.CoreV1().Nodes().Patch(ctx, a.cfg.Node, types.MergePatchType, patch, metav1.PatchOptions{})
		if !apierrors.IsConflict(err) {
			return err
		}
	}
	return nil
}
