//go:build linux

package testbed

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// LabelPool is set on every test node (default: the node's name) so a test's
// Deployments can be kept to its own nodes with a nodeSelector.
const LabelPool = "lifeboat.test/pool"

var nameSeq atomic.Int64

// UniqueName returns prefix plus a per-process sequence number, valid as a
// DNS label.
func UniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", strings.ToLower(prefix), nameSeq.Add(1))
}

// Namespace creates a fresh namespace, deleted when the test ends.
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	name := UniqueName("t")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.Client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = c.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	// The ServiceAccount admission plugin needs the namespace's default SA.
	c.Eventually(t, 60*time.Second, func() (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts(name).Get(context.Background(), "default", metav1.GetOptions{})
		return err == nil, nil
	})
	return name
}

// AddNode creates a kwok-managed node, waits until it is Ready and
// schedulable (no not-ready taint), and deletes it when the test ends.
func (c *Cluster) AddNode(t testing.TB, name string, mutate ...func(*corev1.Node)) *corev1.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t.Cleanup(func() { _ = c.Client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	n, err := c.CreateNode(ctx, name, mutate...)
	if err != nil {
		t.Fatalf("node %s: %v", name, err)
	}
	return n
}

// CreateNode creates a kwok-managed node and waits until it is Ready and
// schedulable. The caller deletes it.
func (c *Cluster) CreateNode(ctx context.Context, name string, mutate ...func(*corev1.Node)) (*corev1.Node, error) {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels: map[string]string{
				"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", LabelPool: name,
			},
		},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("250")},
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("250")},
		},
	}
	for _, m := range mutate {
		if m != nil {
			m(n)
		}
	}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	for {
		got, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err == nil && nodeReady(got) {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("node %s not ready: %w", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady {
			return false
		}
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Eventually polls cond every 50 ms until it is true, failing the test after
// timeout or on an error from cond.
func (c *Cluster) Eventually(t testing.TB, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	Eventually(t, timeout, cond)
}

// Eventually polls cond every 50 ms until it is true, failing the test after
// timeout or on an error from cond.
func Eventually(t testing.TB, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting: %v", err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Pod builds a single-container pod bound to node (no scheduling needed).
func Pod(ns, name, node string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	grace := int64(30)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			TerminationGracePeriodSeconds: &grace,
			Containers:                    []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}},
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, Key: "kwok.x-k8s.io/node"}},
		},
	}
	for _, m := range mutate {
		if m != nil {
			m(p)
		}
	}
	return p
}

// Deployment builds a Deployment whose pods run on nodes of the given pool
// (see LabelPool). mutate can change the pod template or anything else.
func Deployment(ns, name, pool string, replicas int32, mutate ...func(*appsv1.Deployment)) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	tmpl := Pod(ns, "", "")
	tmpl.Labels = labels
	tmpl.Spec.NodeSelector = map[string]string{LabelPool: pool}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec},
		},
	}
	for _, m := range mutate {
		if m != nil {
			m(d)
		}
	}
	return d
}

// PDB builds a policy/v1 PodDisruptionBudget with maxUnavailable over pods
// labelled app=<app>.
func PDB(ns, name, app string, maxUnavailable int) *policyv1.PodDisruptionBudget {
	mu := intstr.FromInt32(int32(maxUnavailable))
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: &mu,
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
		},
	}
}

// ReadyPods counts Ready, non-terminating pods matching a label selector.
func (c *Cluster) ReadyPods(ctx context.Context, ns, selector string) (int, error) {
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range pods.Items {
		if PodReady(&pods.Items[i]) {
			n++
		}
	}
	return n, nil
}

// PodReady reports whether a pod is Ready and not being deleted.
func PodReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}
