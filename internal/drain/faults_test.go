//go:build linux

package drain_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
	"github.com/lifeboat-dev/lifeboat/internal/testbed/faultproxy"
)

// faulty returns a fault proxy in front of the cluster and a drainer that
// talks through it.
func (e *env) faulty(obs drain.Observer) (*faultproxy.Proxy, *drain.Drainer) {
	e.t.Helper()
	p := faultproxy.New(e.t, e.c.Config)
	client, err := kube.NewForConfig(p.Config())
	if err != nil {
		e.t.Fatal(err)
	}
	return p, drain.New(client, drain.Config{Log: logging.Discard(), Observer: obs})
}

// daemonSet runs a DaemonSet pod on node and waits until it is Ready.
func (e *env) daemonSet(name, node string) {
	e.t.Helper()
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"kubernetes.io/hostname": node},
					Containers:   []corev1.Container{{Name: "a", Image: "agent"}},
				},
			},
		},
	}
	if _, err := e.c.Client.AppsV1().DaemonSets(e.ns).Create(e.ctx, ds, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.waitReady("app="+name, 1)
}

// mark reads lifeboat's mark on node, failing the test if there is none.
func (e *env) mark(node string) *drain.Mark {
	e.t.Helper()
	m, ok, err := drain.ReadMark(e.getNode(node))
	if err != nil || !ok {
		e.t.Fatalf("mark on %s = %+v, %v, %v; want one", node, m, ok, err)
	}
	return m
}

func noticeIDs(m *drain.Mark) []string {
	var out []string
	for _, n := range m.Notices {
		out = append(out, n.ID)
	}
	return out
}

// TestTransientAPIErrorsAreNotConsent: a 503 on any call the drain makes
// before it evicts (node GET, cordon PATCH, pod LIST, DaemonSet GET) is
// returned as the API error it is, never as a ConsentError; the node a
// notice had cordoned stays cordoned; the same drain retried succeeds.
func TestTransientAPIErrorsAreNotConsent(t *testing.T) {
	cases := []struct {
		name string
		rule func(e *env, node string) faultproxy.Rule
	}{
		{"node GET", func(_ *env, node string) faultproxy.Rule {
			return faultproxy.Rule{Match: faultproxy.Match{Method: "GET", Path: "^/api/v1/nodes/" + node + "$"}, Status: 503}
		}},
		{"cordon PATCH", func(_ *env, node string) faultproxy.Rule {
			return faultproxy.Rule{Match: faultproxy.Match{Method: "PATCH", Path: "^/api/v1/nodes/" + node + "$"}, Status: 503}
		}},
		{"pod LIST", func(*env, string) faultproxy.Rule {
			return faultproxy.Rule{Match: faultproxy.Match{Method: "GET", Path: "^/api/v1/pods$", Query: "fieldSelector=spec.nodeName"}, Status: 503}
		}},
		{"DaemonSet GET", func(e *env, _ string) faultproxy.Rule {
			return faultproxy.Rule{Match: faultproxy.Match{Method: "GET", Path: "^/apis/apps/v1/namespaces/" + e.ns + "/daemonsets/"}, Status: 503}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			node := e.node()
			e.daemonSet("agent", node)
			e.pod(testbed.Pod(e.ns, "bare", node, func(p *corev1.Pod) { p.Annotations = map[string]string{"pod-delete.stage.kwok.x-k8s.io/delay": "0s"} }))
			// A spot notice has already cordoned the node.
			if _, err := e.drainer(nil).Cordon(e.ctx, node, drain.Options{NoticeID: "aws-spot/1", NoticeKind: "spot-interruption", Reason: "spot"}); err != nil {
				t.Fatal(err)
			}
			p, d := e.faulty(nil)
			rule := p.Inject(tc.rule(e, node))
			opts := drain.Options{GracePeriodSeconds: -1, NoticeID: "aws-spot/2", Reason: "spot again", Deadline: time.Now().Add(2 * time.Minute)}
			start := time.Now()
			_, err := d.Drain(e.ctx, node, opts)
			var ce *drain.ConsentError
			var ie *drain.IncompleteError
			switch {
			case err == nil:
				t.Fatal("the drain succeeded through a 503")
			case errors.As(err, &ce), errors.As(err, &ie):
				t.Fatalf("err = %v (%T); want the API error", err, err)
			}
			t.Logf("failed after %s with: %v (rule hits %d)", time.Since(start).Round(time.Millisecond), err, rule.Hits())
			if rule.Hits() == 0 {
				t.Error("the fault rule never matched")
			}
			n := e.getNode(node)
			if !n.Spec.Unschedulable {
				t.Error("a transient API error uncordoned the node")
			}
			if _, ok := e.mark(node).Notice("aws-spot/1"); !ok {
				t.Errorf("the spot notice's entry is gone: %v", noticeIDs(e.mark(node)))
			}
			if got := len(e.podsOn(node)); got != 2 {
				t.Errorf("%d pods on the node after the failed drain, want 2 (nothing evicted)", got)
			}
			p.Clear()
			res, err := d.Drain(e.ctx, node, drain.Options{GracePeriodSeconds: -1, Force: true, NoticeID: "aws-spot/2", Deadline: time.Now().Add(2 * time.Minute)})
			if err != nil || res.Evicted != 1 {
				t.Fatalf("retried drain: %+v, %v; want the bare pod evicted", res, err)
			}
			if got := noticeIDs(e.mark(node)); !reflect.DeepEqual(got, []string{"aws-spot/1", "aws-spot/2"}) {
				t.Errorf("notices after the retry = %v, want both", got)
			}
		})
	}
}

