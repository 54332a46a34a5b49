// Package handled records on a Node which notices lifeboat has finished
// acting on (annotation lifeboat.dev/handled-notices), so a notice seen again
// — after an agent restart, a redelivered queue message, a new leader or a
// Lambda retry — is recognised and not acted on twice. The agent, the queue
// consumer and Lambda mode share this one format.
package handled

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// Annotation lists, comma-separated and oldest first, the IDs of the
// notices lifeboat finished handling for the Node.
const Annotation = "lifeboat.dev/handled-notices"

// Max caps the list; the oldest IDs are dropped first.
const Max = 32

// InvalidIDError is a notice ID that cannot be recorded: it is empty or
// contains a comma, the list separator, so it would not read back as one ID.
type InvalidIDError struct {
	// ID is the refused notice ID.
	ID string
}

func (e *InvalidIDError) Error() string {
	if e.ID == "" {
		return "cannot record an empty notice ID as handled"
	}
	return fmt.Sprintf("cannot record notice ID %q as handled: it contains a comma", e.ID)
}

// ValidateID returns an *InvalidIDError for an ID that Record refuses.
func ValidateID(id string) error {
	if id == "" || strings.Contains(id, ",") {
		return &InvalidIDError{ID: id}
	}
	return nil
}

// IDs returns the notice IDs recorded on n, skipping empty entries (a
// hand-edited "a,,b" lists a and b).
func IDs(n *corev1.Node) []string {
	v := n.Annotations[Annotation]
	if v == "" {
		return nil
	}
	ids := strings.Split(v, ",")
	return slices.DeleteFunc(ids, func(id string) bool { return id == "" })
}

// Is reports whether notice id, or another mode's ID for the same cloud
// event (notice.SameEvent), is recorded on n.
func Is(n *corev1.Node, id string) bool {
	return n != nil && id != "" && slices.ContainsFunc(IDs(n), func(x string) bool { return notice.SameEvent(x, id) })
}

// withID returns the list after recording id: unchanged if id is listed,
// else id appended and the oldest IDs dropped beyond Max.
func withID(ids []string, id string) (list []string, changed bool) {
	if slices.Contains(ids, id) {
		return ids, false
	}
	ids = append(ids, id)
	if len(ids) > Max {
		ids = ids[len(ids)-Max:]
	}
	return ids, true
}

// Record adds id to the node's list with a merge patch that carries the
// resourceVersion it was computed from, retried on conflict, so concurrent
// writers lose nothing. A missing node is not an error (a drain may have
// deleted it). An ID ValidateID refuses is an *InvalidIDError, and nothing
// is written.
func Record(ctx context.Context, client kube.Interface, node, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return ignoreNotFound(err)
		}
		ids, changed := withID(IDs(n), id)
		if !changed {
			return nil
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
