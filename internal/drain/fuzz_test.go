package drain

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzReadMark decodes arbitrary lifeboat.dev/cordon annotations (on a node
// that is or is not unschedulable). Invariants: no panic; an annotation that
// does not decode is an error and no mark; a mark that decodes re-encodes
// (as lifeboat writes it) to an annotation that decodes to an equal mark and
// encodes to the same bytes, so what lifeboat writes it reads back exactly
// (the same instants: a time's location and the sub-second part of a
// taint's timeAdded, which metav1.Time does not write and lifeboat never
// sets, may differ).
// Seeds: testdata/fuzz/FuzzReadMark (the current and the single-notice
// format, and interesting inputs).
func FuzzReadMark(f *testing.F) {
	f.Fuzz(func(t *testing.T, annotation string, unschedulable bool) {
		node := func(v string) *corev1.Node {
			return &corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: "n", Annotations: map[string]string{AnnotationCordon: v}},
				Spec:       corev1.NodeSpec{Unschedulable: unschedulable},
			}
		}
		m, ok, err := ReadMark(node(annotation))
		if err != nil {
			if ok || m != nil || !strings.Contains(err.Error(), AnnotationCordon) {
				t.Fatalf("error %v with ok=%v, mark %+v (want no mark, an error naming the annotation)", err, ok, m)
			}
			return
		}
		if !ok || m == nil {
			t.Fatalf("present annotation %q read as no mark", annotation)
		}
		written, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("decoded mark %+v does not encode: %v", m, err)
		}
		again, ok, err := ReadMark(node(string(written)))
		if err != nil || !ok {
			t.Fatalf("the mark lifeboat would write, %s, does not read back: ok=%v, %v", written, ok, err)
		}
		if rewritten, _ := json.Marshal(again); string(rewritten) != string(written) {
			t.Fatalf("written %s, then %s", written, rewritten)
		}
		normalizeTimes(reflect.ValueOf(m))
		normalizeTimes(reflect.ValueOf(again))
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("mark changed on a write and read:\n%+v\n%+v\n(annotation %q, written %s)", m, again, annotation, written)
		}
	})
}

// normalizeTimes makes the times reachable from v comparable with
// reflect.DeepEqual: each in UTC (a "+00:00" offset decodes into Local on a
// UTC machine, "Z" into UTC: the same instant), and each metav1.Time cut to
// whole seconds, which is what metav1.Time writes.
func normalizeTimes(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			normalizeTimes(v.Elem())
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			normalizeTimes(v.Index(i))
		}
	case reflect.Struct:
		switch t := v.Addr().Interface().(type) {
		case *metav1.Time:
			t.Time = t.Truncate(time.Second).UTC()
			return
		case *time.Time:
			*t = t.UTC()
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				normalizeTimes(v.Field(i))
			}
		}
	}
}