// TestEvictionConflictIsRetried: a 409 from the eviction subresource (the
// API server's answer after too many PDB status update conflicts) is not
// "gone": the eviction is retried while the pod exists.
func TestEvictionConflictIsRetried(t *testing.T) {
	e := newEnv(t)
	node := e.node()
	for i := range 3 {
		e.pod(testbed.Pod(e.ns, fmt.Sprintf("web-%d", i), node))
	}
	p, d := e.faulty(nil)
	rule := p.Inject(faultproxy.Rule{
		Match:  faultproxy.Match{Method: "POST", Path: "^/api/v1/namespaces/" + e.ns + "/pods/[^/]+/eviction$"},
		Status: 409, Times: 4,
	})
	res, err := d.Drain(e.ctx, node, drain.Options{GracePeriodSeconds: -1, Force: true})
	if err != nil {
		t.Fatalf("drain: %v (%+v)", err, res)
	}
	if res.Evicted != 3 || !res.Complete() || rule.Hits() != 4 {
		t.Errorf("evicted %d, left %v, 409s answered %d; want 3 evicted after 4 conflicts", res.Evicted, res.Left, rule.Hits())
	}
	if got := len(e.podsOn(node)); got != 0 {
		t.Errorf("%d pods still on the node", got)
	}
}

// blockedDB runs n pods of app "db" on node behind a PDB that allows no
// disruption; each pod takes its whole grace period to stop.
func (e *env) blockedDB(n int32, grace int64) {
	e.t.Helper()
	e.deployment("db", n, func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.TerminationGracePeriodSeconds = &grace
		d.Spec.Template.Annotations = map[string]string{"lifeboat.dev/test-shutdown": "full-grace"}
	})
	e.pdb("db", "db", 0)
}

// checkFallback asserts a drain that had to fall back met its deadline.
func (e *env) checkFallback(res *drain.Result, err error, deleted *deletionWatcher, deadline time.Time, want int) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("drain: %v (%+v)", err, res)
	}
	if res.Fallbacks != want {
		e.t.Errorf("fallbacks = %d, want %d", res.Fallbacks, want)
	}
	if late := time.Since(deadline); late > time.Second {
		e.t.Errorf("drain ended %s after the deadline", late)
	}
	got := deleted.get()
	for name, d := range got {
		if d.grace < 1 || d.deletionTimestamp.After(deadline) {
			e.t.Errorf("pod %s: grace %ds ending %s, deadline %s", name, d.grace, d.deletionTimestamp, deadline)
		}
	}
	if len(got) != want {
		e.t.Errorf("saw %d graceful deletions, want %d", len(got), want)
	}
}

