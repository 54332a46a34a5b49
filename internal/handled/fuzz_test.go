package handled

import (
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzIDs reads arbitrary lifeboat.dev/handled-notices values and records
// an arbitrary ID into them the way Record does. Invariants: no panic; no
// listed ID is empty or has a comma; Is agrees with IDs and never reports an
// empty ID; an ID ValidateID refuses is an *InvalidIDError; recording a
// valid ID lists it, appended last if new, a change keeping at most Max IDs
// by dropping the oldest (a longer hand-edited list stays as it is when the
// ID is already listed); and the written value reads back as that list.
// Seeds: testdata/fuzz/FuzzIDs.
func FuzzIDs(f *testing.F) {
	f.Fuzz(func(t *testing.T, value, id string) {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{Annotation: value}}}
		ids := IDs(n)
		for _, x := range ids {
			if x == "" || strings.Contains(x, ",") {
				t.Fatalf("IDs(%q) lists %q", value, x)
			}
		}
		if Is(n, id) != (id != "" && slices.Contains(ids, id)) || Is(n, "") || Is(nil, id) {
			t.Fatalf("Is(%q) disagrees with IDs %q", id, ids)
		}
		if err := ValidateID(id); err != nil {
			var ie *InvalidIDError
			if !errors.As(err, &ie) || ie.ID != id || id != "" && !strings.Contains(id, ",") {
				t.Fatalf("ValidateID(%q) = %v", id, err)
			}
			return
		}
		list, changed := withID(slices.Clone(ids), id)
		if changed == slices.Contains(ids, id) || !slices.Contains(list, id) || changed && len(list) > Max {
			t.Fatalf("withID(%q, %q) = %q, %v", ids, id, list, changed)
		}
		if changed && (list[len(list)-1] != id || !slices.Equal(list[:len(list)-1], ids[max(0, len(ids)+1-Max):])) {
			t.Fatalf("withID(%q, %q) = %q: want the newest Max-1 and id last", ids, id, list)
		}
		written := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{Annotation: strings.Join(list, ",")}}}
		if back := IDs(written); !slices.Equal(back, list) || !Is(written, id) {
			t.Fatalf("wrote %q, read back %q", list, back)
		}
	})
}
