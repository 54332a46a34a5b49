//go:build linux

package testbed

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMain(m *testing.M) { Main(m) }

// TestClusterRunsPodsOnKwokNodes proves the whole control plane works: the
// scheduler places a Deployment's pods on a kwok node, kwok makes them Ready
// after the configured delay, and a PDB's status is kept by the disruption
// controller.
func TestClusterRunsPodsOnKwokNodes(t *testing.T) {
	c := Get(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	node := c.AddNode(t, UniqueName("bed"))
	d := Deployment(ns, "web", node.Name, 3)
	d.Spec.Template.Annotations = map[string]string{"pod-ready.stage.kwok.x-k8s.io/delay": "1s"}
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, PDB(ns, "web", "web", 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Eventually(t, 60*time.Second, func() (bool, error) {
		n, err := c.ReadyPods(ctx, ns, "app=web")
		return n == 3, err
	})
	c.Eventually(t, 60*time.Second, func() (bool, error) {
		pdb, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return pdb.Status.CurrentHealthy == 3 && pdb.Status.DisruptionsAllowed == 1, nil
	})
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName != node.Name {
			t.Errorf("pod %s scheduled to %q, want %q", p.Name, p.Spec.NodeName, node.Name)
		}
	}
}

// TestGracefulDeletionTakesConfiguredTime checks the stage that makes a pod
// use its whole grace period, which the deadline tests rely on.
func TestGracefulDeletionTakesConfiguredTime(t *testing.T) {
	c := Get(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	node := c.AddNode(t, UniqueName("bed"))
	p := Pod(ns, "slow", node.Name)
	p.Annotations = map[string]string{"lifeboat.dev/test-shutdown": "full-grace"}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Eventually(t, 30*time.Second, func() (bool, error) {
		got, err := c.Client.CoreV1().Pods(ns).Get(ctx, "slow", metav1.GetOptions{})
		return err == nil && PodReady(got), nil
	})
	grace := int64(3)
	start := time.Now()
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, "slow", metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatal(err)
	}
	c.Eventually(t, 30*time.Second, func() (bool, error) {
		_, err := c.Client.CoreV1().Pods(ns).Get(ctx, "slow", metav1.GetOptions{})
		return err != nil, nil
	})
	if took := time.Since(start); took < 1900*time.Millisecond {
		t.Fatalf("pod with a 3 s grace period (deletionTimestamp has second precision) was gone after %s; the full-grace stage did not wait", took)
	}
}