// TestSlowCallsCannotHideTheFallback: the API server answers every
// eviction 429 with Retry-After: 10 (client-go would retry each call for up
// to 100 s on its own), or does not answer at all. The per-call timeout
// ends each call at the pod's fallback point, so the fallback still happens
// before a 20 s deadline.
func TestSlowCallsCannotHideTheFallback(t *testing.T) {
	cases := []struct {
		name string
		rule faultproxy.Rule
	}{
		{"429 with Retry-After 10", faultproxy.Rule{Status: 429, RetryAfter: "10"}},
		{"stalled for a minute", faultproxy.Rule{Stall: time.Minute, Status: 503}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			node := e.node()
			e.blockedDB(2, 3)
			deleted := e.watchDeletions("app=db")
			p, d := e.faulty(nil)
			tc.rule.Match = faultproxy.Match{Method: "POST", Path: "/pods/[^/]+/eviction$"}
			rule := p.Inject(tc.rule)
			deadline := time.Now().Add(20 * time.Second)
			res, err := d.Drain(e.ctx, node, drain.Options{GracePeriodSeconds: -1, Deadline: deadline})
			e.checkFallback(res, err, deleted, deadline, 2)
			t.Logf("evictions the rule answered: %d; drain took %s", rule.Hits(), res.Duration.Round(time.Millisecond))
		})
	}
}

// TestForbiddenPDBWatchStillFallsBack: a drainer that may not list or watch
// PodDisruptionBudgets still retries blocked evictions on its timer and
// still falls back before the deadline.
func TestForbiddenPDBWatchStillFallsBack(t *testing.T) {
	e := newEnv(t)
	node := e.node()
	e.blockedDB(2, 2)
	deleted := e.watchDeletions("app=db")
	rec := &recorder{}
	p, d := e.faulty(rec)
	rule := p.Inject(faultproxy.Rule{Match: faultproxy.Match{Method: "GET", Path: "^/apis/policy/v1/poddisruptionbudgets$"}, Status: 403})
	deadline := time.Now().Add(15 * time.Second)
	res, err := d.Drain(e.ctx, node, drain.Options{GracePeriodSeconds: -1, Deadline: deadline})
	e.checkFallback(res, err, deleted, deadline, 2)
	if rule.Hits() == 0 {
		t.Error("the drain never tried to watch PodDisruptionBudgets")
	}
	if len(rec.of(drain.StepPodBlocked)) == 0 {
		t.Error("no PodBlockedByPDB event")
	}
}

// TestFailedFallbackDeleteIsRetried: a 503 on the first fallback DELETE is
// retried with the grace period that still fits.
func TestFailedFallbackDeleteIsRetried(t *testing.T) {
	e := newEnv(t)
	node := e.node()
	e.blockedDB(2, 2)
	deleted := e.watchDeletions("app=db")
	p, d := e.faulty(nil)
	rule := p.Inject(faultproxy.Rule{Match: faultproxy.Match{Method: "DELETE", Path: "^/api/v1/namespaces/" + e.ns + "/pods/"}, Status: 503, Times: 1})
	deadline := time.Now().Add(12 * time.Second)
	res, err := d.Drain(e.ctx, node, drain.Options{GracePeriodSeconds: -1, Deadline: deadline})
	e.checkFallback(res, err, deleted, deadline, 2)
	if rule.Hits() != 1 {
		t.Errorf("the failing DELETE rule acted %d times, want 1", rule.Hits())
	}
}

