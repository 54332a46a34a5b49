//go:build linux

package cli

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

func TestDescribeWaits(t *testing.T) {
	held := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "held", Finalizers: []string{"example.com/keep"}}}
	stuck := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "stuck"}}
	got := describeWaits(
		map[string]string{"ns/web-1": "ns/web", "ns/odd": "unknown"},
		map[string]bool{"ns/held": true, "ns/stuck": true, "ns/gone": true},
		map[string]string{"ns/flaky": "the server is currently unable to handle the request", "ns/held": "old"},
		[]corev1.Pod{held, stuck},
	)
	want := []string{
		"ns/flaky: eviction keeps failing: the server is currently unable to handle the request",
		"ns/held is terminating but held by finalizer(s) example.com/keep",
		"ns/odd waits for a PodDisruptionBudget (which one could not be read) that allows no disruption now",
		"ns/stuck is terminating: waiting for its kubelet to stop it",
		"ns/web-1 waits for PodDisruptionBudget ns/web, which allows no disruption now",
	}
	var lines []string
	for _, w := range got {
		lines = append(lines, w.String())
	}
	if !slices.Equal(lines, want) {
		t.Errorf("describeWaits:\n got %q\nwant %q", lines, want)
	}
}

// TestDrainSaysWhatBlocksIt: `lifeboat drain` without --timeout on a node
// with a pod behind a PDB that allows no disruption and a pod held by a
// finalizer never ends; every 30 s it says which pods wait and on what, and
// again when interrupted.
func TestDrainSaysWhatBlocksIt(t *testing.T) {
	c := testbed.Get(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	node := testbed.UniqueName("stuck")
	c.AddNode(t, node)
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, testbed.Deployment(ns, "web", node, 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, testbed.PDB(ns, "web", "web", 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Eventually(t, 60*time.Second, func() (bool, error) {
		b, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && b.Status.ObservedGeneration == b.Generation && b.Status.ExpectedPods == 1, err
	})
	held := testbed.Pod(ns, "held", node, func(p *corev1.Pod) { p.Finalizers = []string{"lifeboat.dev/test-hold"} })
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, held, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = c.Client.CoreV1().Pods(ns).Patch(context.Background(), "held", "application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	})

	var stdout, stderr testbed.SyncBuffer
	lo := logging.DefaultOptions()
	g := &Globals{Stdout: &stdout, Stderr: &stderr, Log: lo.New(&stderr)}
	o := NewDrainOptions()
	o.Drain.Force, o.Progress = true, "never"
	if err := o.Validate(time.Now()); err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Now())
	dctx, interrupt := context.WithCancel(ctx)
	defer interrupt()
	done := make(chan error, 1)
	go func() { done <- drainReporting(dctx, g, c.API, o, node, clk) }()

	pdbLine := "waits for PodDisruptionBudget " + ns + "/web, which allows no disruption now"
	finLine := ns + "/held is terminating but held by finalizer(s) lifeboat.dev/test-hold"
	// Each poll lets 30 s pass on the report clock; the drain itself runs in
	// real time and never finishes.
	c.Eventually(t, 90*time.Second, func() (bool, error) {
		if clk.HasWaiters() {
			clk.Step(waitReportEvery)
		}
		out := stderr.String()
		return strings.Contains(out, "still waiting: "+ns+"/web-") && strings.Contains(out, pdbLine) &&
			strings.Contains(out, "still waiting: "+finLine), nil
	})
	if !strings.Contains(stderr.String(), "drain still waiting after ") {
		t.Errorf("no summary line in the periodic report:\n%s", stderr.String())
	}
	select {
	case err := <-done:
		t.Fatalf("the drain ended (%v) although nothing can leave the node", err)
	default:
	}

	interrupt() // Ctrl-C
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the drain did not stop when interrupted")
	}
	var ee *ExitError
	if err == nil || errors.As(err, &ee) && ee.Code == 0 {
		t.Errorf("an interrupted drain succeeded: %v", err)
	}
	out := stdout.String()
	if !strings.Contains(out, "interrupted while waiting on:") || !strings.Contains(out, pdbLine) || !strings.Contains(out, finLine) {
		t.Errorf("the interrupted drain did not say what it waited on:\n%s", out)
	}
}
