package kube_test

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"

	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/kube/clientset"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

// TestClientAgainstTheAPIServer runs every verb lifeboat's code uses, on
// the real API server, through both implementations of kube.Interface:
// the narrow client the node agent ships (kube.NewForConfig) and the
// adapter over client-go's clientset (queue and Lambda mode). What the API
// server decides (a PodDisruptionBudget refusing an eviction, the status
// subresource, NotFound) must come back the same through both.
func TestClientAgainstTheAPIServer(t *testing.T) {
	c := testbed.Get(t)
	for _, impl := range []struct {
		name string
		api  kube.Interface
	}{
		{"narrow", c.API},
		{"clientset", clientset.Wrap(c.Client)},
	} {
		t.Run(impl.name, func(t *testing.T) {
			ctx := t.Context()
			api := impl.api
			ns := c.Namespace(t)
			node := testbed.UniqueName("kube")
			c.AddNode(t, node)

			// Pods: create, get, list by field selector.
			if _, err := api.CoreV1().Pods(ns).Create(ctx, testbed.Pod(ns, "web", node), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			onNode := fields.OneTermEqualSelector("spec.nodeName", node).String()
			pods, err := api.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: onNode})
			if err != nil || len(pods.Items) != 1 || pods.Items[0].Name != "web" {
				t.Fatalf("pods on %s: %v, %v", node, pods, err)
			}

			// Eviction: refused by a budget that allows no disruption (429),
			// allowed once the budget allows one.
			c.Eventually(t, 30*time.Second, func() (bool, error) {
				p, err := api.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
				return err == nil && testbed.PodReady(p), nil
			})
			one := intstr.FromInt32(1)
			pdb := &policyv1.PodDisruptionBudget{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
				Spec: policyv1.PodDisruptionBudgetSpec{
					MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				},
			}
			if _, err := api.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			c.Eventually(t, 30*time.Second, func() (bool, error) {
				b, err := api.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "web", metav1.GetOptions{})
				return err == nil && b.Status.ObservedGeneration == b.Generation && b.Status.CurrentHealthy == 1 && b.Status.DesiredHealthy == 1, nil
			})
			evict := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
			if err := api.PolicyV1().Evictions(ns).Evict(ctx, evict); !apierrors.IsTooManyRequests(err) {
				t.Fatalf("evicting past a budget that allows no disruption: want 429 TooManyRequests, got %v", err)
			}
			if err := api.PolicyV1().PodDisruptionBudgets(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			c.Eventually(t, 30*time.Second, func() (bool, error) {
				err := api.PolicyV1().Evictions(ns).Evict(ctx, evict)
				return err == nil, nil
			})
			c.Eventually(t, 30*time.Second, func() (bool, error) {
				p, err := api.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
				return apierrors.IsNotFound(err) || (err == nil && p.DeletionTimestamp != nil), nil
			})

			// Nodes: strategic merge patch of the status subresource.
			patch := `{"status":{"conditions":[{"type":"DrainInProgress","status":"True","reason":"Test","message":"kube client test"}]}}`
			n, err := api.CoreV1().Nodes().PatchStatus(ctx, node, []byte(patch))
			if err != nil {
				t.Fatal(err)
			}
			if !hasCondition(n, "DrainInProgress") {
				t.Fatalf("PatchStatus returned no DrainInProgress condition: %+v", n.Status.Conditions)
			}
			if n, err = api.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); err != nil || !hasCondition(n, "DrainInProgress") || !hasCondition(n, "Ready") {
				t.Fatalf("after PatchStatus: %v, conditions %+v", err, n.Status.Conditions)
			}

			// DaemonSets: NotFound is an answer.
			if _, err := api.AppsV1().DaemonSets(ns).Get(ctx, "absent", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("getting an absent DaemonSet: want NotFound, got %v", err)
			}

			// Leases: create, conflict on a second create, list by label, delete.
			lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "slot-0", Labels: map[string]string{"group": "g"}}}
			if _, err := api.CoordinationV1().Leases(ns).Create(ctx, lease, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := api.CoordinationV1().Leases(ns).Create(ctx, lease, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
				t.Fatalf("second create of a Lease: want AlreadyExists, got %v", err)
			}
			if l, err := api.CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{LabelSelector: "group=g"}); err != nil || len(l.Items) != 1 {
				t.Fatalf("leases: %v, %v", l, err)
			}
			if err := api.CoordinationV1().Leases(ns).Delete(ctx, "slot-0", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}

			// VolumeAttachments and PVCs: readable (the volume wait).
			if _, err := api.StorageV1().VolumeAttachments().List(ctx, metav1.ListOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := api.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "absent", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("getting an absent PVC: want NotFound, got %v", err)
			}
		})
	}
}

// TestInformerStripsManagedFields: an informer over kube.ListWatch with
// kube.StripManagedFields caches objects without managedFields (which the
// API server sets on every object) and sees later changes.
func TestInformerStripsManagedFields(t *testing.T) {
	c := testbed.Get(t)
	ns := c.Namespace(t)
	node := testbed.UniqueName("strip")
	c.AddNode(t, node)
	if _, err := c.API.CoreV1().Pods(ns).Create(t.Context(), testbed.Pod(ns, "a", node), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	onNode := fields.OneTermEqualSelector("spec.nodeName", node).String()
	inf := cache.NewSharedIndexInformer(kube.ListWatch(c.API, c.API.CoreV1().Pods(metav1.NamespaceAll), func(o *metav1.ListOptions) {
		o.FieldSelector = onNode
	}), &corev1.Pod{}, 0, cache.Indexers{})
	if err := inf.SetTransform(kube.StripManagedFields); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go inf.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	if _, err := c.API.CoreV1().Pods(ns).Create(ctx, testbed.Pod(ns, "b", node), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Eventually(t, 30*time.Second, func() (bool, error) { return len(inf.GetStore().List()) == 2, nil })
	for _, obj := range inf.GetStore().List() {
		p := obj.(*corev1.Pod)
		if p.ManagedFields != nil {
			t.Errorf("pod %s cached with %d managedFields entries", p.Name, len(p.ManagedFields))
		}
		if p.Spec.NodeName != node {
			t.Errorf("pod %s on %q cached by an informer for %s", p.Name, p.Spec.NodeName, node)
		}
	}
	live, err := c.API.CoreV1().Pods(ns).Get(ctx, "a", metav1.GetOptions{})
	if err != nil || len(live.ManagedFields) == 0 {
		t.Fatalf("the API server's copy should carry managedFields: %v, %d", err, len(live.ManagedFields))
	}
}

func hasCondition(n *corev1.Node, typ corev1.NodeConditionType) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == typ {
			return true
		}
	}
	return false
}