// TestConsentRefusalKeepsAnotherNoticesCordon (D5): `lifeboat drain`
// without --force on a node a notice has cordoned refuses, and leaves the
// node exactly as it found it: cordoned, the notice's entry and taint in
// place, no entry of its own.
func TestConsentRefusalKeepsAnotherNoticesCordon(t *testing.T) {
	e := newEnv(t)
	node := e.node()
	e.pod(testbed.Pod(e.ns, "bare", node))
	d := e.drainer(nil)
	taint := &corev1.Taint{Key: "lifeboat.dev/draining", Value: "spot", Effect: corev1.TaintEffectNoSchedule}
	if _, err := d.Cordon(e.ctx, node, drain.Options{NoticeID: "aws-spot/1", Reason: "spot", Taint: taint, ExcludeFromLoadBalancers: true}); err != nil {
		t.Fatal(err)
	}
	before := e.getNode(node)
	res, err := d.Drain(e.ctx, node, drain.Options{GracePeriodSeconds: -1, Reason: "lifeboat drain", NoticeKind: "manual", ExcludeFromLoadBalancers: true})
	var ce *drain.ConsentError
	if !errors.As(err, &ce) || res.Cordoned {
		t.Fatalf("drain = %+v, %v; want a ConsentError and Cordoned=false", res, err)
	}
	after := e.getNode(node)
	if !after.Spec.Unschedulable || after.Labels[drain.LabelExcludeFromLB] != "true" {
		t.Error("the refused drain undid the spot notice's cordon or label")
	}
	if a, b := after.Annotations[drain.AnnotationCordon], before.Annotations[drain.AnnotationCordon]; a != b {
		t.Errorf("mark changed by the refused drain:\n got %s\nwant %s", a, b)
	}
	if !reflect.DeepEqual(withoutControllerTaints(after.Spec.Taints), withoutControllerTaints(before.Spec.Taints)) {
		t.Errorf("taints changed: %v -> %v", before.Spec.Taints, after.Spec.Taints)
	}
}

// TestOverlappingMarks: Cordon(A), Taint(B), Release(A) undoes the cordon
// (B is taint-only) and keeps the taints; Release(B) removes everything
// lifeboat did. An admin's cordon is never undone.
func TestOverlappingMarks(t *testing.T) {
	for _, admin := range []bool{false, true} {
		t.Run(fmt.Sprintf("admin cordon %v", admin), func(t *testing.T) {
			e := newEnv(t)
			node := e.node(func(n *corev1.Node) { n.Spec.Unschedulable = admin })
			d := e.drainer(nil)
			drainTaint := &corev1.Taint{Key: "lifeboat.dev/draining", Value: "reboot", Effect: corev1.TaintEffectNoSchedule}
			atRisk := &corev1.Taint{Key: drain.TaintAtRisk, Value: "true", Effect: corev1.TaintEffectPreferNoSchedule}
			if _, err := d.Cordon(e.ctx, node, drain.Options{NoticeID: "A", Reason: "reboot", Taint: drainTaint, ExcludeFromLoadBalancers: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Taint(e.ctx, node, drain.Options{NoticeID: "B", Reason: "rebalance", Taint: atRisk}); err != nil {
				t.Fatal(err)
			}
			left, err := d.Release(e.ctx, node, "A")
			if err != nil || left == nil || !reflect.DeepEqual(noticeIDs(left), []string{"B"}) {
				t.Fatalf("Release(A) = %+v, %v; want B left", left, err)
			}
			n := e.getNode(node)
			if n.Spec.Unschedulable != admin {
				t.Errorf("after Release(A) unschedulable = %v, want %v", n.Spec.Unschedulable, admin)
			}
			if _, ok := n.Labels[drain.LabelExcludeFromLB]; ok {
				t.Error("after Release(A) the load-balancer label is still there")
			}
			if got := taintKeys(withoutControllerTaints(n.Spec.Taints)); !reflect.DeepEqual(got, []string{drainTaint.Key, drain.TaintAtRisk}) {
				t.Errorf("after Release(A) taints = %v, want both kept while B is in force", got)
			}
			left, err = d.Release(e.ctx, node, "B")
			if err != nil || left != nil {
				t.Fatalf("Release(B) = %+v, %v; want nothing left", left, err)
			}
			n = e.getNode(node)
			if n.Spec.Unschedulable != admin || len(withoutControllerTaints(n.Spec.Taints)) != 0 || n.Annotations[drain.AnnotationCordon] != "" {
				t.Errorf("after Release(B): unschedulable=%v taints=%v mark=%q", n.Spec.Unschedulable, n.Spec.Taints, n.Annotations[drain.AnnotationCordon])
			}
		})
	}
}

func taintKeys(ts []corev1.Taint) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Key)
	}
	return out
}

