//go:build linux

package drain_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

func readyIn(delay string) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) {
		d.Spec.Template.Annotations = map[string]string{"pod-ready.stage.kwok.x-k8s.io/delay": delay}
	}
}

func TestDrainRespectsPDBsAndSkipsDaemonSetAndMirrorPods(t *testing.T) {
	e := newEnv(t)
	node := e.node()
	e.deployment("web", 4, readyIn("1s"))
	e.pdb("web", "web", 1)
	// A DaemonSet pod and a mirror pod stay on the node.
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"kubernetes.io/hostname": node},
					Containers:   []corev1.Container{{Name: "a", Image: "agent"}},
				},
			},
		},
	}
	if _, err := e.c.Client.AppsV1().DaemonSets(e.ns).Create(e.ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitReady("app=agent", 1)
	n := e.getNode(node)
	mirror := testbed.Pod(e.ns, "static-"+node, node, func(p *corev1.Pod) {
		p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "hash"}
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node, UID: n.UID, Controller: ptr(true)}}
	})
	e.pod(mirror)
	spare := e.node()

	w := e.watchReady("app=web")
	rec := &recorder{}
	res, err := e.drainer(rec).Drain(e.ctx, node, drain.Options{GracePeriodSeconds: -1})
	minReady := w.minimum()
	if err != nil {
		t.Fatalf("drain: %v", err)
	}
	if minReady < 3 {
		t.Errorf("PDB exceeded: Ready pods of a 4-replica Deployment with maxUnavailable=1 dropped to %d", minReady)
	}
	if res.Pods != 4 || res.Evicted != 4 || !res.Complete() {
		t.Errorf("result = %+v, want 4 pods evicted and none left", res)
	}
	left := map[string]bool{}
	for _, p := range e.podsOn(node) {
		left[p.Labels["app"]+"/"+p.Name] = true
		if p.Labels["app"] == "web" {
			t.Errorf("web pod %s still on the drained node", p.Name)
		}
	}
	if len(left) != 2 {
		t.Errorf("pods left on node = %v, want the DaemonSet pod and the mirror pod", left)
	}
	skipped := ""
	for _, s := range res.Skipped {
		skipped += s.String() + ": " + s.Reason + "; "
	}
	if !strings.Contains(skipped, "DaemonSet") || !strings.Contains(skipped, "mirror pod") {
		t.Errorf("skipped = %s, want the DaemonSet and mirror pods with reasons", skipped)
	}
	if got := len(e.podsOn(spare)); got != 4 {
		t.Errorf("spare node runs %d web pods, want 4", got)
	}
	if len(rec.of(drain.StepPodBlocked)) == 0 {
		t.Errorf("no %s event: with maxUnavailable=1 some evictions must have waited", drain.StepPodBlocked)
	}
	mark, ok, err := drain.ReadMark(e.getNode(node))
	if err != nil || !ok || !mark.Unschedulable {
		t.Errorf("node mark = %+v, %v, %v; want lifeboat's cordon recorded", mark, ok, err)
	}
}

func TestConsentFlags(t *testing.T) {
	e := newEnv(t)
	node := e.node()
	e.pod(testbed.Pod(e.ns, "bare", node))
	e.pod(testbed.Pod(e.ns, "scratch", node, func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	}))
	d := e.drainer(nil)
	cases := []struct {
		name     string
		opts     drain.Options
		wantFlag []string
	}{
		{"no consent", drain.Options{GracePeriodSeconds: -1}, []string{"--force", "--delete-emptydir-data"}},
		{"force only", drain.Options{GracePeriodSeconds: -1, Force: true}, []string{"--delete-emptydir-data"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Drain(e.ctx, node, tc.opts)
			var ce *drain.ConsentError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *drain.ConsentError", err)
			}
			for _, f := range tc.wantFlag {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error %q does not name %s", err, f)
				}
			}
			if got := len(e.podsOn(node)); got != 2 {
				t.Errorf("%d pods on node after a refused drain, want 2 (nothing evicted)", got)
			}
			if n := e.getNode(node); n.Spec.Unschedulable || n.Annotations[drain.AnnotationCordon] != "" {
				t.Error("a refused drain left the node cordoned")
			}
		})
	}
	res, err := d.Drain(e.ctx, node, drain.Options{GracePeriodSeconds: -1, Force: true, DeleteEmptyDirData: true})
	if err != nil || res.Evicted != 2 {
		t.Fatalf("drain with consent: %+v, %v", res, err)
	}
}

