//go:build linux

package agent_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/agent"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	emuaws "github.com/lifeboat-dev/lifeboat/internal/emulate/aws"
	"github.com/lifeboat-dev/lifeboat/internal/handled"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	awsnotice "github.com/lifeboat-dev/lifeboat/internal/notice/aws"
	"github.com/lifeboat-dev/lifeboat/internal/report"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// TestAPIServerOutageMidSpotDrain kills kube-apiserver for 20 s in the middle
// of an agent's drain for a spot interruption 90 s away, with the pods behind
// a PDB so the drain lasts. The agent must carry the notice through the
// outage: the node is emptied before the interruption, never uncordoned
// while the notice is in force, and the notice is acted on and recorded as
// handled exactly once.
func TestAPIServerOutageMidSpotDrain(t *testing.T) {
	c := testbed.StartIsolated(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ns := c.Namespace(t)
	c.DumpOnFailure(t, ns)
	node := testbed.UniqueName("outage")
	c.AddNode(t, node, func(n *corev1.Node) {
		n.Spec.ProviderID = "aws:///us-east-1a/i-0123456789abcdef0"
		n.Status.NodeInfo.BootID = "boot-1"
	})
	const replicas = 3
	web := testbed.Deployment(ns, "web", node, replicas, func(d *appsv1.Deployment) {
		d.Spec.Template.Annotations = map[string]string{"pod-ready.stage.kwok.x-k8s.io/delay": "2s"}
	})
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, web, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, testbed.PDB(ns, "web", "web", 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Eventually(t, 60*time.Second, func() (bool, error) {
		n, err := c.ReadyPods(ctx, ns, "app=web")
		return n == replicas, err
	})
	// Replacements go to a second node of the same pool, each Ready 2 s
	// after it is created: the PDB lets one eviction through at a time.
	c.AddNode(t, testbed.UniqueName("spare"), func(n *corev1.Node) { n.Labels[testbed.LabelPool] = node })
	c.Eventually(t, 60*time.Second, func() (bool, error) {
		pdb, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && pdb.Status.DisruptionsAllowed == 1, nil
	})

	emu := emuaws.New(emuaws.Options{Log: logging.Discard()})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	src, err := awsnotice.New(awsnotice.Config{Endpoint: srv.URL, NodeName: node, Log: logging.Discard(), EventsInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	acts := &actions{}
	log := outageLog(t)
	a := agent.New(agent.Config{
		Client: c.API, Node: node, Drainer: drain.New(c.API, drain.Config{Log: log}),
		Sources: []notice.Source{src},
		Drain:   drain.Options{Force: true, DeleteEmptyDirData: true, GracePeriodSeconds: -1},
		// The Node is kept so that the handled record can be read.
		DeleteNode: false, Log: log,
		Reporter: acts,
	})
	runCtx, stop := context.WithCancel(ctx)
	done, ready := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Run(runCtx, func() { close(ready) })
	}()
	t.Cleanup(func() { stop(); <-done })
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("agent not ready")
	}

	watch := c.WatchCordon(t, node)
	spot, err := emu.ScheduleSpot(0, "terminate", 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Mid-drain: the first eviction went through, the PDB holds the rest.
	c.Eventually(t, 60*time.Second, func() (bool, error) {
		left, err := c.PodsOn(ctx, node, false)
		return err == nil && left < replicas, nil
	})
	left, err := c.PodsOn(ctx, node, false)
	if err != nil || left == 0 {
		t.Fatalf("the drain ended (%d pods left, err %v) before the outage; the test proves nothing", left, err)
	}
	outage := time.Now()
	c.KillAPIServer(t)
	time.Sleep(20 * time.Second) // the outage itself, not a wait for a result
	c.StartAPIServer(t)
	restarted := time.Now()
	t.Logf("API server down for %s with %d pods left on the node; interruption at +%s",
		restarted.Sub(outage).Round(time.Second), left, spot.Time.Sub(outage).Round(time.Second))

	// Emptied before the interruption.
	c.Eventually(t, time.Until(spot.Time)+time.Second, func() (bool, error) {
		n, err := c.PodsOn(ctx, node, true)
		return err == nil && n == 0, nil
	})
	emptied := time.Now()
	if !emptied.Before(spot.Time) {
		t.Errorf("node emptied at %s, after the interruption at %s", emptied.Format(time.TimeOnly), spot.Time.Format(time.TimeOnly))
	}
	t.Logf("node emptied %s after the API server's return, %s before the interruption",
		emptied.Sub(restarted).Round(time.Second), spot.Time.Sub(emptied).Round(time.Second))
	// Acted on once, and recorded. The drain ends when lifeboat's pod
	// informer sees the last pod go, which after an outage can take as long
	// as client-go's reflector backoff (up to a minute).
	var id string
	c.Eventually(t, 90*time.Second, func() (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		id = acts.succeeded()
		return id != "" && handled.Is(n, id), nil
	})
	watch.Stop()
	watch.Check(t, restarted)
	n, err := c.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !n.Spec.Unschedulable {
		t.Error("node schedulable after the drain, while the spot interruption is in force")
	}
	if got := countOf(handled.IDs(n), id); got != 1 {
		t.Errorf("notice %s recorded %d times as handled: %v", id, got, handled.IDs(n))
	}
	acts.check(t)
}

// outageLog logs to stderr when LIFEBOAT_TEST_LOG is set, else nowhere.
func outageLog(t *testing.T) *slog.Logger {
	if os.Getenv("LIFEBOAT_TEST_LOG") == "" {
		return logging.Discard()
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

// actions records how the agent reported each notice finished.
type actions struct {
	report.Discard
	mu   sync.Mutex
	list []actionReport
}

type actionReport struct {
	id  string
	err error
}

// Finished records the agent's report that a notice's action ended.
func (a *actions) Finished(n notice.Notice, f report.Finish) {
	if f.Kind != report.FinishDone {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.list = append(a.list, actionReport{id: n.ID, err: f.Err})
}

// succeeded returns the ID of the first notice whose action succeeded.
func (a *actions) succeeded() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.list {
		if r.err == nil {
			return r.id
		}
	}
	return ""
}

// check fails the test unless exactly one action was reported, a success.
func (a *actions) check(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.list) != 1 || a.list[0].err != nil {
		t.Errorf("agent reported %d actions %+v, want one that succeeded", len(a.list), a.list)
	}
}

func countOf(ids []string, id string) int {
	n := 0
	for _, x := range ids {
		if x == id {
			n++
		}
	}
	return n
}
