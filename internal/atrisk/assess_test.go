package atrisk

import (
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
)

var t0 = time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)

// builder assembles a Cluster with one node, n1, and what each case adds.
type builder struct{ c Cluster }

func newBuilder() *builder {
	b := &builder{}
	b.c.Nodes = []*corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}}
	return b
}

func pod(name string, grace int64, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"app": name}, CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Spec:       corev1.PodSpec{NodeName: "n1", TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{{Name: "c"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func ownedBy(kind, name string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{{Kind: kind, Name: name, UID: types.UID("uid-" + kind + "-" + name), Controller: &yes}}
	}
}

func label(k, v string) func(*corev1.Pod) { return func(p *corev1.Pod) { p.Labels[k] = v } }

func annotate(k, v string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[k] = v
	}
}

func readyAfter(d time.Duration) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(p.CreationTimestamp.Add(d))}}
	}
}

func (b *builder) rs(name string, replicas int32) *builder {
	b.c.ReplicaSets = append(b.c.ReplicaSets, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-ReplicaSet-" + name)}, Spec: appsv1.ReplicaSetSpec{Replicas: &replicas}})
	return b
}

func (b *builder) pods(ps ...*corev1.Pod) *builder {
	b.c.Pods = append(b.c.Pods, ps...)
	return b
}

func (b *builder) pdb(name, app string, allowed, expected int32, spec func(*policyv1.PodDisruptionBudgetSpec)) *builder {
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}},
		Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: allowed, ExpectedPods: expected, CurrentHealthy: expected, DesiredHealthy: expected - allowed},
	}
	if spec != nil {
		spec(&pdb.Spec)
	}
	b.c.PDBs = append(b.c.PDBs, pdb)
	return b
}

func maxUnavailable(v intstr.IntOrString) func(*policyv1.PodDisruptionBudgetSpec) {
	return func(s *policyv1.PodDisruptionBudgetSpec) { s.MaxUnavailable = &v }
}

func minAvailable(v intstr.IntOrString) func(*policyv1.PodDisruptionBudgetSpec) {
	return func(s *policyv1.PodDisruptionBudgetSpec) { s.MinAvailable = &v }
}

