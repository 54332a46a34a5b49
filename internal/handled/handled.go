// Package handled records on a Node which notices lifeboat has finished
// acting on (annotation lifeboat.dev/handled-notices), so a notice seen again
// — after an agent restart, a redelivered queue message, a new leader or a
// Lambda retry — is recognised and not acted on twice. The agent, the queue
// consumer and Lambda mode share this one format.
package handled

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// Annotation lists, comma-separated and oldest first, the IDs of the
// notices lifeboat finished handling for the Node.
const Annotation = "lifeboat.dev/handled-notices"

// Max caps the list; the oldest IDs are dropped first.
const Max = 32

// IDs returns the notice IDs recorded on n.
func IDs(n *corev1.Node) []string {
	v := n.Annotations[Annotation]
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// Is reports whether notice id is recorded on n.
func Is(n *corev1.Node, id string) bool {
	return n != nil && slices.Contains(IDs(n), id)
}

// Record adds id to the node's list with a merge patch that carries the
// resourceVersion it was computed from, retried on conflict, so concurrent
// writers lose nothing. A missing node is not an error (a drain may have
// deleted it).
func Record(ctx context.Context, client kubernetes.Interface, node, id string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return ignoreNotFound(err)
		}
		ids := IDs(n)
		if slices.Contains(ids, id) {
			return nil
		}
		ids = append(ids, id)
		if len(ids) > Max {
			ids = ids[len(ids)-Max:]
		}
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"resourceVersion": n.ResourceVersion,
			"annotations":     map[string]string{Annotation: strings.Join(ids, ",")},
		}})
		if err != nil {
			return err
		}
		_, err = client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{})
		return ignoreNotFound(err)
	})
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
