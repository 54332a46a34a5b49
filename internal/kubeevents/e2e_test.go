//go:build linux

package kubeevents_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/kubeevents"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/metrics"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notify"
	"github.com/lifeboat-dev/lifeboat/internal/report"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

// TestRealDrainRecordsEventsAndMetrics drains a node of a real control plane
// with two PDB-protected Deployments: "web" (maxUnavailable 1, so evictions
// are refused until replacements are Ready) and "db" (maxUnavailable 0, so
// only the deadline fallback can remove it), then checks the Events that
// `kubectl describe` would show, the metrics, and the notifications.
func TestRealDrainRecordsEventsAndMetrics(t *testing.T) {
	c := testbed.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ns := c.Namespace(t)
	pool := testbed.UniqueName("pool")
	inPool := func(n *corev1.Node) { n.Labels[testbed.LabelPool] = pool }
	node := testbed.UniqueName("node")
	c.AddNode(t, node, inPool)

	// Short grace periods, so that only the PDB-blocked db pod needs the
	// deadline fallback.
	grace := int64(2)
	create(ctx, t, c, testbed.Deployment(ns, "web", pool, 3, func(d *appsv1.Deployment) {
		d.Spec.Template.Annotations = map[string]string{"pod-ready.stage.kwok.x-k8s.io/delay": "1s"}
		d.Spec.Template.Spec.TerminationGracePeriodSeconds = &grace
	}))
	create(ctx, t, c, testbed.Deployment(ns, "db", pool, 1, func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.TerminationGracePeriodSeconds = &grace
	}))
	c.Eventually(t, 90*time.Second, func() (bool, error) {
		web, err := c.ReadyPods(ctx, ns, "app=web")
		if err != nil {
			return false, err
		}
		db, err := c.ReadyPods(ctx, ns, "app=db")
		return web == 3 && db == 1, err
	})
	pdb(ctx, t, c, ns, "web", 1)
	pdb(ctx, t, c, ns, "db", 0)
	c.AddNode(t, testbed.UniqueName("spare"), inPool) // replacements go here
	uids := podUIDs(ctx, t, c, ns, node)

	m := metrics.New("e2e")
	rec := kubeevents.New(c.API, kubeevents.Config{Host: "e2e-agent", Log: logging.Discard()})
	hook, steps := webhookReceiver(t)
	nopts := notify.DefaultOptions()
	nopts.WebhookURL, nopts.WebhookTemplate = notify.Secret(hook), "{{ .Step }} {{ .Result }} {{ .Lifecycle }}"
	if err := nopts.Validate(); err != nil {
		t.Fatal(err)
	}
	msgs, err := notify.New(nopts, notify.Deps{Metrics: m, Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	rep := report.Fanout{rec, metrics.NewReporter(m), msgs}
	deadline := time.Now().Add(25 * time.Second)
	n := notice.Notice{ID: "spot/e2e", Source: "aws", Kind: notice.KindSpotInterruption, Node: node, Deadline: deadline, Detected: time.Now()}
	rep.NoticeReceived(n)
	d := drain.New(c.API, drain.Config{Log: logging.Discard(), Observer: rep, BlockedRetry: time.Second})
	res, err := d.Drain(ctx, node, drain.Options{
		GracePeriodSeconds: -1, Deadline: deadline, DeleteNode: true, Reason: "spot interruption",
		NoticeID: n.ID, NoticeKind: string(n.Kind),
	})
	if err != nil {
		t.Fatalf("drain: %v (result %+v)", err, res)
	}
	rep.Finished(n, report.Finish{Kind: report.FinishAcknowledged, Node: node})
	if err := rec.Close(ctx); err != nil {
		t.Fatalf("flushing events: %v", err)
	}
	if err := msgs.Close(ctx); err != nil {
		t.Fatalf("flushing notifications: %v", err)
	}
	thread := node + "/" + n.ID // every step in the notice's thread
	wantSteps := []string{
		"NoticeReceived  " + thread, "Cordoned  " + thread, "DrainStarted  " + thread, "DeadlineFallback  " + thread,
		"NodeDeleted  " + thread, "Drained fallback " + thread, "Acknowledged  " + thread,
	}
	if got := steps(); !slices.Equal(got, wantSteps) {
		t.Errorf("notifications = %q, want one per step: %q", got, wantSteps)
	}

	nodeEvents := search(ctx, t, c, "default", "Node", node, types.UID(node))
	for _, reason := range []string{
		"NoticeReceived", "Cordoned", "DrainStarted", "PodBlockedByPDB", "DeadlineFallback", "NodeDeleted", "Drained", "Acknowledged",
	} {
		if nodeEvents[reason] == nil {
			t.Errorf("no %s event on Node %s; got %v", reason, node, keys(nodeEvents))
		}
	}
	if e := nodeEvents["PodBlockedByPDB"]; e != nil && e.Type != corev1.EventTypeWarning {
		t.Errorf("PodBlockedByPDB on the node is %s, want Warning", e.Type)
	}
	var webBlocked int
	for name, uid := range uids {
		ev := search(ctx, t, c, ns, "Pod", name, uid)
		if ev["PodBlockedByPDB"] != nil {
			webBlocked++
		}
		if len(name) >= 3 && name[:3] == "db-" {
			for _, reason := range []string{"PodBlockedByPDB", "DeadlineFallback", "PodDeleted"} {
				if ev[reason] == nil || ev[reason].Type != corev1.EventTypeWarning {
					t.Errorf("db pod %s: want a Warning %s event with its UID; got %v", name, reason, keys(ev))
				}
			}
			continue
		}
		if ev["PodEvicted"] == nil {
			t.Errorf("web pod %s: no PodEvicted event with its UID; got %v", name, keys(ev))
		}
	}
	if webBlocked < 2 {
		t.Errorf("%d pods have a PodBlockedByPDB event, want the db pod and at least one web pod", webBlocked)
	}

	for result, want := range map[string]float64{metrics.EvictionEvicted: 3, metrics.EvictionFallbackDeleted: 1, metrics.EvictionFinishedDeleted: 0} {
		if got := testutil.ToFloat64(m.Evictions.WithLabelValues(result)); got != want {
			t.Errorf("evictions_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	if got := testutil.ToFloat64(m.Evictions.WithLabelValues(metrics.EvictionBlocked)); got < 1 {
		t.Errorf("evictions_total{result=blocked} = %v, want at least 1", got)
	}
	if got := testutil.ToFloat64(m.Drains.WithLabelValues(string(drain.OutcomeFallback))); got != 1 {
		t.Errorf("drains_total{result=fallback} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.Notices.WithLabelValues("aws", string(notice.KindSpotInterruption))); got != 1 {
		t.Errorf("notices_total{aws,spot-interruption} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.NoticeFinishes.WithLabelValues(string(report.FinishAcknowledged), metrics.FinishOK)); got != 1 {
		t.Errorf("notice_finishes_total{acknowledged,ok} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.DeadlineFallbacks); got != 1 {
		t.Errorf("deadline_fallbacks_total = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.PDBBlockedSeconds); got < 5 {
		t.Errorf("pdb_blocked_seconds_total = %v, want at least the db pod's wait until the fallback", got)
	}
}

// webhookReceiver records webhook bodies, one per request.
func webhookReceiver(t *testing.T) (string, func() []string) {
	var (
		mu     sync.Mutex
		bodies []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(bodies)
	}
}

func create(ctx context.Context, t *testing.T, c *testbed.Cluster, d *appsv1.Deployment) {
	t.Helper()
	if _, err := c.Client.AppsV1().Deployments(d.Namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func pdb(ctx context.Context, t *testing.T, c *testbed.Cluster, ns, app string, maxUnavailable int) {
	t.Helper()
	if _, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, testbed.PDB(ns, app, app, maxUnavailable), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Eventually(t, 60*time.Second, func() (bool, error) {
		b, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, app, metav1.GetOptions{})
		return err == nil && b.Status.ObservedGeneration == b.Generation && b.Status.ExpectedPods > 0, err
	})
}

func podUIDs(ctx context.Context, t *testing.T, c *testbed.Cluster, ns, node string) map[string]types.UID {
	t.Helper()
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]types.UID{}
	for _, p := range pods.Items {
		out[p.Name] = p.UID
	}
	if len(out) != 4 {
		t.Fatalf("%d pods on %s, want 3 web and 1 db", len(out), node)
	}
	return out
}

// search finds events the way `kubectl describe` does: by the involved
// object's name, namespace, kind and UID. It returns them by reason.
func search(ctx context.Context, t *testing.T, c *testbed.Cluster, ns, kind, name string, uid types.UID) map[string]*corev1.Event {
	t.Helper()
	evs := c.Client.CoreV1().Events(ns)
	objNS, u := "", string(uid)
	if kind == "Pod" {
		objNS = ns
	}
	sel := evs.GetFieldSelector(&name, &objNS, &kind, &u)
	list, err := evs.List(ctx, metav1.ListOptions{FieldSelector: sel.String()})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*corev1.Event{}
	for i := range list.Items {
		e := &list.Items[i]
		if e.Source.Component != kubeevents.DefaultComponent {
			continue
		}
		out[e.Reason] = e
	}
	return out
}

func keys(m map[string]*corev1.Event) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
