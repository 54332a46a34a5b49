package kubeevents

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/kube/clientset"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/report"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ev(typ drain.StepType, pod string) drain.Step {
	return drain.Step{Type: typ, Time: t0, Node: "n1", Pod: pod}
}

func pod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: "n1"},
	}
}

// got is a recorded event, reduced to what users see.
type got struct {
	kind, ns, name, uid, typ, reason string
	count                            int32
}

func (g got) String() string {
	return fmt.Sprintf("%s %s/%s(%s) %s %s x%d", g.kind, g.ns, g.name, g.uid, g.typ, g.reason, g.count)
}

func listEvents(t *testing.T, c *fake.Clientset) ([]got, map[string]string) {
	t.Helper()
	list, err := c.CoreV1().Events("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []got
	msgs := map[string]string{}
	for _, e := range list.Items {
		o := e.InvolvedObject
		if e.Source.Component != DefaultComponent || e.ReportingController != DefaultComponent || e.Source.Host != "agent-1" {
			t.Errorf("event %s source = %+v / %s, want lifeboat on agent-1", e.Name, e.Source, e.ReportingController)
		}
		g := got{kind: o.Kind, ns: o.Namespace, name: o.Name, uid: string(o.UID), typ: e.Type, reason: e.Reason, count: e.Count}
		out = append(out, g)
		msgs[o.Kind+"/"+o.Name+"/"+e.Reason] = e.Message
	}
	slices.SortFunc(out, func(a, b got) int { return strings.Compare(a.String(), b.String()) })
	return out, msgs
}

func TestRecorderPutsNodeStepsOnTheNodeAndPodStepsOnThePods(t *testing.T) {
	client := fake.NewClientset(pod("shop", "web-0"), pod("shop", "web-1"), pod("db", "pg-0"), pod("db", "pg-1"), pod("batch", "job-x"))
	r := New(clientset.Wrap(client), Config{Host: "agent-1"})
	n := notice.Notice{ID: "spot/1", Source: "aws", Kind: notice.KindSpotInterruption, Node: "n1", Deadline: t0.Add(2 * time.Minute)}

	r.NoticeReceived(n)
	r.Observe(drain.Step{Type: drain.StepCordoned, Node: "n1", Message: "cordoned: spot interruption"})
	r.Observe(drain.Step{Type: drain.StepDrainStarted, Node: "n1", Progress: drain.Progress{Total: 4, Deadline: n.Deadline}})
	// The engine reports each pod's block once; the second pod blocked by
	// the same budget is reported on its pod only.
	b := ev(drain.StepPodBlocked, "db/pg-0")
	b.PDB, b.Progress.Blocked = "db/pg", map[string]string{"db/pg-0": "db/pg"}
	r.Observe(b)
	b2 := ev(drain.StepPodBlocked, "db/pg-1")
	b2.PDB, b2.Progress.Blocked = "db/pg", map[string]string{"db/pg-0": "db/pg", "db/pg-1": "db/pg"}
	r.Observe(b2)
	r.Observe(ev(drain.StepPodEvicted, "shop/web-0"))
	r.Observe(ev(drain.StepPodEvicted, "shop/web-1"))
	r.Observe(ev(drain.StepPodGone, "shop/web-0"))
	r.Observe(ev(drain.StepPodDeleted, "batch/job-x"))
	failed := ev(drain.StepEvictionFailed, "shop/web-1")
	failed.Err = errors.New("etcdserver: request timed out")
	r.Observe(failed)
	for i, p := range []string{"db/pg-0", "db/pg-1"} {
		fb := ev(drain.StepDeadlineFallback, p)
		fb.PDB, fb.Fallback, fb.GracePeriodSeconds, fb.Progress.Deadline, fb.Progress.Fallbacks = "db/pg", true, 8, n.Deadline, i+1
		r.Observe(fb)
		del := ev(drain.StepPodDeleted, p)
		del.Fallback, del.GracePeriodSeconds = true, 8
		r.Observe(del)
	}
	r.Observe(drain.Step{Type: drain.StepNodeDeleted, Node: "n1"})
	r.Observe(drain.Step{
		Type: drain.StepDrained, Node: "n1", Outcome: drain.OutcomeFallback,
		Result: &drain.Result{Pods: 5, Evicted: 2, Deleted: 3, Fallbacks: 2, Duration: 90 * time.Second},
	})
	r.Finished(n, report.Finish{Kind: report.FinishAcknowledged})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	events, msgs := listEvents(t, client)
	want := []got{
		{"Node", "", "n1", "n1", "Normal", "Acknowledged", 1},
		{"Node", "", "n1", "n1", "Normal", "Cordoned", 1},
		{"Node", "", "n1", "n1", "Normal", "DrainStarted", 1},
		{"Node", "", "n1", "n1", "Normal", "NodeDeleted", 1},
		{"Node", "", "n1", "n1", "Warning", "DeadlineFallback", 1},
		{"Node", "", "n1", "n1", "Warning", "Drained", 1},
		{"Node", "", "n1", "n1", "Warning", "NoticeReceived", 1},
		{"Node", "", "n1", "n1", "Warning", "PodBlockedByPDB", 1},
		{"Pod", "batch", "job-x", "uid-job-x", "Normal", "PodDeleted", 1},
		{"Pod", "db", "pg-0", "uid-pg-0", "Warning", "DeadlineFallback", 1},
		{"Pod", "db", "pg-0", "uid-pg-0", "Warning", "PodBlockedByPDB", 1},
		{"Pod", "db", "pg-0", "uid-pg-0", "Warning", "PodDeleted", 1},
		{"Pod", "db", "pg-1", "uid-pg-1", "Warning", "DeadlineFallback", 1},
		{"Pod", "db", "pg-1", "uid-pg-1", "Warning", "PodBlockedByPDB", 1},
		{"Pod", "db", "pg-1", "uid-pg-1", "Warning", "PodDeleted", 1},
		{"Pod", "shop", "web-0", "uid-web-0", "Normal", "PodEvicted", 1},
		{"Pod", "shop", "web-1", "uid-web-1", "Normal", "PodEvicted", 1},
		{"Pod", "shop", "web-1", "uid-web-1", "Warning", "EvictionFailed", 1},
	}
	slices.SortFunc(want, func(a, b got) int { return strings.Compare(a.String(), b.String()) })
	if !slices.Equal(events, want) {
		t.Errorf("events:\n%s\nwant:\n%s", join(events), join(want))
	}
	for key, sub := range map[string]string{
		"Node/n1/NoticeReceived":   "Notice spot/1 from aws: spot-interruption, deadline 2026-03-01T12:02:00Z",
		"Node/n1/PodBlockedByPDB":  "PodDisruptionBudget db/pg blocks the eviction of db/pg-0",
		"Pod/pg-0/PodBlockedByPDB": "Eviction blocked by PodDisruptionBudget db/pg",
		"Pod/pg-0/PodDeleted":      "8s grace period",
		"Node/n1/Drained":          "2 evicted, 3 deleted (2 by deadline fallback), 0 left, in 1m30s",
		"Pod/web-1/EvictionFailed": "etcdserver: request timed out",
		"Node/n1/Cordoned":         "cordoned: spot interruption",
	} {
		if !strings.Contains(msgs[key], sub) {
			t.Errorf("%s message = %q, want it to contain %q", key, msgs[key], sub)
		}
	}
}

func join(gs []got) string {
	var b strings.Builder
	for _, g := range gs {
		b.WriteString("  " + g.String() + "\n")
	}
	return b.String()
}

func TestFinishedDrainTypes(t *testing.T) {
	cases := []struct {
		name string
		e    drain.Step
		typ  string
	}{
		{"clean", drain.Step{Type: drain.StepDrained, Outcome: drain.OutcomeSucceeded, Result: &drain.Result{Evicted: 1}}, corev1.EventTypeNormal},
		{"fallback", drain.Step{Type: drain.StepDrained, Outcome: drain.OutcomeFallback, Result: &drain.Result{Fallbacks: 1}}, corev1.EventTypeWarning},
		{"incomplete", drain.Step{Type: drain.StepDrained, Outcome: drain.OutcomeIncomplete, Result: &drain.Result{Left: []drain.PodRef{{Name: "x"}}}}, corev1.EventTypeWarning},
		{"failed", drain.Step{Type: drain.StepDrainFailed, Outcome: drain.OutcomeFailed, Err: errors.New("boom")}, corev1.EventTypeWarning},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := finished(tc.e); got.eventType != tc.typ || got.reason != string(tc.e.Type) {
				t.Errorf("finished = %+v, want %s %s", got, tc.typ, tc.e.Type)
			}
		})
	}
}

