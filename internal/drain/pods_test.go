package drain

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/lifeboat-dev/lifeboat/internal/kube/clientset"
)

// podOpt changes one thing about a test pod.
type podOpt func(*corev1.Pod)

func newPod(name string, opts ...podOpt) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"app": name}}}
	p.Status.Phase = corev1.PodRunning
	for _, o := range opts {
		o(&p)
	}
	return p
}

func ownedBy(kind, name string) podOpt {
	return func(p *corev1.Pod) {
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{{Kind: kind, Name: name, Controller: &yes}}
	}
}

func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }

func annotation(k, v string) podOpt {
	return func(p *corev1.Pod) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[k] = v
	}
}

func emptyDir(p *corev1.Pod) {
	p.Spec.Volumes = []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
}

func inKubeSystem(p *corev1.Pod) { p.Namespace = metav1.NamespaceSystem }

// outcome flattens a selection for comparison: pod name -> what happens.
func outcome(sel *selection) map[string]string {
	out := map[string]string{}
	names := [waveCount]string{"evict", "evict last", "evict critical"}
	for w, pods := range sel.evict {
		for _, p := range pods {
			out[p.Name] = names[w]
		}
	}
	for _, p := range sel.finished {
		out[p.Name] = "delete"
	}
	for _, r := range sel.skipped {
		out[r.Name] = "skip: " + r.Reason
	}
	for _, r := range sel.refused {
		out[r.Name] = "refuse: " + r.Reason
	}
	return out
}

func TestSelectPods(t *testing.T) {
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "agent"}}
	pods := []corev1.Pod{
		newPod("web", ownedBy("ReplicaSet", "web-1")),
		newPod("ds", ownedBy("DaemonSet", "agent")),
		newPod("orphan", ownedBy("DaemonSet", "gone")),
		newPod("ds-done", ownedBy("DaemonSet", "agent"), phase(corev1.PodSucceeded)),
		newPod("mirror", annotation(corev1.MirrorPodAnnotationKey, "x")),
		newPod("bare"),
		newPod("bare-done", phase(corev1.PodFailed)),
		newPod("scratch", ownedBy("ReplicaSet", "s-1"), emptyDir),
		newPod("pinned", annotation(AnnotationEvict, "never")),
		newPod("late", ownedBy("ReplicaSet", "l-1"), annotation(AnnotationEvict, "last")),
		newPod("dns", ownedBy("ReplicaSet", "dns-1"), inKubeSystem),
	}
	cases := []struct {
		name string
		opts Options
		want map[string]string
	}{
		{"no consent", Options{}, map[string]string{
			"web": "evict", "ds": "skip: DaemonSet", "orphan": "refuse: " + problemOrphanDS, "ds-done": "delete",
			"mirror": "skip: mirror pod", "bare": "refuse: " + problemUnmanaged, "bare-done": "delete",
			"scratch": "refuse: " + problemLocalStore, "pinned": "skip: lifeboat.dev/evict=never", "late": "evict last", "dns": "evict critical",
		}},
		{"force and emptyDir", Options{Force: true, DeleteEmptyDirData: true}, map[string]string{
			"web": "evict", "ds": "skip: DaemonSet", "orphan": "evict", "ds-done": "delete",
			"mirror": "skip: mirror pod", "bare": "evict", "bare-done": "delete",
			"scratch": "evict", "pinned": "skip: lifeboat.dev/evict=never", "late": "evict last", "dns": "evict critical",
		}},
		{"pod selector", Options{Force: true, PodSelector: "app in (web,bare,ds)"}, map[string]string{
			"web": "evict", "bare": "evict", "ds": "skip: DaemonSet",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := New(clientset.Wrap(fake.NewClientset(ds)), Config{})
			sel, err := d.selectPods(context.Background(), tc.opts, append([]corev1.Pod(nil), pods...), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := outcome(sel); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("selection:\n got %v\nwant %v", got, tc.want)
			}
		})
	}
	t.Run("consent error names each flag", func(t *testing.T) {
		sel, err := New(clientset.Wrap(fake.NewClientset(ds)), Config{}).selectPods(context.Background(), Options{}, append([]corev1.Pod(nil), pods...), nil)
		if err != nil {
			t.Fatal(err)
		}
		ce := sel.consent("n1")
		if ce == nil || len(ce.Problems) != 3 {
			t.Fatalf("consent = %v, want three problems", ce)
		}
		for _, want := range []string{"--force to override): ns/bare", "--force to override): ns/orphan", "--delete-emptydir-data to override): ns/scratch"} {
			if !strings.Contains(ce.Error(), want) {
				t.Errorf("%q lacks %q", ce.Error(), want)
			}
		}
	})
	t.Run("done pods are not judged again", func(t *testing.T) {
		sel, err := New(clientset.Wrap(fake.NewClientset(ds)), Config{}).selectPods(context.Background(), Options{}, append([]corev1.Pod(nil), pods...), map[types.UID]bool{"uid-bare": true, "uid-orphan": true, "uid-scratch": true})
		if err != nil || sel.consent("n1") != nil {
			t.Errorf("selection of the remaining pods = %v, %v; want no consent problem", sel, err)
		}
	})
}

// TestDaemonSetLookupFailureIsNotConsent (D2): any failure other than
// NotFound looking up a pod's DaemonSet is returned as the API error it is.
func TestDaemonSetLookupFailureIsNotConsent(t *testing.T) {
	cases := []struct {
		name string
		err  error
	}{
		{"503", apierrors.NewServiceUnavailable("etcdserver: request timed out")},
		{"500", apierrors.NewInternalError(errors.New("boom"))},
		{"403", apierrors.NewForbidden(appsv1.Resource("daemonsets"), "agent", errors.New("rbac"))},
		{"timeout", context.DeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset()
			client.PrependReactor("get", "daemonsets", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, tc.err })
			pods := []corev1.Pod{newPod("ds", ownedBy("DaemonSet", "agent")), newPod("bare")}
			sel, err := New(clientset.Wrap(client), Config{}).selectPods(context.Background(), Options{}, pods, nil)
			var ce *ConsentError
			if err == nil || errors.As(err, &ce) || !errors.Is(err, tc.err) {
				t.Errorf("selectPods = %v, %v; want the lookup error %v itself", sel, err, tc.err)
			}
		})
	}
}
