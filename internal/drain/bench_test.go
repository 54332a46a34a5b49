//go:build linux

package drain_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// benchEnv is env for benchmarks (testing.B instead of testing.T).
type benchEnv struct {
	b    *testing.B
	c    *testbed.Cluster
	ns   string
	pool string
	ctx  context.Context
	bin  string
}

func newBenchEnv(b *testing.B) *benchEnv {
	c := testbed.Get(b)
	root, err := testbed.RepoRoot()
	if err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(b.TempDir(), "lifeboat")
	build := exec.Command("go", "build", "-o", bin, "./cmd/lifeboat")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building lifeboat: %v\n%s", err, out)
	}
	return &benchEnv{b: b, c: c, ctx: context.Background(), bin: bin}
}

// round prepares a fresh namespace and a node running the workload, then
// adds spare nodes for the replacements. It returns the node to drain.
func (e *benchEnv) round(deployments, replicas int, readyDelay, shutdown string, pdb bool) string {
	e.ns = e.c.Namespace(e.b)
	e.pool = testbed.UniqueName("bench")
	node := e.addNode()
	for i := range deployments {
		name := fmt.Sprintf("app%d", i)
		d := testbed.Deployment(e.ns, name, e.pool, int32(replicas), func(d *appsv1.Deployment) {
			d.Spec.Template.Annotations = map[string]string{
				"pod-ready.stage.kwok.x-k8s.io/delay":  readyDelay,
				"pod-delete.stage.kwok.x-k8s.io/delay": shutdown,
			}
		})
		if _, err := e.c.Client.AppsV1().Deployments(e.ns).Create(e.ctx, d, metav1.CreateOptions{}); err != nil {
			e.b.Fatal(err)
		}
		if pdb {
			if _, err := e.c.Client.PolicyV1().PodDisruptionBudgets(e.ns).Create(e.ctx, testbed.PDB(e.ns, name, name, 1), metav1.CreateOptions{}); err != nil {
				e.b.Fatal(err)
			}
		}
	}
	testbed.Eventually(e.b, 3*time.Minute, func() (bool, error) {
		n, err := e.c.ReadyPods(e.ctx, e.ns, "")
		return n == deployments*replicas, err
	})
	if pdb {
		testbed.Eventually(e.b, time.Minute, func() (bool, error) {
			l, err := e.c.Client.PolicyV1().PodDisruptionBudgets(e.ns).List(e.ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			for _, p := range l.Items {
				if p.Status.CurrentHealthy != int32(replicas) || p.Status.DisruptionsAllowed != 1 {
					return false, nil
				}
			}
			return true, nil
		})
	}
	e.addNode()
	e.addNode()
	return node
}

func (e *benchEnv) addNode() string {
	name := testbed.UniqueName("bn")
	e.c.AddNode(e.b, name, func(n *corev1.Node) { n.Labels[testbed.LabelPool] = e.pool })
	return name
}

// timeDrain runs a drain command and returns how long it took, checking
// the node is empty of the workload afterwards.
func (e *benchEnv) timeDrain(node string, args ...string) time.Duration {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.c.Kubeconfig)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		e.b.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	l, err := e.c.Client.CoreV1().Pods(e.ns).List(e.ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil || len(l.Items) != 0 {
		e.b.Fatalf("%d pods left on %s after %s (%v)", len(l.Items), node, args[0], err)
	}
	return took
}

// minReady watches every Deployment's Ready count during a drain and
// returns how far below its replica count the lowest one dropped.
func (e *benchEnv) maxUnavailable(replicas int) (stop func() int) {
	w := (&env{t: nil, c: e.c, ns: e.ns, ctx: e.ctx}).watchReadyB(e.b, "")
	return func() int {
		worst := 0
		for _, v := range w.minimumByApp() {
			worst = max(worst, replicas-v)
		}
		return worst
	}
}

type row struct {
	name            string
	lifeboat, other []time.Duration
	bound           time.Duration
	violations      int
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// BenchmarkDrainVersusKubectl drains a node running 3 Deployments x 10
// replicas, each behind a PDB with maxUnavailable=1, whose replacements
// become Ready 2 s after creation, alternating lifeboat and kubectl drain in
// the same cluster. The readiness chain is the lower bound no drain can
// beat: with maxUnavailable=1 the 10th replica can only be evicted after 9
// replacements became Ready one after another, 2 s each.
//
//	go test ./internal/drain -run '^$' -bench DrainVersusKubectl -benchtime 2x
func BenchmarkDrainVersusKubectl(b *testing.B) {
	e := newBenchEnv(b)
	kubectl := filepath.Join(e.c.BinDir, "kubectl")
	const deployments, replicas, ready = 3, 10, 2 * time.Second
	r := row{name: "3x10 pods behind PDBs (maxUnavailable=1), 2 s readiness", bound: (replicas - 1) * ready}
	for range b.N {
		node := e.round(deployments, replicas, ready.String(), "0s", true)
		stop := e.maxUnavailable(replicas)
		r.lifeboat = append(r.lifeboat, e.timeDrain(node, e.bin, "drain", node, "--timeout=5m", "--progress=never", "--log-level=warn"))
		r.violations += max(0, stop()-1)

		node = e.round(deployments, replicas, ready.String(), "0s", true)
		stop = e.maxUnavailable(replicas)
		r.other = append(r.other, e.timeDrain(node, kubectl, "drain", node, "--ignore-daemonsets", "--timeout=5m"))
		r.violations += max(0, stop()-1)
	}
	report(b, r)
}

// BenchmarkDrain110Pods drains a full node (kubelet's default maximum of
// 110 pods), no PDBs, each pod taking 2 s to shut down: the drain should
// end within 3 s of that.
//
//	go test ./internal/drain -run '^$' -bench Drain110Pods -benchtime 2x
func BenchmarkDrain110Pods(b *testing.B) {
	e := newBenchEnv(b)
	kubectl := filepath.Join(e.c.BinDir, "kubectl")
	const shutdown = 2 * time.Second
	r := row{name: "110 pods, no PDBs, 2 s shutdown each", bound: shutdown}
	for range b.N {
		node := e.round(1, 110, "0s", shutdown.String(), false)
		r.lifeboat = append(r.lifeboat, e.timeDrain(node, e.bin, "drain", node, "--timeout=5m", "--progress=never", "--log-level=warn"))
		node = e.round(1, 110, "0s", shutdown.String(), false)
		r.other = append(r.other, e.timeDrain(node, kubectl, "drain", node, "--ignore-daemonsets", "--timeout=5m"))
	}
	report(b, r)
}

func report(b *testing.B, r row) {
	lb, kc := median(r.lifeboat), median(r.other)
	b.ReportMetric(lb.Seconds(), "lifeboat-s")
	b.ReportMetric(kc.Seconds(), "kubectl-s")
	b.ReportMetric(r.bound.Seconds(), "bound-s")
	b.ReportMetric(lb.Seconds()/r.bound.Seconds(), "lifeboat/bound")
	b.ReportMetric(lb.Seconds()/kc.Seconds(), "lifeboat/kubectl")
	b.ReportMetric(float64(r.violations), "pdb-violations")
	fmt.Printf("\n| scenario | lifeboat | kubectl drain | lower bound | lifeboat − bound | lifeboat/bound | lifeboat/kubectl | PDB violations |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|\n")
	fmt.Printf("| %s | %.1f s | %.1f s | %.1f s | %.1f s | %.2f | %.2f | %d |\n", r.name, lb.Seconds(), kc.Seconds(), r.bound.Seconds(),
		(lb - r.bound).Seconds(), lb.Seconds()/r.bound.Seconds(), lb.Seconds()/kc.Seconds(), r.violations)
	fmt.Printf("(medians of %d alternating runs each: lifeboat %v, kubectl %v)\n", len(r.lifeboat), r.lifeboat, r.other)
}
