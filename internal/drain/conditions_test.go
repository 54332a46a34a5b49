//go:build linux

package drain_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
)

func condition(n *corev1.Node, t corev1.NodeConditionType) (corev1.NodeCondition, bool) {
	for _, c := range n.Status.Conditions {
		if c.Type == t {
			return c, true
		}
	}
	return corev1.NodeCondition{}, false
}

func hasConditionStatus(n *corev1.Node, t corev1.NodeConditionType, s corev1.ConditionStatus) bool {
	c, ok := condition(n, t)
	return ok && c.Status == s
}

// TestNodeConditions: a drain for a maintenance notice sets
// MaintenancePlanned and DrainInProgress while it runs, and Drained when it
// is done; releasing the notice removes exactly the conditions lifeboat set,
// and the kubelet's Ready condition is untouched. On a node lifeboat never
// marked, a Drained condition written by someone else survives Uncordon.
func TestNodeConditions(t *testing.T) {
	e := newEnv(t)
	node := e.node()
	e.deployment("web", 1)
	e.pdb("web", "web", 0)
	d := e.drainer(nil)
	opts := drain.Options{
		Force: true, GracePeriodSeconds: -1, NoticeID: "maint-1", NoticeKind: "scheduled-reboot",
		Reason: "scheduled reboot", Deadline: time.Now().Add(2 * time.Minute), OnDeadline: drain.OnDeadlineAbort,
	}
	done := make(chan error, 1)
	go func() { _, err := d.Drain(e.ctx, node, opts); done <- err }()

	e.c.Eventually(t, 30*time.Second, func() (bool, error) {
		n := e.getNode(node)
		return hasConditionStatus(n, drain.ConditionDrainInProgress, corev1.ConditionTrue) &&
			hasConditionStatus(n, drain.ConditionMaintenancePlanned, corev1.ConditionTrue) &&
			hasConditionStatus(n, drain.ConditionDrained, corev1.ConditionFalse), nil
	})
	c, _ := condition(e.getNode(node), drain.ConditionDrainInProgress)
	t.Logf("during: DrainInProgress=%s %s: %s", c.Status, c.Reason, c.Message)
	if err := e.c.Client.PolicyV1().PodDisruptionBudgets(e.ns).Delete(e.ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("drain: %v", err)
	}
	n := e.getNode(node)
	if !hasConditionStatus(n, drain.ConditionDrained, corev1.ConditionTrue) || !hasConditionStatus(n, drain.ConditionDrainInProgress, corev1.ConditionFalse) {
		t.Fatalf("after the drain: conditions %+v, want Drained=True, DrainInProgress=False", n.Status.Conditions)
	}
	c, _ = condition(n, drain.ConditionDrained)
	t.Logf("after: Drained=%s %s: %s", c.Status, c.Reason, c.Message)
	if m, has, _ := drain.ReadMark(n); !has || len(m.Conditions) != 3 {
		t.Fatalf("mark %+v does not record the three conditions", m)
	}

	if _, err := d.Release(e.ctx, node, "maint-1"); err != nil {
		t.Fatal(err)
	}
	n = e.getNode(node)
	for _, ct := range []corev1.NodeConditionType{drain.ConditionDrained, drain.ConditionDrainInProgress, drain.ConditionMaintenancePlanned} {
		if _, ok := condition(n, ct); ok {
			t.Errorf("condition %s left after the release: %+v", ct, n.Status.Conditions)
		}
	}
	if _, ok := condition(n, corev1.NodeReady); !ok {
		t.Errorf("the kubelet's Ready condition went: %+v", n.Status.Conditions)
	}

	other := e.node()
	patch := []byte(`{"status":{"conditions":[{"type":"Drained","status":"True","reason":"ByTheOperator","message":"not lifeboat's"}]}}`)
	if _, err := e.c.Client.CoreV1().Nodes().PatchStatus(e.ctx, other, patch); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Cordon(e.ctx, other, drain.Options{NoticeID: "spot-1", NoticeKind: "spot-interruption"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Uncordon(e.ctx, other); err != nil {
		t.Fatal(err)
	}
	if c, ok := condition(e.getNode(other), drain.ConditionDrained); !ok || c.Reason != "ByTheOperator" {
		t.Errorf("lifeboat removed a Drained condition it did not set: %+v", e.getNode(other).Status.Conditions)
	}
}
