//go:build linux

package testbed

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StartIsolated starts a dedicated cluster for one test (stopped in
// t.Cleanup), for tests that break it (KillAPIServer). Most tests want Get.
func StartIsolated(t testing.TB) *Cluster {
	t.Helper()
	c, err := Start()
	if err != nil {
		t.Fatalf("isolated test control plane: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// KillAPIServer SIGKILLs kube-apiserver and waits until it is gone. etcd and
// the other components keep running; clients see connection errors until
// StartAPIServer.
func (c *Cluster) KillAPIServer(t testing.TB) {
	t.Helper()
	p := c.proc("kube-apiserver")
	if p == nil {
		t.Fatal("testbed: no kube-apiserver process")
	}
	p.kill()
}

// StartAPIServer starts kube-apiserver again on the same port, data (etcd)
// and certificates, and waits until it answers /readyz.
//
// The components that talk to it are restarted with it, as in a real
// control plane after an outage longer than a few seconds:
// kube-controller-manager and kube-scheduler run with leader election
// there, exit when they cannot renew their lease (10 s) and are restarted
// by the kubelet. kwok, which plays the kubelets, is restarted because real
// kubelets re-sync pod and node status every few seconds, whereas kwok
// retries a stage that failed during the outage with a backoff doubling
// from 1 s to 32 min (and drops it on some connection errors), which would
// leave replacement pods unready for minutes. Clients under test keep
// running and recover (or not) on their own.
func (c *Cluster) StartAPIServer(t testing.TB) {
	t.Helper()
	api := c.proc("kube-apiserver")
	if api == nil || !api.exited() {
		t.Fatal("testbed: StartAPIServer while kube-apiserver is running (KillAPIServer first)")
	}
	if err := c.restart(api); err != nil {
		t.Fatalf("testbed: %v", err)
	}
	if err := c.waitReady(90 * time.Second); err != nil {
		t.Fatalf("testbed: restarted kube-apiserver: %v", err)
	}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler", "kwok"} {
		p := c.proc(name)
		p.stop(10 * time.Second)
		if err := c.restart(p); err != nil {
			t.Fatalf("testbed: %v", err)
		}
	}
}

// restart starts the (ended) component p again with the same arguments.
func (c *Cluster) restart(p *process) error {
	proc, err := startProcess(c.Dir, p.name, filepath.Join(c.BinDir, p.name), p.args...)
	if err != nil {
		return err
	}
	for i := range c.procs {
		if c.procs[i] == p {
			c.procs[i] = proc
		}
	}
	return nil
}

// proc returns the component called name, or nil.
func (c *Cluster) proc(name string) *process {
	for _, p := range c.procs {
		if p.name == name {
			return p
		}
	}
	return nil
}

// PodsOn counts the pods bound to node, terminating ones only if
// withTerminating.
func (c *Cluster) PodsOn(ctx context.Context, node string, withTerminating bool) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	pods, err := c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range pods.Items {
		if withTerminating || pods.Items[i].DeletionTimestamp == nil {
			n++
		}
	}
	return n, nil
}

// CordonWatch reads a node every 100 ms, whenever the API server answers,
// and records every read that found it schedulable after it had been seen
// cordoned: for tests asserting that a node stays cordoned through faults.
type CordonWatch struct {
	stopOnce sync.Once
	quit     chan struct{}
	done     chan struct{}

	mu         sync.Mutex
	cordoned   bool
	reads      int       // successful reads since the cordon was seen
	last       time.Time // of the last successful read
	uncordoned []string
	start      time.Time
}

// WatchCordon starts sampling node until Stop (or the end of the test).
func (c *Cluster) WatchCordon(t testing.TB, node string) *CordonWatch {
	t.Helper()
	w := &CordonWatch{quit: make(chan struct{}), done: make(chan struct{}), start: time.Now()}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			n, err := c.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
			cancel()
			if err == nil {
				w.observe(n)
			}
			select {
			case <-w.quit:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(w.Stop)
	return w
}

func (w *CordonWatch) observe(n *corev1.Node) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last = time.Now()
	switch {
	case n.Spec.Unschedulable:
		w.cordoned = true
		w.reads++
	case w.cordoned:
		w.reads++
		w.uncordoned = append(w.uncordoned, fmt.Sprintf("rv %s at +%s", n.ResourceVersion, time.Since(w.start).Round(time.Millisecond)))
	}
}

// Stop ends the sampling.
func (w *CordonWatch) Stop() {
	w.stopOnce.Do(func() { close(w.quit); <-w.done })
}

// Check fails the test if the node was seen schedulable after it was seen
// cordoned, or if no read succeeded after readAfter (e.g. the API server's
// return from an outage), which would leave the check without evidence.
func (w *CordonWatch) Check(t testing.TB, readAfter time.Time) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.cordoned || w.reads == 0 || w.last.Before(readAfter) {
		t.Errorf("node reads: cordon seen %v, %d reads since, last at %s (wanted one after %s); the watch proves nothing",
			w.cordoned, w.reads, w.last.Format(time.TimeOnly), readAfter.Format(time.TimeOnly))
	}
	if len(w.uncordoned) > 0 {
		t.Errorf("node seen schedulable %d times after it was cordoned: %v", len(w.uncordoned), w.uncordoned)
	}
}

// DumpOnFailure logs, when the test has failed, the state a fault test
// usually needs to tell what went wrong: nodes (cordon, taints, readiness),
// the namespace's pods (node, phase, readiness, deletion) and PDBs, and the
// components still running. Register it early: cleanups run last first.
func (c *Cluster) DumpOnFailure(t testing.TB, ns string) {
	t.Helper()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var b strings.Builder
		if nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
			for i := range nodes.Items {
				n := &nodes.Items[i]
				fmt.Fprintf(&b, "node %s: unschedulable=%v ready=%v taints=%v annotations=%v\n",
					n.Name, n.Spec.Unschedulable, nodeReady(n), n.Spec.Taints, n.Annotations)
			}
		} else {
			fmt.Fprintf(&b, "listing nodes: %v\n", err)
		}
		if pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
			for i := range pods.Items {
				p := &pods.Items[i]
				fmt.Fprintf(&b, "pod %s: node=%q phase=%s ready=%v deleting=%v\n",
					p.Name, p.Spec.NodeName, p.Status.Phase, PodReady(p), p.DeletionTimestamp != nil)
			}
		} else {
			fmt.Fprintf(&b, "listing pods: %v\n", err)
		}
		if pdbs, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).List(ctx, metav1.ListOptions{}); err == nil {
			for i := range pdbs.Items {
				s := pdbs.Items[i].Status
				fmt.Fprintf(&b, "pdb %s: healthy %d/%d, disruptions allowed %d, observed generation %d\n",
					pdbs.Items[i].Name, s.CurrentHealthy, s.DesiredHealthy, s.DisruptionsAllowed, s.ObservedGeneration)
			}
		}
		for _, p := range c.procs {
			if p.exited() {
				fmt.Fprintf(&b, "%s has exited; last log lines:\n%s\n", p.name, p.tail(2000))
			}
		}
		t.Logf("cluster state at failure:\n%s", b.String())
	})
}