// TestDeadlineFallback: pods whose PDB never allows a disruption are deleted
// when waiting longer would cost them their grace period, and every grace
// period ends before the deadline.
func TestDeadlineFallback(t *testing.T) {
	cases := []struct {
		name      string
		grace     int64
		deadline  time.Duration
		wantGrace int64 // minimum grace period each pod must get
	}{
		{"own grace fits", 4, 12 * time.Second, 4},
		{"grace capped to fit", 60, 9 * time.Second, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			node := e.node()
			e.deployment("db", 3, func(d *appsv1.Deployment) {
				d.Spec.Template.Spec.TerminationGracePeriodSeconds = &tc.grace
				d.Spec.Template.Annotations = map[string]string{"lifeboat.dev/test-shutdown": "full-grace"}
			})
			e.pdb("db", "db", 0)
			deleted := e.watchDeletions("app=db")
			deadline := time.Now().Add(tc.deadline)
			rec := &recorder{}
			opts := drain.Options{GracePeriodSeconds: -1, Deadline: deadline, NoticeID: "spot/1", NoticeKind: "spot-interruption"}
			res, err := e.drainer(rec).Drain(e.ctx, node, opts)
			if err != nil {
				t.Fatalf("drain: %v (result %+v)", err, res)
			}
			if res.Fallbacks != 3 || len(rec.of(drain.StepDeadlineFallback)) != 3 {
				t.Errorf("fallbacks = %d (events %d), want 3", res.Fallbacks, len(rec.of(drain.StepDeadlineFallback)))
			}
			checkFallbackSteps(t, rec, opts)
			for name, d := range deleted.get() {
				if d.grace < tc.wantGrace {
					t.Errorf("pod %s got a %ds grace period, want at least %ds", name, d.grace, tc.wantGrace)
				}
				if d.deletionTimestamp.After(deadline) {
					t.Errorf("pod %s grace period ends %s, after the deadline %s", name, d.deletionTimestamp, deadline)
				}
			}
			if len(deleted.get()) != 3 {
				t.Errorf("saw %d graceful deletions, want 3", len(deleted.get()))
			}
			if time.Now().After(deadline.Add(time.Second)) {
				t.Errorf("drain finished %s after the deadline", time.Since(deadline))
			}
		})
	}
}