// TestMaxConcurrencyBoundsRequestsNotWaiting (E6): with one request in
// flight at a time, neither a pod blocked by a PDB nor a pod that takes
// 5 s to stop holds the slot: every eviction is sent within moments.
func TestMaxConcurrencyBoundsRequestsNotWaiting(t *testing.T) {
	e := newEnv(t)
	node := e.node()
	e.blockedDB(1, 2)
	slow := map[string]string{"pod-delete.stage.kwok.x-k8s.io/delay": "5s"}
	for i := range 3 {
		e.pod(testbed.Pod(e.ns, fmt.Sprintf("bare-%d", i), node, func(p *corev1.Pod) { p.Annotations = slow }))
	}
	rec := &recorder{}
	deadline := time.Now().Add(20 * time.Second)
	res, err := e.drainer(rec).Drain(e.ctx, node, drain.Options{GracePeriodSeconds: -1, Force: true, MaxConcurrency: 1, Deadline: deadline})
	if err != nil {
		t.Fatalf("drain: %v (%+v)", err, res)
	}
	started := rec.of(drain.StepDrainStarted)
	evicted := rec.of(drain.StepPodEvicted)
	if len(started) != 1 || len(evicted) != 3 {
		t.Fatalf("%d drain starts, %d evictions; want 1 and the 3 bare pods", len(started), len(evicted))
	}
	for _, ev := range evicted {
		// Holding the slot while a pod stops would space them 5 s apart;
		// holding it while blocked would delay them to the fallback point.
		if after := ev.Time.Sub(started[0].Time); after > 4*time.Second {
			t.Errorf("%s evicted %s after the drain started", ev.Pod, after)
		}
	}
	if res.Fallbacks != 1 {
		t.Errorf("fallbacks = %d, want 1 (the PDB-blocked pod)", res.Fallbacks)
	}
}

// TestLateBindingIsDrainedBeforeNodeDelete (E4): a pod bound to the node
// after the drain chose its pods is found in the drain's watch and evicted
// before the Node is deleted.
func TestLateBindingIsDrainedBeforeNodeDelete(t *testing.T) {
	e := newEnv(t)
	node := e.node()
	e.pod(testbed.Pod(e.ns, "first", node, func(p *corev1.Pod) {
		p.Annotations = map[string]string{"pod-delete.stage.kwok.x-k8s.io/delay": "3s"}
	}))
	rec := &recorder{}
	created := make(chan error, 1)
	obs := drain.Observers{rec, drain.ObserverFunc(func(ev drain.Step) {
		if ev.Type == drain.StepPodEvicted && ev.Pod == e.ns+"/first" {
			go func() {
				_, err := e.c.Client.CoreV1().Pods(e.ns).Create(e.ctx, testbed.Pod(e.ns, "late", node), metav1.CreateOptions{})
				created <- err
			}()
		}
	})}
	res, err := e.drainer(obs).Drain(e.ctx, node, drain.Options{GracePeriodSeconds: -1, Force: true, DeleteNode: true})
	if cerr := <-created; cerr != nil {
		t.Fatal(cerr)
	}
	if err != nil || !res.NodeDeleted {
		t.Fatalf("drain: %+v, %v", res, err)
	}
	var evicted []string
	for _, ev := range rec.of(drain.StepPodEvicted) {
		evicted = append(evicted, ev.Pod)
	}
	if want := []string{e.ns + "/first", e.ns + "/late"}; !reflect.DeepEqual(evicted, want) || res.Pods != 2 {
		t.Errorf("evicted %v (pods %d), want %v: the late pod must go before the Node", evicted, res.Pods, want)
	}
}

