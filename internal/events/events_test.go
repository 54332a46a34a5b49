package events

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
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ev(typ drain.EventType, pod string) drain.Event {
	return drain.Event{Type: typ, Time: t0, Node: "n1", Pod: pod}
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
	client := fake.NewClientset(pod("shop", "web-0"), pod("shop", "web-1"), pod("db", "pg-0"), pod("batch", "job-x"))
	r := New(client, Config{Host: "agent-1"})
	n := notice.Notice{ID: "spot/1", Source: "aws", Kind: notice.KindSpotInterruption, Node: "n1", Deadline: t0.Add(2 * time.Minute)}

	r.NoticeReceived(n)
	r.Observe(drain.Event{Type: drain.EventCordoned, Node: "n1", Message: "cordoned: spot interruption"})
	r.Observe(drain.Event{Type: drain.EventDrainStarted, Node: "n1", Progress: drain.Progress{Total: 4, Deadline: n.Deadline}})
	for range 40 { // the engine reports every refused retry; more than the spam filter's burst
		b := ev(drain.EventPodBlocked, "db/pg-0")
		b.PDB = "db/pg"
		r.Observe(b)
	}
	r.Observe(ev(drain.EventPodEvicted, "shop/web-0"))
	r.Observe(ev(drain.EventPodEvicted, "shop/web-1"))
	r.Observe(ev(drain.EventPodGone, "shop/web-0"))
	r.Observe(ev(drain.EventPodDeleted, "batch/job-x"))
	failed := ev(drain.EventEvictionFailed, "shop/web-1")
	failed.Err = errors.New("etcdserver: request timed out")
	r.Observe(failed)
	r.Observe(failed)
	fb := ev(drain.EventDeadlineFallback, "db/pg-0")
	fb.PDB, fb.GracePeriodSeconds, fb.Progress.Deadline = "db/pg", 8, n.Deadline
	r.Observe(fb)
	del := ev(drain.EventPodDeleted, "db/pg-0")
	del.GracePeriodSeconds = 8
	r.Observe(del)
	r.Observe(drain.Event{Type: drain.EventNodeDeleted, Node: "n1"})
	r.Observe(drain.Event{Type: drain.EventDrained, Node: "n1", Result: &drain.Result{Pods: 4, Evicted: 2, Deleted: 2, Fallbacks: 1, Duration: 90 * time.Second}})
	r.Acknowledged(n)

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
		"Node/n1/Drained":          "2 evicted, 2 deleted (1 by deadline fallback), 0 left, in 1m30s",
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
		e    drain.Event
		typ  string
	}{
		{"clean", drain.Event{Type: drain.EventDrained, Result: &drain.Result{Evicted: 1}}, corev1.EventTypeNormal},
		{"incomplete", drain.Event{Type: drain.EventDrained, Result: &drain.Result{Left: []drain.PodRef{{Name: "x"}}}}, corev1.EventTypeWarning},
		{"failed", drain.Event{Type: drain.EventDrainFailed, Err: errors.New("boom")}, corev1.EventTypeWarning},
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
	r := New(client, Config{Host: "agent-1"})
	r.Observe(ev(drain.EventPodEvicted, "gone/p"))
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
	if len(items) != 1 || items[0].reason != ReasonNoticeCanceled || items[0].eventType != corev1.EventTypeNormal {
		t.Errorf("canceled notice = %+v, want one Normal NoticeCanceled", items)
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
	r := New(fake.NewClientset(), Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- r.Close(ctx) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Close with a canceled context did not return")
	}
	r.Observe(ev(drain.EventCordoned, "")) // after Close: dropped, no panic
}