func TestAssessReasons(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	managed := ownedBy("ReplicaSet", "web")
	cases := []struct {
		name   string
		b      *builder
		notice time.Duration
		want   map[string][]Reason // pod name -> reasons; pods not named are not listed
	}{
		{"graceful pod is not listed", newBuilder().rs("web", 3).pods(pod("a", 10, managed)), 30 * time.Second, nil},
		{
			"grace longer than the notice", newBuilder().rs("web", 3).pods(pod("a", 60, managed)), 30 * time.Second,
			map[string][]Reason{"a": {GraceExceedsNotice}},
		},
		{"grace fits exactly with the margin", newBuilder().rs("web", 3).pods(pod("a", 28, managed)), 30 * time.Second, nil},
		{"preStop sleep longer than the notice", newBuilder().rs("web", 3).pods(pod("a", 10, managed, func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "sleep 45"}}}}
		})), 30 * time.Second, map[string][]Reason{"a": {GraceExceedsNotice}}},
		{"no controller", newBuilder().pods(pod("a", 10)), 30 * time.Second, map[string][]Reason{"a": {NoController}}},
		{"orphaned DaemonSet pod", newBuilder().pods(pod("a", 10, ownedBy("DaemonSet", "gone"))), 30 * time.Second, map[string][]Reason{"a": {NoController}}},
		{"DaemonSet pod stays by design", func() *builder {
			b := newBuilder().pods(pod("a", 10, ownedBy("DaemonSet", "ds")))
			b.c.DaemonSets = []*appsv1.DaemonSet{{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "ds"}}}
			return b
		}(), 30 * time.Second, nil},
		{"mirror pod stays by design", newBuilder().pods(pod("a", 10, annotate(corev1.MirrorPodAnnotationKey, "x"))), 30 * time.Second, nil},
		{"finished pod is not listed", newBuilder().pods(pod("a", 10, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded })), 30 * time.Second, nil},
		{"emptyDir and no controller together", newBuilder().pods(pod("a", 10, func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		})), 30 * time.Second, map[string][]Reason{"a": {NoController, LocalStorage}}},
		{"hostPath", newBuilder().rs("web", 3).pods(pod("a", 10, managed, func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}}}}
		})), 30 * time.Second, map[string][]Reason{"a": {LocalStorage}}},
		{"local PersistentVolume", func() *builder {
			b := newBuilder().rs("web", 3).pods(pod("a", 10, managed, func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
			}))
			b.c.PVCs = []*corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv1"}}}
			b.c.PVs = []*corev1.PersistentVolume{{ObjectMeta: metav1.ObjectMeta{Name: "pv1"}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt"}}}}}
			return b
		}(), 30 * time.Second, map[string][]Reason{"a": {LocalStorage}}},
		{
			"do-not-disrupt", newBuilder().rs("web", 3).pods(pod("a", 10, managed, annotate(AnnotationDoNotDisrupt, "true"))), 30 * time.Second,
			map[string][]Reason{"a": {DoNotDisrupt}},
		},
		{
			"evict=never", newBuilder().rs("web", 3).pods(pod("a", 10, managed, annotate(drain.AnnotationEvict, "never"))), 30 * time.Second,
			map[string][]Reason{"a": {EvictNever}},
		},
		{"evict=last is graceful", newBuilder().rs("web", 3).pods(pod("a", 10, managed, annotate(drain.AnnotationEvict, "last"))), 30 * time.Second, nil},
		{"single replica", newBuilder().rs("web", 1).pods(pod("a", 10, managed)), 30 * time.Second, map[string][]Reason{"a": {SingleReplica}}},
		{
			"PDB allows none now", newBuilder().rs("web", 3).pods(pod("a", 10, managed)).pdb("p", "a", 0, 3, maxUnavailable(intstr.FromInt32(1))), 30 * time.Second,
			map[string][]Reason{"a": {PDBBlocks}},
		},
		{
			"PDB maxUnavailable 0", newBuilder().rs("web", 3).pods(pod("a", 10, managed)).pdb("p", "a", 1, 3, maxUnavailable(intstr.FromInt32(0))), 30 * time.Second,
			map[string][]Reason{"a": {PDBBlocks}},
		},
		{
			"PDB maxUnavailable 0%", newBuilder().rs("web", 3).pods(pod("a", 10, managed)).pdb("p", "a", 1, 3, maxUnavailable(intstr.FromString("0%"))), 30 * time.Second,
			map[string][]Reason{"a": {PDBBlocks}},
		},
		{
			"PDB minAvailable equals replicas", newBuilder().rs("web", 3).pods(pod("a", 10, managed)).pdb("p", "a", 1, 3, minAvailable(intstr.FromInt32(3))), 30 * time.Second,
			map[string][]Reason{"a": {PDBBlocks}},
		},
		{
			"PDB minAvailable 100%", newBuilder().rs("web", 3).pods(pod("a", 10, managed)).pdb("p", "a", 1, 3, minAvailable(intstr.FromString("100%"))), 30 * time.Second,
			map[string][]Reason{"a": {PDBBlocks}},
		},
		{"PDB that allows one", newBuilder().rs("web", 3).pods(pod("a", 10, managed)).pdb("p", "a", 1, 3, maxUnavailable(intstr.FromInt32(1))), 30 * time.Second, nil},
		{"two PDBs select the pod", newBuilder().rs("web", 3).pods(pod("a", 10, managed, label("tier", "x"))).
			pdb("p1", "a", 1, 3, nil).pdb("p2", "a", 1, 3, nil), 30 * time.Second, map[string][]Reason{"a": {PDBBlocks}}},
		{"second pod waits for a slow replacement", newBuilder().rs("web", 3).pods(
			pod("w1", 10, managed, label("app", "w"), readyAfter(25*time.Second)),
			pod("w2", 10, managed, label("app", "w"), readyAfter(25*time.Second)),
		).pdb("p", "w", 1, 3, nil), 30 * time.Second, map[string][]Reason{"w2": {ReplacementTooSlow}}},
		{"second pod's replacement is quick enough", newBuilder().rs("web", 3).pods(
			pod("w1", 10, managed, label("app", "w"), readyAfter(5*time.Second)),
			pod("w2", 10, managed, label("app", "w"), readyAfter(5*time.Second)),
		).pdb("p", "w", 1, 3, nil), 30 * time.Second, nil},
		{"a longer notice leaves room for the replacement", newBuilder().rs("web", 3).pods(
			pod("w1", 10, managed, label("app", "w"), readyAfter(25*time.Second)),
			pod("w2", 10, managed, label("app", "w"), readyAfter(25*time.Second)),
		).pdb("p", "w", 1, 3, nil), 2 * time.Minute, nil},
		{"readiness probe when there is no history", newBuilder().rs("web", 3).pods(
			pod("w1", 10, managed, label("app", "w"), withProbe(40)),
			pod("w2", 10, managed, label("app", "w"), withProbe(40)),
		).pdb("p", "w", 1, 3, nil), 50 * time.Second, map[string][]Reason{"w2": {ReplacementTooSlow}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Assess(&tc.b.c, nil, Options{Notice: tc.notice, Drain: drain.Options{GracePeriodSeconds: -1}}, clk.Now())
			got := map[string][]Reason{}
			for _, p := range r.Pods {
				if p.Node != "n1" || p.Namespace != "ns" || len(p.Details) != len(p.Reasons) {
					t.Errorf("pod %+v: wrong node/namespace or a reason without details", p)
				}
				got[p.Name] = p.Reasons
			}
			if len(got) != len(tc.want) {
				t.Fatalf("listed %v, want %v", got, tc.want)
			}
			for name, want := range tc.want {
				if !slices.Equal(got[name], want) {
					t.Errorf("%s: reasons %v, want %v (details %v)", name, got[name], want, r.Pods)
				}
			}
			if r.Summary.PodsAtRisk != len(tc.want) || (len(tc.want) == 0) != r.Summary.AllFit {
				t.Errorf("summary %+v does not match %d pods at risk", r.Summary, len(tc.want))
			}
		})
	}
}

