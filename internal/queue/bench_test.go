//go:build linux

package queue

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/lifeboat-dev/lifeboat/internal/kube"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/queue/message"
	"github.com/lifeboat-dev/lifeboat/internal/queue/nodeindex"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// Benchmark sizes: a 1000-node cluster, 200 interruption warnings at once.
const (
	benchNodes       = 1000
	benchInterrupted = 200
)

// BenchmarkInterruptionBurst measures, on 1000 kwok nodes, how long queue
// mode takes from 200 spot interruption messages landing at once until all
// 200 nodes are cordoned and until all are drained (one pod each), and
// checks that no cordon or taint was lost and no node was drained twice.
// Run: go test ./internal/queue/ -run '^$' -bench InterruptionBurst -benchtime=1x
func BenchmarkInterruptionBurst(b *testing.B) {
	for range b.N {
		benchOnce(b)
	}
}

func benchOnce(b *testing.B) {
	b.StopTimer()
	e := newEnv(b, nil)
	// The consumer runs with the client limits `lifeboat queue` has by
	// default, not the test's admin client.
	prod := rest.CopyConfig(e.c.Config)
	ko := kube.ClusterWideOptions()
	prod.QPS, prod.Burst = ko.QPS, ko.Burst
	client, err := kubernetes.NewForConfig(prod)
	if err != nil {
		b.Fatal(err)
	}
	e.client = client
	ctx := context.Background()
	ns := e.c.Namespace(b)
	ids := e.addNodes(b, benchNodes)
	for i := range benchInterrupted {
		e.pod(b, ns, nodeName(i))
	}
	r := e.replica(b, nil)
	r.consumer.Config.Workers = 20
	msgs := make([]string, benchInterrupted)
	sent := time.Now()
	for i := range benchInterrupted {
		msgs[i] = e.send(b, message.SpotInterruption(fmt.Sprintf("burst-%d", i), ids[i], sent))
	}
	b.StartTimer()
	start := time.Now()
	r.start(b)
	var cordoned time.Duration
	testbed.Eventually(b, 120*time.Second, func() (bool, error) {
		for i := range benchInterrupted {
			n, ok := r.index.ByInstanceID(ids[i])
			if !ok || !n.Spec.Unschedulable || !hasTaint(n, TaintGoingAway) {
				return false, nil
			}
		}
		cordoned = time.Since(start)
		return true, nil
	})
	for _, m := range msgs {
		e.waitDeleted(b, m, 300*time.Second)
	}
	drained := time.Since(start)
	b.StopTimer()

	lost, dup := 0, 0
	nodes, err := e.c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "lifeboat.test/bench=true"})
	if err != nil {
		b.Fatal(err)
	}
	interrupted := map[string]bool{}
	for i := range benchInterrupted {
		interrupted[nodeName(i)] = true
	}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if interrupted[n.Name] && (!n.Spec.Unschedulable || !hasTaint(n, TaintGoingAway)) {
			lost++
		}
		if !interrupted[n.Name] && n.Spec.Unschedulable {
			b.Errorf("node %s cordoned without a notice", n.Name)
		}
		if c := r.drainer.count(n.Name); c > 1 {
			dup += c - 1
		}
	}
	pods, _ := e.c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	b.ReportMetric(cordoned.Seconds(), "s-all-cordoned")
	b.ReportMetric(drained.Seconds(), "s-all-drained")
	b.ReportMetric(float64(lost), "lost-cordons")
	b.ReportMetric(float64(dup), "duplicate-drains")
	fmt.Printf("queue burst: %d nodes, %d interruptions: all cordoned in %s, all drained in %s; lost cordons/taints %d, duplicate drains %d, pods left %d, stats %+v\n",
		benchNodes, benchInterrupted, cordoned.Round(time.Millisecond), drained.Round(time.Millisecond), lost, dup, len(pods.Items), r.stats.Snapshot())
	if lost != 0 || dup != 0 || len(pods.Items) != 0 {
		b.Errorf("lost cordons %d, duplicate drains %d, pods left %d; want 0", lost, dup, len(pods.Items))
	}
}

func nodeName(i int) string { return fmt.Sprintf("bench-%04d", i) }

// addNodes creates n kwok nodes in parallel and waits until all are Ready.
func (e *env) addNodes(tb testing.TB, n int) []string {
	tb.Helper()
	ctx := context.Background()
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i := range n {
		ids[i] = newInstanceID()
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			node := &corev1.Node{
				ObjectMeta: metav1.ObjectMeta{
					Name:        nodeName(i),
					Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
					Labels:      map[string]string{"type": "kwok", "lifeboat.test/bench": "true", testbed.LabelPool: nodeName(i)},
				},
				Spec: corev1.NodeSpec{ProviderID: nodeindex.ProviderID("us-east-1a", ids[i])},
				Status: corev1.NodeStatus{
					Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("110")},
					Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("110")},
				},
			}
			if _, err := e.c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatalf("creating bench nodes: %v", err)
	}
	tb.Cleanup(func() {
		_ = e.c.Client.CoreV1().Nodes().DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "lifeboat.test/bench=true"})
	})
	testbed.Eventually(tb, 300*time.Second, func() (bool, error) {
		list, err := e.c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "lifeboat.test/bench=true"})
		if err != nil {
			return false, err
		}
		ready := 0
		for i := range list.Items {
			if nodeindex.Ready(&list.Items[i]) {
				ready++
			}
		}
		return ready == n, nil
	})
	return ids
}
