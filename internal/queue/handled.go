package queue

import (
	"context"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// AnnotationHandled on a Node lists, comma-separated and oldest first, the
// ids of the notices lifeboat finished handling for it, so a redelivered
// notice (a crash between the work and the message deletion, a new leader,
// a Lambda retry) is recognised and not acted on twice.
const AnnotationHandled = "lifeboat.dev/handled-notices"

// MaxHandled caps the list; the oldest ids are dropped first.
const MaxHandled = 32

// HandledIDs returns the notice ids recorded on n.
func HandledIDs(n *corev1.Node) []string {
	v := n.Annotations[AnnotationHandled]
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// IsHandled reports whether notice id is recorded on n.
func IsHandled(n *corev1.Node, id string) bool {
	return n != nil && slices.Contains(HandledIDs(n), id)
}

// RecordHandled adds id to the node's handled list, conflict-safely. A
// missing node is not an error (it may have been deleted by the drain).
func RecordHandled(ctx context.Context, client kubernetes.Interface, node, id string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return ignoreNotFound(err)
		}
		ids := HandledIDs(n)
		if slices.Contains(ids, id) {
			return nil
		}
		ids = append(ids, id)
		if len(ids) > MaxHandled {
			ids = ids[len(ids)-MaxHandled:]
		}
		n = n.DeepCopy()
		if n.Annotations == nil {
			n.Annotations = map[string]string{}
		}
		n.Annotations[AnnotationHandled] = strings.Join(ids, ",")
		_, err = client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return ignoreNotFound(err)
	})
}
