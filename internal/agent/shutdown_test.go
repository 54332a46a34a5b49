//go:build linux

package agent_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/client-go/util/retry"

	"github.com/lifeboat-dev/lifeboat/internal/agent"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

func newHostAgent(f *fixture) *agent.Agent {
	d := drain.New(f.c.Client, drain.Config{Log: logging.Discard()})
	return agent.New(agent.Config{
		Client: f.c.Client, Node: f.node, Drainer: d, Log: logging.Discard(),
		Drain: drain.Options{Force: true, DeleteEmptyDirData: true, GracePeriodSeconds: -1}, DeleteNode: true,
	})
}

func TestHostShutdown(t *testing.T) {
	cases := []struct {
		name       string
		kind       agent.HostShutdown
		deleteNode string
		wantNode   bool
	}{
		{"reboot keeps the node", agent.ShutdownReboot, "auto", true},
		{"power-off deletes the node", agent.ShutdownPowerOff, "auto", false},
		{"unknown keeps the node", agent.ShutdownUnknown, "auto", true},
		{"never keeps it even on power-off", agent.ShutdownPowerOff, "never", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.workload(2)
			a := newHostAgent(f)
			res, err := a.Shutdown(f.ctx, agent.ShutdownOptions{Timeout: 30 * time.Second, Kind: tc.kind, DeleteNode: tc.deleteNode})
			if err != nil || res.Evicted != 2 {
				t.Fatalf("shutdown drain: %+v, %v", res, err)
			}
			_, err = f.getNode()
			if exists := err == nil; exists != tc.wantNode {
				t.Fatalf("node exists = %v, want %v (err %v)", exists, tc.wantNode, err)
			}
			if !tc.wantNode {
				return
			}
			// The host comes back and the agent starts: the shutdown cordon is over.
			if err := newHostAgent(f).Reconcile(f.ctx); err != nil {
				t.Fatal(err)
			}
			n, _ := f.getNode()
			if n.Spec.Unschedulable || n.Annotations[drain.AnnotationCordon] != "" {
				t.Error("the host-shutdown cordon was not undone when the agent started again")
			}
		})
	}
}

func TestRestartMidNoticeKeepsCordon(t *testing.T) {
	f := newFixture(t)
	d := drain.New(f.c.Client, drain.Config{Log: logging.Discard()})
	if _, err := d.Cordon(f.ctx, f.node, drain.Options{Reason: "spot", NoticeID: "aws-spot/x", NoticeKind: "spot-interruption"}); err != nil {
		t.Fatal(err)
	}
	if err := newHostAgent(f).Reconcile(f.ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.getNode(); !n.Spec.Unschedulable {
		t.Error("a restart in the middle of a spot interruption uncordoned the node")
	}
}

// TestPodTermRule: SIGTERM in a DaemonSet pod drains only when the pod was
// not deleted through the API and the node reports it is shutting down.
func TestPodTermRule(t *testing.T) {
	c := testbed.Get(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	// A node no kwok manages, so its conditions stay as the test sets them
	// (kwok would re-initialise a Ready=False node).
	node := testbed.UniqueName("pod-term")
	static := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, static, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Client.CoreV1().Nodes().Delete(context.Background(), node, metav1.DeleteOptions{}) })
	mk := func(name string, deleted bool) {
		p := testbed.Pod(ns, name, node)
		if deleted {
			p.Finalizers = []string{"lifeboat.dev/test-hold"}
		}
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if deleted {
			if err := c.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_, _ = c.Client.CoreV1().Pods(ns).Patch(ctx, name, "application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
			})
		}
	}
	mk("running", false)
	mk("rolled-out", true)
	setShutdown := func(on bool) {
		t.Helper()
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			n, err := c.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
			if err != nil {
				return err
			}
			ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"}
			if on {
				ready.Status, ready.Reason, ready.Message = corev1.ConditionFalse, "KubeletNotReady", "node is shutting down"
			}
			n.Status.Conditions = []corev1.NodeCondition{ready}
			_, err = c.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name     string
		pod      string
		shutdown bool
		want     bool
	}{
		{"rollout: pod deleted, node fine", "rolled-out", false, false},
		{"pod deleted while node shuts down", "rolled-out", true, false},
		{"pod alive, node fine (e.g. kill by hand)", "running", false, false},
		{"pod alive, node shutting down", "running", true, true},
		{"pod unknown", "", true, false},
		{"pod missing", "gone", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			setShutdown(tc.shutdown)
			d := agent.DecidePodTerm(ctx, c.Client, ns, tc.pod, node)
			if d.Drain != tc.want {
				n, _ := c.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
				t.Errorf("drain = %v (%s), want %v; node conditions %+v", d.Drain, d.Reason, tc.want, n.Status.Conditions)
			}
		})
	}
	_ = apierrors.IsNotFound
}