func TestDeadlineAbortNeverExceedsPDB(t *testing.T) {
	e := newEnv(t)
	node := e.node()
	e.deployment("db", 2)
	e.pdb("db", "db", 0)
	e.node() // a spare node: replacements could run, but the PDB forbids any disruption
	res, err := e.drainer(nil).Drain(e.ctx, node, drain.Options{GracePeriodSeconds: -1, Deadline: time.Now().Add(4 * time.Second), OnDeadline: drain.OnDeadlineAbort})
	var ie *drain.IncompleteError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want *drain.IncompleteError", err)
	}
	if len(ie.Left) != 2 || !strings.Contains(ie.Left[0].Reason, "PDB") {
		t.Errorf("left = %+v, want 2 pods blocked by the PDB", ie.Left)
	}
	if res.Fallbacks != 0 || len(e.podsOn(node)) != 2 {
		t.Errorf("abort policy deleted pods: fallbacks=%d, pods on node=%d", res.Fallbacks, len(e.podsOn(node)))
	}
	// Relax the budget: a second run continues the half-done drain.
	b, err := e.c.Client.PolicyV1().PodDisruptionBudgets(e.ns).Get(e.ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b.Spec.MaxUnavailable = ptrIntOrString(1)
	if _, err := e.c.Client.PolicyV1().PodDisruptionBudgets(e.ns).Update(e.ctx, b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err = e.drainer(nil).Drain(e.ctx, node, drain.Options{GracePeriodSeconds: -1})
	if err != nil || res.Evicted != 2 || res.Cordoned {
		t.Fatalf("re-run: %+v, %v; want both pods evicted, node already cordoned", res, err)
	}
	// A third run on the drained node is a fast no-op.
	start := time.Now()
	res, err = e.drainer(nil).Drain(e.ctx, node, drain.Options{GracePeriodSeconds: -1})
	if err != nil || res.Pods != 0 || res.Cordoned {
		t.Fatalf("no-op run: %+v, %v", res, err)
	}
	t.Logf("drain of an already drained node took %s", time.Since(start))
}

func TestAdminCordonIsNeverUndone(t *testing.T) {
	e := newEnv(t)
	admin := e.node(func(n *corev1.Node) { n.Spec.Unschedulable = true })
	d := e.drainer(nil)
	taint := &corev1.Taint{Key: "lifeboat.dev/draining", Value: "spot", Effect: corev1.TaintEffectNoSchedule}
	if _, err := d.Drain(e.ctx, admin, drain.Options{GracePeriodSeconds: -1, Taint: taint, ExcludeFromLoadBalancers: true}); err != nil {
		t.Fatal(err)
	}
	if changed, err := d.Uncordon(e.ctx, admin); err != nil || !changed {
		t.Fatalf("uncordon: %v, %v", changed, err)
	}
	n := e.getNode(admin)
	n.Spec.Taints = withoutControllerTaints(n.Spec.Taints)
	if !n.Spec.Unschedulable {
		t.Error("lifeboat uncordoned a node an admin had cordoned")
	}
	if len(n.Spec.Taints) != 0 || n.Labels[drain.LabelExcludeFromLB] != "" || n.Annotations[drain.AnnotationCordon] != "" {
		t.Errorf("lifeboat's own taint/label/mark not removed: taints=%v labels=%v", n.Spec.Taints, n.Labels)
	}

	ours := e.node(func(n *corev1.Node) {
		n.Spec.Taints = []corev1.Taint{{Key: "team", Value: "x", Effect: corev1.TaintEffectNoSchedule}}
		n.Labels[drain.LabelExcludeFromLB] = "admin"
	})
	if _, err := d.Cordon(e.ctx, ours, drain.Options{Taint: taint, ExcludeFromLoadBalancers: true, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Uncordon(e.ctx, ours); err != nil {
		t.Fatal(err)
	}
	n = e.getNode(ours)
	n.Spec.Taints = withoutControllerTaints(n.Spec.Taints)
	if n.Spec.Unschedulable {
		t.Error("lifeboat's own cordon was not undone")
	}
	if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != "team" || n.Labels[drain.LabelExcludeFromLB] != "admin" {
		t.Errorf("uncordon touched what it did not add: taints=%v label=%q", n.Spec.Taints, n.Labels[drain.LabelExcludeFromLB])
	}
	if changed, err := d.Uncordon(e.ctx, ours); err != nil || changed {
		t.Errorf("second uncordon = %v, %v; want a no-op", changed, err)
	}
}

func TestMissingNodeAndNodeDeletion(t *testing.T) {
	e := newEnv(t)
	d := e.drainer(nil)
	_, err := d.Drain(e.ctx, "no-such-node", drain.Options{GracePeriodSeconds: -1})
	var nf *drain.NodeNotFoundError
	if !errors.As(err, &nf) || nf.Node != "no-such-node" {
		t.Fatalf("err = %v, want *drain.NodeNotFoundError", err)
	}
	res, err := d.Drain(e.ctx, "no-such-node", drain.Options{GracePeriodSeconds: -1, IgnoreMissing: true})
	if err != nil || !res.Missing {
		t.Fatalf("ignore-missing: %+v, %v", res, err)
	}
	node := e.node()
	e.pod(testbed.Pod(e.ns, "bare", node))
	res, err = d.Drain(e.ctx, node, drain.Options{GracePeriodSeconds: -1, Force: true, DeleteNode: true})
	if err != nil || !res.NodeDeleted {
		t.Fatalf("drain --delete-node: %+v, %v", res, err)
	}
	if _, err := e.c.Client.CoreV1().Nodes().Get(e.ctx, node, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("node still exists after --delete-node: %v", err)
	}
}

func TestGracefulShutdownLeftoversRemoved(t *testing.T) {
	e := newEnv(t)
	node := e.node()
	for i, reason := range []string{"Terminated", "NodeShutdown"} {
		p := e.pod(testbed.Pod(e.ns, fmt.Sprintf("left-%d", i), node))
		e.c.Eventually(t, 30*time.Second, func() (bool, error) { // let kwok finish starting it first
			got, err := e.c.Client.CoreV1().Pods(e.ns).Get(e.ctx, p.Name, metav1.GetOptions{})
			p = got
			return err == nil && testbed.PodReady(got), err
		})
		p.Status.Phase = corev1.PodFailed
		p.Status.Reason = reason
		p.Status.Message = "Pod was terminated in response to imminent node shutdown."
		if _, err := e.c.Client.CoreV1().Pods(e.ns).UpdateStatus(e.ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e.c.Eventually(t, 30*time.Second, func() (bool, error) {
		l := e.podsOn(node)
		return len(l) == 2 && l[0].Status.Phase == corev1.PodFailed && l[1].Status.Phase == corev1.PodFailed, nil
	})
	res, err := e.drainer(nil).Drain(e.ctx, node, drain.Options{GracePeriodSeconds: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.LeftoversRemoved != 2 {
		t.Errorf("leftovers removed = %d, want 2", res.LeftoversRemoved)
	}
	e.c.Eventually(t, 30*time.Second, func() (bool, error) { return len(e.podsOn(node)) == 0, nil })
}

func TestDryRunWritesNothing(t *testing.T) {
	e := newEnv(t)
	node := e.node()
	e.deployment("web", 2)
	e.pdb("web", "web", 1)
	before := e.getNode(node).ResourceVersion
	res, err := e.drainer(nil).Drain(e.ctx, node, drain.Options{GracePeriodSeconds: -1, DryRun: true, DeleteNode: true})
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(res.Plan, "\n")
	for _, want := range []string{"cordon node " + node, "evict " + e.ns + "/web-", "PDB " + e.ns + "/web allows 1", "delete node " + node} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	if after := e.getNode(node); after.ResourceVersion != before || after.Spec.Unschedulable {
		t.Error("dry run changed the node")
	}
	if got := len(e.podsOn(node)); got != 2 {
		t.Errorf("dry run removed pods: %d left", got)
	}
}

func TestCriticalAndLastPodsGoLast(t *testing.T) {
	e := newEnv(t)
	node := e.node()
	slow := map[string]string{"pod-delete.stage.kwok.x-k8s.io/delay": "1s"}
	ordinary := e.pod(testbed.Pod(e.ns, "ordinary", node, func(p *corev1.Pod) { p.Annotations = slow }))
	e.pod(testbed.Pod(e.ns, "late", node, func(p *corev1.Pod) {
		p.Annotations = map[string]string{"pod-delete.stage.kwok.x-k8s.io/delay": "1s", drain.AnnotationEvict: "last"}
	}))
	e.pod(testbed.Pod(e.ns, "critical", node, func(p *corev1.Pod) { p.Spec.PriorityClassName = "system-cluster-critical" }))
	e.pod(testbed.Pod(e.ns, "pinned", node, func(p *corev1.Pod) { p.Annotations = map[string]string{drain.AnnotationEvict: "never"} }))
	rec := &recorder{}
	res, err := e.drainer(rec).Drain(e.ctx, node, drain.Options{GracePeriodSeconds: -1, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, ev := range rec.of(drain.StepPodEvicted) {
		order = append(order, strings.TrimPrefix(ev.Pod, e.ns+"/"))
		if ev.Pod == e.ns+"/ordinary" && ev.PodUID != ordinary.UID {
			t.Errorf("PodEvicted step for %s carries UID %q, want %q (Events on the pod need it)", ev.Pod, ev.PodUID, ordinary.UID)
		}
	}
	if strings.Join(order, ",") != "ordinary,late,critical" {
		t.Errorf("eviction order = %v, want ordinary, late, critical", order)
	}
	if len(res.Skipped) != 1 || res.Skipped[0].Name != "pinned" {
		t.Errorf("skipped = %v, want the pod annotated %s=never", res.Skipped, drain.AnnotationEvict)
	}
}

// withoutControllerTaints drops the taint the node lifecycle controller
// mirrors from spec.unschedulable; it follows the cordon asynchronously.
func withoutControllerTaints(ts []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range ts {
		if t.Key != corev1.TaintNodeUnschedulable {
			out = append(out, t)
		}
	}
	return out
}

func TestDeadlineAlreadyPassedStillStopsEveryPod(t *testing.T) {
	e := newEnv(t)
	node := e.node()
	e.deployment("db", 2)
	e.pdb("db", "db", 0)
	deleted := e.watchDeletions("app=db")
	res, err := e.drainer(nil).Drain(e.ctx, node, drain.Options{GracePeriodSeconds: -1, Deadline: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatalf("drain with a past deadline: %v (%+v)", err, res)
	}
	if res.Fallbacks != 2 {
		t.Errorf("fallbacks = %d, want 2", res.Fallbacks)
	}
	for name, d := range deleted.get() {
		if d.grace < 1 {
			t.Errorf("pod %s got no grace period at all", name)
		}
	}
}

// TestDrainStoppedByCallerIsNotAFailure: a drain the caller cancels (a more
// urgent notice takes over, the notice is withdrawn, a DaemonSet rollout) is
// not reported as DrainFailed; one that runs out of time is.
func TestDrainStoppedByCallerIsNotAFailure(t *testing.T) {
	e := newEnv(t)
	node := e.node()
	e.deployment("web", 2)
	e.pdb("web", "web", 0)
	rec := &recorder{}
	d := e.drainer(rec)
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() {
		_, err := d.Drain(ctx, node, drain.Options{GracePeriodSeconds: -1})
		done <- err
	}()
	e.c.Eventually(t, 30*time.Second, func() (bool, error) { return len(rec.of(drain.StepPodBlocked)) > 0, nil })
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a canceled drain returned no error")
	}
	if got := rec.of(drain.StepDrainFailed); len(got) != 0 {
		t.Errorf("a drain stopped by its caller was reported as failed: %+v", got[0].Message)
	}
	tctx, tcancel := context.WithTimeout(e.ctx, 2*time.Second)
	defer tcancel()
	if _, err := d.Drain(tctx, node, drain.Options{GracePeriodSeconds: -1}); err == nil {
		t.Fatal("a drain out of time returned no error")
	}
	if got := rec.of(drain.StepDrainFailed); len(got) != 1 {
		t.Errorf("a drain that ran out of time reported %d DrainFailed events, want 1", len(got))
	}
}

// checkFallbackSteps checks that the steps of a drain whose three pods all
// fell back carry the facts reporters need: the notice on every step, the
// fallback flag on each fallback deletion, exactly one first fallback, the
// time each pod was blocked, and the outcome.
func checkFallbackSteps(t *testing.T, rec *recorder, opts drain.Options) {
	t.Helper()
	rec.mu.Lock()
	steps := slices.Clone(rec.events)
	rec.mu.Unlock()
	first := 0
	for _, s := range steps {
		if s.NoticeID != opts.NoticeID || s.NoticeKind != opts.NoticeKind {
			t.Errorf("%s step carries notice %q/%q, want %q/%q", s.Type, s.NoticeID, s.NoticeKind, opts.NoticeID, opts.NoticeKind)
		}
		switch s.Type {
		case drain.StepDeadlineFallback:
			if !s.Fallback || s.PDB == "" {
				t.Errorf("DeadlineFallback step %+v lacks Fallback or PDB", s)
			}
			if s.Progress.Fallbacks == 1 {
				first++
			}
		case drain.StepPodDeleted:
			if !s.Fallback || s.BlockedFor <= 0 {
				t.Errorf("PodDeleted of %s: Fallback %v, BlockedFor %s; want a fallback that was blocked", s.Pod, s.Fallback, s.BlockedFor)
			}
		case drain.StepDrained:
			if s.Outcome != drain.OutcomeFallback {
				t.Errorf("Drained outcome = %q, want %q", s.Outcome, drain.OutcomeFallback)
			}
		}
	}
	if first != 1 {
		t.Errorf("%d DeadlineFallback steps have Progress.Fallbacks 1, want exactly one first", first)
	}
}
