//go:build linux && !lifeboat_agent

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/atrisk"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// seededShape is one risky (or, with no reason, graceful) workload seeded on
// the plan test's node.
type seededShape struct {
	app     string
	reasons []atrisk.Reason // what plan must say about each of its pods; nil: not listed
}

// seedRiskyCluster creates, on a fresh node, one workload of each risky
// shape and one graceful control, and waits until every pod is Ready and
// every PDB's status counts them. It returns the namespace, the node's pool
// label selector, and the shapes.
func seedRiskyCluster(t *testing.T) (ns, selector string, shapes []seededShape) {
	t.Helper()
	c := testbed.Get(t)
	ctx := context.Background()
	ns = c.Namespace(t)
	node := c.AddNode(t, testbed.UniqueName("plan")).Name
	grace := func(s int64) func(*appsv1.Deployment) {
		return func(d *appsv1.Deployment) { d.Spec.Template.Spec.TerminationGracePeriodSeconds = &s }
	}
	annotate := func(k, v string) func(*appsv1.Deployment) {
		return func(d *appsv1.Deployment) {
			if d.Spec.Template.Annotations == nil {
				d.Spec.Template.Annotations = map[string]string{}
			}
			d.Spec.Template.Annotations[k] = v
		}
	}
	deploy := func(app string, replicas int32, mutate ...func(*appsv1.Deployment)) {
		d := testbed.Deployment(ns, app, node, replicas, append([]func(*appsv1.Deployment){grace(10)}, mutate...)...)
		if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pdb := func(app string, maxUnavailable int) {
		if _, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, testbed.PDB(ns, app, app, maxUnavailable), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	shapes = []seededShape{
		{"graceful", nil},
		{"guarded", []atrisk.Reason{atrisk.PDBBlocks}},
		{"slowstop", []atrisk.Reason{atrisk.GraceExceedsNotice}},
		{"slowready", nil}, // one of its two pods: replacement-too-slow (checked below)
		{"bare", []atrisk.Reason{atrisk.NoController}},
		{"scratch", []atrisk.Reason{atrisk.LocalStorage}},
		{"pinned", []atrisk.Reason{atrisk.DoNotDisrupt}},
		{"stays", []atrisk.Reason{atrisk.EvictNever}},
		{"lonely", []atrisk.Reason{atrisk.SingleReplica}},
	}
	// graceful: three replicas, 5 s grace, a budget of two; the third pod
	// waits for a quick replacement, long before its fallback point
	// (30 s - 2 s margin - 1 s - 5 s = 22 s), even on a loaded machine.
	deploy("graceful", 3, grace(5))
	pdb("graceful", 2)
	deploy("guarded", 2)
	pdb("guarded", 0)
	deploy("slowstop", 2, grace(60))
	// slowready: the budget lets one pod go; the second waits for a
	// replacement that takes 12 s to be Ready, past its fallback point
	// (30 s - 2 s margin - 1 s - 20 s grace = 7 s).
	deploy("slowready", 2, grace(20), annotate("pod-ready.stage.kwok.x-k8s.io/delay", "12s"))
	pdb("slowready", 1)
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, testbed.Pod(ns, "bare", node, func(p *corev1.Pod) {
		g := int64(10)
		p.Spec.TerminationGracePeriodSeconds = &g
	}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deploy("scratch", 2, func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	})
	deploy("pinned", 2, annotate(atrisk.AnnotationDoNotDisrupt, "true"))
	deploy("stays", 2, annotate("lifeboat.dev/evict", "never"))
	deploy("lonely", 1)
	want := map[string]int{"graceful": 3, "guarded": 2, "slowstop": 2, "slowready": 2, "bare": 1, "scratch": 2, "pinned": 2, "stays": 2, "lonely": 1}
	c.Eventually(t, 2*time.Minute, func() (bool, error) {
		for app, n := range want {
			if got, err := c.ReadyPods(ctx, ns, "app="+app); err != nil || got != n {
				return false, err
			}
		}
		l, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, b := range l.Items {
			if b.Status.ObservedGeneration != b.Generation || int(b.Status.CurrentHealthy) != want[b.Name] {
				return false, nil
			}
		}
		return true, nil
	})
	return ns, testbed.LabelPool + "=" + node, shapes
}

// TestPlan seeds a node with each risky shape once and checks every output
// of `lifeboat plan` against it: the JSON lists each shape with its code and
// nothing else, the HTML page shows the same numbers in a real headless
// Chromium, and --serve exports them as metrics and follows changes.
func TestPlan(t *testing.T) {
	ns, selector, shapes := seedRiskyCluster(t)
	c := testbed.Get(t)
	var r atrisk.Report
	t.Run("json lists each risky shape with its code and nothing else", func(t *testing.T) {
		out, err := run(t, nil, "plan", "--notice", "30s", "-o", "json", "--selector", selector, "--kubeconfig", c.Kubeconfig)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != ExitAtRisk {
			t.Fatalf("plan: err %v, want exit code %d", err, ExitAtRisk)
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("plan -o json: %v\n%s", err, out)
		}
		checkShapes(t, ns, &r, shapes)
		if len(r.Nodes) != 1 || r.Nodes[0].Fits || r.Nodes[0].Pods != 15 || r.Summary.AllFit {
			t.Errorf("nodes %+v summary %+v: want one node, 15 pods removed, not fitting", r.Nodes, r.Summary)
		}
	})
	t.Run("html page in headless chromium shows the json's numbers", func(t *testing.T) {
		if len(r.Nodes) == 0 {
			t.Fatal("needs the json subtest's report")
		}
		out, err := run(t, nil, "plan", "--notice", "30s", "-o", "html", "--selector", selector, "--kubeconfig", c.Kubeconfig)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != ExitAtRisk {
			t.Fatalf("plan -o html: err %v, want exit code %d", err, ExitAtRisk)
		}
		checkHTMLInBrowser(t, out, &r)
	})
	t.Run("serve exports the same answer and follows changes", func(t *testing.T) {
		testPlanServe(t, c, ns, selector)
	})
	t.Run("a node with only graceful pods fits and exits 0", func(t *testing.T) {
		node := c.AddNode(t, testbed.UniqueName("plan")).Name
		d := testbed.Deployment(ns, "calm", node, 2, func(d *appsv1.Deployment) {
			g := int64(5)
			d.Spec.Template.Spec.TerminationGracePeriodSeconds = &g
		})
		if _, err := c.Client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		c.Eventually(t, time.Minute, func() (bool, error) {
			n, err := c.ReadyPods(context.Background(), ns, "app=calm")
			return n == 2, err
		})
		out, err := run(t, nil, "plan", node, "--notice", "30s", "--kubeconfig", c.Kubeconfig)
		if err != nil || !strings.Contains(out, "would leave gracefully") {
			t.Errorf("plan %s: err %v, want exit 0 and the all-fit line", node, err)
		}
	})
}

// checkShapes checks that the report lists each seeded shape with exactly
// its reasons, and nothing else.
func checkShapes(t *testing.T, ns string, r *atrisk.Report, shapes []seededShape) {
	t.Helper()
	byApp := map[string][][]atrisk.Reason{}
	for _, p := range r.Pods {
		if p.Namespace != ns || p.Node == "" || len(p.Reasons) == 0 {
			t.Errorf("listed pod %+v: wrong namespace, no node or no reasons", p)
		}
		app, _, _ := strings.Cut(p.Name, "-")
		byApp[app] = append(byApp[app], p.Reasons)
	}
	for _, s := range shapes {
		got := byApp[s.app]
		delete(byApp, s.app)
		switch {
		case s.app == "slowready":
			if len(got) != 1 || !slices.Equal(got[0], []atrisk.Reason{atrisk.ReplacementTooSlow}) {
				t.Errorf("slowready: %v, want exactly one pod with [replacement-too-slow]", got)
			}
		case s.reasons == nil:
			if len(got) != 0 {
				t.Errorf("%s: listed %v, want nothing (it leaves gracefully)", s.app, got)
			}
		default:
			if len(got) == 0 {
				t.Errorf("%s: not listed, want %v", s.app, s.reasons)
			}
			for _, g := range got {
				if !slices.Equal(g, s.reasons) {
					t.Errorf("%s: %v, want %v", s.app, g, s.reasons)
				}
			}
		}
	}
	if len(byApp) != 0 {
		t.Errorf("listed pods of no seeded shape: %v", byApp)
	}
}

func testPlanServe(t *testing.T, c *testbed.Cluster, ns, selector string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		var out, errOut testbed.SyncBuffer
		g := &Globals{Stdout: &out, Stderr: &errOut, LookupEnv: func(string) (string, bool) { return "", false }}
		done <- Execute(ctx, []string{
			"plan", "--serve", "--notice", "30s,2m", "--selector", selector, "--kubeconfig", c.Kubeconfig,
			"--metrics-address", addr, "--refresh", "1h",
		}, g)
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("plan --serve ended with %v", err)
			}
		}
	}
	t.Cleanup(stop)
	want := []string{
		`lifeboat_pods_at_risk{namespace="` + ns + `",notice="30s",reason="pdb-blocks"} 2`,
		`lifeboat_pods_at_risk{namespace="` + ns + `",notice="30s",reason="replacement-too-slow"} 1`,
		`lifeboat_pods_at_risk{namespace="` + ns + `",notice="30s",reason="single-replica"} 1`,
		`lifeboat_pods_at_risk{namespace="` + ns + `",notice="2m",reason="evict-never"} 2`,
		`lifeboat_node_drain_fits{node=`,
		`lifeboat_plan_refreshes_total{trigger="timer"} 1`,
	}
	body := ""
	deadline := time.Now().Add(time.Minute)
	testbed.Eventually(t, 2*time.Minute, func() (bool, error) {
		body = scrape(addr)
		if time.Now().After(deadline) {
			return false, errors.New("metrics never showed " + strings.Join(want, ", ") + ":\n" + grepLines(body, "lifeboat_"))
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				return false, nil
			}
		}
		return true, nil
	})
	t.Logf("metrics:\n%s", grepLines(body, "lifeboat_pods_at_risk", "lifeboat_node_", "lifeboat_plan_"))
	// A change re-assesses through the informers: scale the single
	// replica up and its single-replica series goes away.
	if _, err := c.Client.AppsV1().Deployments(ns).UpdateScale(context.Background(), "lonely", scale(ns, "lonely", 2), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testbed.Eventually(t, time.Minute, func() (bool, error) {
		body = scrape(addr)
		return !strings.Contains(body, `reason="single-replica"`) && strings.Contains(body, `lifeboat_plan_refreshes_total{trigger="change"}`), nil
	})
	stop()
}

func scale(ns, name string, n int32) *autoscalingv1.Scale {
	return &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: autoscalingv1.ScaleSpec{Replicas: n}}
}

func scrape(addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(body string, prefixes ...string) string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				out = append(out, line)
			}
		}
	}
	return strings.Join(out, "\n")
}