// TestAPIServerOutageMidDrain: kube-apiserver is killed while PDB-blocked
// evictions wait and comes back 15 s later. The drain rides it out: the
// node stays cordoned, and the blocked pods still fall back before the
// deadline with grace periods that end before it.
func TestAPIServerOutageMidDrain(t *testing.T) {
	c := testbed.StartIsolated(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	e := &env{t: t, c: c, ns: c.Namespace(t), pool: testbed.UniqueName("pool"), ctx: ctx}
	node := e.node()
	e.blockedDB(2, 3)
	blocked := make(chan struct{}, 2)
	rec := &recorder{}
	obs := drain.Observers{rec, drain.ObserverFunc(func(ev drain.Step) {
		if ev.Type == drain.StepPodBlocked {
			select {
			case blocked <- struct{}{}:
			default:
			}
		}
	})}
	deadline := time.Now().Add(45 * time.Second)
	type outcome struct {
		res *drain.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := e.drainer(obs).Drain(ctx, node, drain.Options{GracePeriodSeconds: -1, Deadline: deadline})
		done <- outcome{res, err}
	}()
	for range 2 {
		select {
		case <-blocked:
		case <-time.After(30 * time.Second):
			t.Fatal("the evictions were never blocked by the PDB")
		}
	}
	c.KillAPIServer(t)
	time.Sleep(15 * time.Second) // the outage itself, not an assertion
	c.StartAPIServer(t)
	t.Logf("API server back %s before the deadline", time.Until(deadline).Round(time.Second))
	got := <-done
	if got.res == nil || got.res.Fallbacks != 2 {
		t.Fatalf("drain: %+v, %v; want 2 fallbacks", got.res, got.err)
	}
	// The engine's part ends with the fallback deletions, whose grace ends
	// before the deadline (checked below). On a loaded machine the freshly
	// restarted kwok may remove the pods a moment after their grace ends:
	// then they are left "still terminating", never anything else.
	if got.err != nil {
		var inc *drain.IncompleteError
		if !errors.As(got.err, &inc) {
			t.Fatalf("drain: %v; want success or pods left terminating after their fallback", got.err)
		}
		for _, p := range inc.Left {
			if p.Reason != "still terminating" {
				t.Fatalf("drain: %v; pod %s left as %q, want only pods terminating after their fallback", got.err, p, p.Reason)
			}
		}
		t.Logf("kwok removed the pods after the deadline (loaded machine): %v", got.err)
	}
	if late := time.Since(deadline); late > time.Second {
		t.Errorf("drain ended %s after the deadline", late)
	}
	// The test's own watches died with the API server: judge the grace
	// periods by the drain's events.
	for _, ev := range rec.of(drain.StepDeadlineFallback) {
		if end := ev.Time.Add(time.Duration(ev.GracePeriodSeconds) * time.Second); ev.GracePeriodSeconds < 1 || end.After(deadline) {
			t.Errorf("%s: fallback with a %ds grace period ending %s, deadline %s", ev.Pod, ev.GracePeriodSeconds, end, deadline)
		}
	}
	if !e.getNode(node).Spec.Unschedulable {
		t.Error("the node was uncordoned")
	}
	// The fallback deletions were sent with a grace period; kwok, restarted
	// with the API server, removes the pods when it catches up.
	e.c.Eventually(t, 60*time.Second, func() (bool, error) { return len(e.podsOn(node)) == 0, nil })
}
