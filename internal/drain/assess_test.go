package drain

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDispose: the exported judgement agrees with the drain's own rules and
// reports every consent problem, asking no API (a nil client would panic).
func TestDispose(t *testing.T) {
	yes := true
	owned := func(kind string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{Kind: kind, Name: "x", Controller: &yes}}
	}
	emptyDir := []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	cases := []struct {
		name     string
		pod      corev1.Pod
		dsExists bool
		skip     string
		problems []string
		wave     int
	}{
		{"managed", corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: owned("ReplicaSet")}}, false, "", nil, WaveOrdinary},
		{"DaemonSet pod", corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: owned("DaemonSet")}}, true, "DaemonSet", nil, WaveOrdinary},
		{
			"orphaned DaemonSet pod with emptyDir",
			corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: owned("DaemonSet")}, Spec: corev1.PodSpec{Volumes: emptyDir}},
			false, "",
			[]string{ProblemOrphanDaemonSet, ProblemLocalStorage},
			WaveOrdinary,
		},
		{"unmanaged with emptyDir", corev1.Pod{Spec: corev1.PodSpec{Volumes: emptyDir}}, false, "", []string{ProblemLocalStorage, ProblemUnmanaged}, WaveOrdinary},
		{"evict=never", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationEvict: "never"}}}, false, AnnotationEvict + "=never", nil, WaveOrdinary},
		{"do-not-disrupt goes last", corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: owned("ReplicaSet"), Annotations: map[string]string{AnnotationKarpenterDoNotDisrupt: "true"}}}, false, "", nil, WaveLast},
		{"kube-system is critical", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", OwnerReferences: owned("ReplicaSet")}}, false, "", nil, WaveCritical},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Dispose(&tc.pod, Options{}, func(string, string) bool { return tc.dsExists })
			if d.Skip != tc.skip || !slices.Equal(d.Problems, tc.problems) || d.Wave != tc.wave {
				t.Errorf("Dispose = %+v, want skip %q, problems %v, wave %d", d, tc.skip, tc.problems, tc.wave)
			}
		})
	}
}

func TestGraceFor(t *testing.T) {
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	opts := Options{GracePeriodSeconds: -1, Deadline: now.Add(30 * time.Second)}
	g := GraceFor(now, podWithGrace(60), opts)
	if g.Own != time.Minute || g.Granted != 28*time.Second || !g.FallbackAt.Equal(now.Add(-33*time.Second)) {
		t.Errorf("60 s pod on a 30 s deadline: %+v", g)
	}
	g = GraceFor(now, podWithGrace(10), opts)
	if g.Own != 10*time.Second || g.Granted != 10*time.Second || !g.FallbackAt.Equal(now.Add(17*time.Second)) {
		t.Errorf("10 s pod on a 30 s deadline: %+v", g)
	}
	if m := EffectiveSafetyMargin(Options{}); m != DefaultSafetyMargin {
		t.Errorf("default margin %s", m)
	}
}