func TestPodEventsWithoutThePodStillRecorded(t *testing.T) {
	client := fake.NewClientset()
	r := New(clientset.Wrap(client), Config{Host: "agent-1"})
	r.Observe(ev(drain.StepPodEvicted, "gone/p"))
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	events, _ := listEvents(t, client)
	if len(events) != 1 || events[0].uid != "" || events[0].name != "p" || events[0].ns != "gone" {
		t.Errorf("events = %v, want one PodEvicted on gone/p without a UID", events)
	}
}

func TestCanceledNotice(t *testing.T) {
	items := fromNotice(notice.Notice{ID: "e1", Source: "azure", Kind: notice.KindScheduledReboot, Node: "n1", Canceled: true})
	if len(items) != 1 || items[0].reason != string(drain.StepNoticeCanceled) || items[0].eventType != corev1.EventTypeNormal {
		t.Errorf("canceled notice = %+v, want one Normal NoticeCanceled", items)
	}
}

// TestFromStepIsAFunctionOfTheStep maps each step on its own: what is
// recorded, and where, follows from the step alone.
func TestFromStepIsAFunctionOfTheStep(t *testing.T) {
	blockedBy := func(pdb string, blocked map[string]string) drain.Step {
		e := ev(drain.StepPodBlocked, "db/pg-1")
		e.PDB, e.Progress.Blocked = pdb, blocked
		return e
	}
	nthFallback := func(n int) drain.Step {
		e := ev(drain.StepDeadlineFallback, "db/pg-1")
		e.PDB, e.Fallback, e.Progress.Fallbacks = "db/pg", true, n
		return e
	}
	deleted := ev(drain.StepPodDeleted, "db/pg-1")
	deleted.Fallback = true
	cases := []struct {
		name string
		step drain.Step
		want []string // "Kind Type Reason" of each Event, in order
	}{
		{"cordoned: the node", ev(drain.StepCordoned, ""), []string{"Node Normal Cordoned"}},
		{"pod gone: nothing", ev(drain.StepPodGone, "ns/a"), nil},
		{"dry run: what it would do, on the node", ev(drain.StepWouldDrain, ""), []string{"Node Normal WouldDrain"}},
		{"waiting for the drain budget: the node", ev(drain.StepWaitingForBudget, ""), []string{"Node Normal WaitingForDrainBudget"}},
		{"volumes still attached: a warning on the node", ev(drain.StepVolumesStillAttached, ""), []string{"Node Warning VolumesStillAttached"}},
		{"evicted: the pod", ev(drain.StepPodEvicted, "ns/a"), []string{"Pod Normal PodEvicted"}},
		{"finished pod deleted: Normal", ev(drain.StepPodDeleted, "ns/job"), []string{"Pod Normal PodDeleted"}},
		{"fallback deletion: Warning, told by the step", deleted, []string{"Pod Warning PodDeleted"}},
		{
			"a budget's first block: the pod and the node",
			blockedBy("db/pg", map[string]string{"db/pg-1": "db/pg"}),
			[]string{"Pod Warning PodBlockedByPDB", "Node Warning PodBlockedByPDB"},
		},
		{
			"a budget already blocking another pod: the pod only",
			blockedBy("db/pg", map[string]string{"db/pg-0": "db/pg", "db/pg-1": "db/pg"}),
			[]string{"Pod Warning PodBlockedByPDB"},
		},
		{
			"another budget blocking another pod: the node too",
			blockedBy("db/pg", map[string]string{"shop/web-0": "shop/web", "db/pg-1": "db/pg"}),
			[]string{"Pod Warning PodBlockedByPDB", "Node Warning PodBlockedByPDB"},
		},
		{"the first fallback: the pod and the node", nthFallback(1), []string{"Pod Warning DeadlineFallback", "Node Warning DeadlineFallback"}},
		{"a later fallback: the pod only", nthFallback(2), []string{"Pod Warning DeadlineFallback"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, it := range fromStep(tc.step) {
				kind := "Node"
				if it.pod != "" {
					kind = "Pod"
				}
				got = append(got, kind+" "+it.eventType+" "+it.reason)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("events = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFromFinish(t *testing.T) {
	n := notice.Notice{ID: "asg/1", Source: "sqs", Node: "n1"}
	cases := []struct {
		f      report.Finish
		reason string
		typ    string
	}{
		{report.Finish{Kind: report.FinishAcknowledged}, "Acknowledged", corev1.EventTypeNormal},
		{report.Finish{Kind: report.FinishHookCompleted, Result: "CONTINUE"}, "HookCompleted", corev1.EventTypeNormal},
		{report.Finish{Kind: report.FinishHookCompleted, Result: "ABANDON", Err: errors.New("gone")}, "HookCompleted", corev1.EventTypeWarning},
		{report.Finish{Kind: report.FinishReleased}, "Released", corev1.EventTypeNormal},
	}
	for _, tc := range cases {
		items := fromFinish(n, tc.f)
		if len(items) != 1 || items[0].reason != tc.reason || items[0].eventType != tc.typ || items[0].node != "n1" {
			t.Errorf("%+v: %+v, want one %s %s on n1", tc.f, items, tc.typ, tc.reason)
		}
	}
	if items := fromFinish(n, report.Finish{Kind: report.FinishDone}); len(items) != 0 {
		t.Errorf("FinishDone recorded %+v; the drain's steps already told it", items)
	}
	if items := fromFinish(notice.Notice{ID: "x"}, report.Finish{Kind: report.FinishReleased, Node: "n2"}); items[0].node != "n2" {
		t.Errorf("a notice without a node is recorded on Finish.Node: %+v", items)
	}
}

func TestTruncate(t *testing.T) {
	long := strings.Repeat("é", maxMessage)
	got := truncate(long)
	if len(got) > maxMessage || !strings.HasSuffix(got, "...") || !strings.HasPrefix(got, "éé") {
		t.Errorf("truncate: len %d, suffix %q", len(got), got[len(got)-5:])
	}
	if truncate("short") != "short" {
		t.Error("short messages must be kept")
	}
}

func TestCloseIsBoundedByItsContext(t *testing.T) {
	r := New(clientset.Wrap(fake.NewClientset()), Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- r.Close(ctx) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Close with a canceled context did not return")
	}
	r.Observe(ev(drain.StepCordoned, "")) // after Close: dropped, no panic
}

// TestPodEventsCarryTheStepsUID: a pod step's UID goes on the Event's
// reference without a lookup.
func TestPodEventsCarryTheStepsUID(t *testing.T) {
	items := fromStep(drain.Step{Type: drain.StepPodEvicted, Node: "n1", Pod: "shop/web-0", PodUID: "uid-1"})
	if len(items) != 1 || items[0].pod != "shop/web-0" || items[0].podUID != "uid-1" {
		t.Fatalf("items = %+v, want one pod event with UID uid-1", items)
	}
	client := fake.NewClientset() // no pods: a lookup would find nothing
	r := New(clientset.Wrap(client), Config{Host: "agent-1"})
	if ref := r.podRef(t.Context(), "shop/web-0", "uid-1"); ref.UID != "uid-1" || ref.Name != "web-0" || ref.Namespace != "shop" {
		t.Errorf("podRef = %+v", ref)
	}
	if err := r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, a := range client.Actions() {
		if a.GetResource().Resource == "pods" {
			t.Errorf("looked pods up although the step carried the UID: %s", a.GetVerb())
		}
	}
}
