package handled

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/lifeboat-dev/lifeboat/internal/kube/clientset"
)

// Pure list logic; Record's conflict safety against a real API server is
// exercised by the agent and queue tests on the test control plane.
func TestRecordCapsAndDedupes(t *testing.T) {
	client := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}})
	ctx := context.Background()
	for i := range Max + 5 {
		if err := Record(ctx, clientset.Wrap(client), "n", fmt.Sprintf("id-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := Record(ctx, clientset.Wrap(client), "n", "id-30"); err != nil { // already listed: no change
		t.Fatal(err)
	}
	n, _ := client.CoreV1().Nodes().Get(ctx, "n", metav1.GetOptions{})
	ids := IDs(n)
	if len(ids) != Max || ids[0] != "id-5" || ids[Max-1] != fmt.Sprintf("id-%d", Max+4) {
		t.Errorf("ids = %v, want the newest %d, oldest first, no duplicates", ids, Max)
	}
	if !Is(n, "id-10") || Is(n, "id-0") || Is(nil, "id-10") {
		t.Error("Is disagrees with the list")
	}
	if err := Record(ctx, clientset.Wrap(client), "gone", "x"); err != nil {
		t.Errorf("missing node: %v, want nil", err)
	}
}

func TestRecordRefusesIDsThatDoNotReadBack(t *testing.T) {
	client := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}})
	ctx := context.Background()
	for _, id := range []string{"", "a,b", ","} {
		err := Record(ctx, clientset.Wrap(client), "n", id)
		var ie *InvalidIDError
		if !errors.As(err, &ie) || ie.ID != id {
			t.Errorf("Record(%q) = %v, want an *InvalidIDError", id, err)
		}
	}
	n, _ := client.CoreV1().Nodes().Get(ctx, "n", metav1.GetOptions{})
	if _, ok := n.Annotations[Annotation]; ok || len(client.Actions()) != 1 {
		t.Errorf("refused IDs were written (annotations %v, %d API calls, want only this GET)", n.Annotations, len(client.Actions()))
	}
}

func TestIDsSkipsEmptyEntries(t *testing.T) {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{Annotation: ",a,,b,"}}}
	if got := IDs(n); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("IDs = %q, want [a b]", got)
	}
	if Is(n, "") {
		t.Error(`Is(n, "") = true: an empty entry is no handled notice`)
	}
}
