//go:build linux

package drain_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
)

// writerBackoff lets the simulated controllers retry as long as a real
// controller would, however busy the node is.
var writerBackoff = wait.Backoff{Steps: 30, Duration: 10 * time.Millisecond, Factor: 1.5, Jitter: 0.5, Cap: time.Second}

// TestConcurrentNodeWritersLoseNothing races lifeboat's cordon, taint and
// uncordon against other controllers writing labels and taints on the same
// node. Every write from every side must survive.
func TestConcurrentNodeWritersLoseNothing(t *testing.T) {
	e := newEnv(t)
	node := e.node()
	d := e.drainer(nil)
	const writers, rounds = 4, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds+rounds*2)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				// Another controller's read-modify-write with full updates.
				err := retry.RetryOnConflict(writerBackoff, func() error {
					n, err := e.c.Client.CoreV1().Nodes().Get(e.ctx, node, metav1.GetOptions{})
					if err != nil {
						return err
					}
					n.Labels[fmt.Sprintf("writer-%d-%d", w, r)] = "x"
					n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: fmt.Sprintf("writer-%d-%d", w, r), Effect: corev1.TaintEffectPreferNoSchedule})
					_, err = e.c.Client.CoreV1().Nodes().Update(e.ctx, n, metav1.UpdateOptions{})
					return err
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	taint := &corev1.Taint{Key: "lifeboat.dev/draining", Effect: corev1.TaintEffectNoSchedule}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range rounds {
			if _, err := d.Cordon(e.ctx, node, drain.Options{Taint: taint, ExcludeFromLoadBalancers: true, Reason: "race"}); err != nil {
				errs <- err
			}
			if _, err := d.Uncordon(e.ctx, node); err != nil {
				errs <- err
			}
		}
		if _, err := d.Cordon(e.ctx, node, drain.Options{Taint: taint, ExcludeFromLoadBalancers: true, Reason: "race"}); err != nil {
			errs <- err
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("write failed: %v", err)
	}
	n := e.getNode(node)
	for w := range writers {
		for r := range rounds {
			k := fmt.Sprintf("writer-%d-%d", w, r)
			if n.Labels[k] != "x" {
				t.Errorf("label %s lost", k)
			}
			found := false
			for _, tt := range n.Spec.Taints {
				found = found || tt.Key == k
			}
			if !found {
				t.Errorf("taint %s lost", k)
			}
		}
	}
	mark, ok, err := drain.ReadMark(n)
	if !ok || err != nil || !mark.Unschedulable || len(mark.Taints) != 1 || !n.Spec.Unschedulable {
		t.Errorf("lifeboat's final cordon lost: mark=%+v ok=%v err=%v unschedulable=%v", mark, ok, err, n.Spec.Unschedulable)
	}
	found := false
	for _, tt := range n.Spec.Taints {
		found = found || tt.Key == taint.Key
	}
	if !found || n.Labels[drain.LabelExcludeFromLB] != "true" {
		t.Errorf("lifeboat's taint or label lost: taints=%v", n.Spec.Taints)
	}
}