func withProbe(delay int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{InitialDelaySeconds: delay, PeriodSeconds: 5}
	}
}

func TestNodeTimeline(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	managed := ownedBy("ReplicaSet", "web")
	b := newBuilder().rs("web", 3).pods(
		pod("a", 10, managed),
		pod("b", 20, managed),
		pod("z", 5, managed, annotate(drain.AnnotationEvict, "last")),
		pod("w1", 10, managed, label("app", "w"), readyAfter(8*time.Second)),
		pod("w2", 10, managed, label("app", "w"), readyAfter(8*time.Second)),
	).pdb("p", "w", 1, 3, nil)
	r := Assess(&b.c, []string{"n1"}, Options{Notice: time.Minute, Drain: drain.Options{GracePeriodSeconds: -1}}, clk.Now())
	if len(r.Nodes) != 1 {
		t.Fatalf("nodes %+v", r.Nodes)
	}
	n := r.Nodes[0]
	want := map[string][2]float64{"a": {0, 10}, "b": {0, 20}, "w1": {0, 10}, "w2": {8, 18}, "z": {20, 25}}
	if len(n.Timeline) != len(want) {
		t.Fatalf("timeline %+v", n.Timeline)
	}
	for _, s := range n.Timeline {
		if w := want[s.Name]; s.StartSeconds != w[0] || s.EndSeconds != w[1] {
			t.Errorf("%s: %v..%v, want %v", s.Name, s.StartSeconds, s.EndSeconds, w)
		}
	}
	if n.ExpectedDrainSeconds != 25 || !n.Fits || n.Pods != 5 || n.AtRisk != 0 {
		t.Errorf("node %+v, want 25 s, fits, 5 pods", n)
	}
	// The same node with a 20 s notice: b's 20 s grace does not fit.
	r = Assess(&b.c, nil, Options{Notice: 20 * time.Second, Drain: drain.Options{GracePeriodSeconds: -1}}, clk.Now())
	if r.Nodes[0].Fits || r.Summary.AllFit || r.Summary.ByReason[GraceExceedsNotice] != 1 {
		t.Errorf("20 s notice: %+v", r.Summary)
	}
}

func TestBudgetBlocksNeverForAHealthyBudget(t *testing.T) {
	one := intstr.FromInt32(1)
	b := &policyv1.PodDisruptionBudget{Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one}, Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1, ExpectedPods: 3}}
	if why := BudgetBlocks(b); why != "" {
		t.Errorf("BudgetBlocks = %q", why)
	}
}

func TestPreStopSleep(t *testing.T) {
	cases := []struct {
		h    *corev1.LifecycleHandler
		want time.Duration
	}{
		{nil, 0},
		{&corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 15}}, 15 * time.Second},
		{&corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", "7"}}}, 7 * time.Second},
		{&corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "nginx -s quit; sleep 12"}}}, 12 * time.Second},
		{&corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "nosleep 99"}}}, 0},
	}
	for _, tc := range cases {
		p := pod("a", 1)
		if tc.h != nil {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: tc.h}
		}
		if got := PreStopSleep(p); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.h, got, tc.want)
		}
	}
}

func TestNoticeLabel(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second: "30s", 2 * time.Minute: "2m", 90 * time.Second: "1m30s", time.Hour: "1h", 90 * time.Minute: "1h30m", 1500 * time.Millisecond: "1.5s",
	} {
		if got := NoticeLabel(d); got != want {
			t.Errorf("NoticeLabel(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestDoNotDisruptPodsGoInTheLastWave(t *testing.T) {
	managed := ownedBy("ReplicaSet", "web")
	b := newBuilder().rs("web", 3).pods(
		pod("a", 20, managed),
		pod("z", 5, managed, annotate("cluster-autoscaler.kubernetes.io/safe-to-evict", "false")),
	)
	r := Assess(&b.c, nil, Options{Notice: time.Minute, Drain: drain.Options{GracePeriodSeconds: -1}}, t0)
	if len(r.Pods) != 1 || !slices.Equal(r.Pods[0].Reasons, []Reason{DoNotDisrupt}) {
		t.Fatalf("pods %+v, want z with [do-not-disrupt]", r.Pods)
	}
	z := r.Nodes[0].Timeline[1]
	if z.Name != "z" || z.Wave != "last" || z.StartSeconds != 20 || z.EndSeconds != 25 {
		t.Errorf("z on the timeline: %+v, want the last wave from 20 s to 25 s", z)
	}
}
