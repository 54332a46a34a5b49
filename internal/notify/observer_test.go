package notify

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
	"github.com/lifeboat-dev/lifeboat/internal/report"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// observe runs f against an Observer and returns what was delivered.
func observe(t *testing.T, f func(o *Observer)) []notifier.Message {
	t.Helper()
	d := NewDispatcher(DispatcherConfig{})
	rec := newRecorder("rec")
	d.Add(rec, 0)
	o := NewObserver(d, ObserverConfig{Cluster: "prod", TTL: time.Hour})
	f(o)
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return rec.messages()
}

func spotNotice() notice.Notice {
	return notice.Notice{
		ID: "spot/2026-03-01T12:02:00Z", Source: "aws", Kind: notice.KindSpotInterruption, Node: "n1",
		InstanceID: "i-0abc", Deadline: t0.Add(2 * time.Minute), Detected: t0, Reason: "spot interruption: terminate",
		Attributes: map[string]string{"instance-type": "m7g.large", "region": "eu-west-1", "zone": "eu-west-1a"},
	}
}

func at(typ drain.StepType, sec int, pod string) drain.Step {
	return drain.Step{Type: typ, Time: t0.Add(time.Duration(sec) * time.Second), Node: "n1", Pod: pod, NoticeID: spotNotice().ID, NoticeKind: "spot-interruption"}
}

func TestObserverSendsOneMessagePerMeaningfulStep(t *testing.T) {
	msgs := observe(t, func(o *Observer) {
		o.NoticeReceived(spotNotice())
		o.NoticeReceived(spotNotice()) // the source repeats itself: ignored
		o.Observe(at(drain.StepCordoned, 1, ""))
		started := at(drain.StepDrainStarted, 1, "")
		started.Progress = drain.Progress{Total: 3, Left: 3, Deadline: t0.Add(2 * time.Minute)}
		o.Observe(started)
		for _, p := range []string{"ns/a", "ns/b"} {
			o.Observe(at(drain.StepPodEvicted, 2, p))
			o.Observe(at(drain.StepPodGone, 5, p))
		}
		o.Observe(at(drain.StepPodBlocked, 2, "ns/db-0"))
		o.Observe(at(drain.StepPodBlocked, 7, "ns/db-0"))
		fb := at(drain.StepDeadlineFallback, 100, "ns/db-0")
		fb.PDB, fb.Fallback, fb.Progress.Fallbacks = "ns/db", true, 1
		o.Observe(fb)
		fb2 := at(drain.StepDeadlineFallback, 100, "ns/db-1")
		fb2.Fallback, fb2.Progress.Fallbacks = true, 2
		o.Observe(fb2) // not the drain's first: no message
		o.Observe(at(drain.StepPodDeleted, 100, "ns/db-0"))
		done := at(drain.StepDrained, 105, "")
		done.Outcome = drain.OutcomeFallback
		done.Result = &drain.Result{Node: "n1", Pods: 3, Evicted: 2, Deleted: 1, Fallbacks: 1, Duration: 104 * time.Second}
		o.Observe(done)
		o.Observe(at(drain.StepNodeDeleted, 106, ""))
		o.Finished(spotNotice(), report.Finish{Kind: report.FinishAcknowledged, Node: "n1"})
	})
	wantSteps := []drain.StepType{
		drain.StepNoticeReceived, drain.StepCordoned, drain.StepDrainStarted,
		drain.StepDeadlineFallback, drain.StepDrained, drain.StepNodeDeleted, drain.StepAcknowledged,
	}
	if len(msgs) != len(wantSteps) {
		t.Fatalf("got %d messages %v, want steps %v", len(msgs), stepsOf(msgs), wantSteps)
	}
	for i, m := range msgs {
		if m.Step != string(wantSteps[i]) {
			t.Errorf("message %d step = %s, want %s", i, m.Step, wantSteps[i])
		}
		if m.Lifecycle != "n1/"+spotNotice().ID {
			t.Errorf("message %d lifecycle = %q, want every step in the notice's %q", i, m.Lifecycle, "n1/"+spotNotice().ID)
		}
		// Every message carries the notice facts for templates.
		if m.Cluster != "prod" || m.Node != "n1" || m.Kind != "spot-interruption" || m.Trigger != "aws" || m.NoticeID != spotNotice().ID ||
			m.InstanceType != "m7g.large" || m.Region != "eu-west-1" || m.Zone != "eu-west-1a" || !m.Deadline.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("message %d (%s) lacks notice facts: %+v", i, m.Step, m)
		}
	}
	for i, want := range []string{
		"going away: spot-interruption from aws (spot interruption: terminate), deadline 12:02:00 UTC (in 2m0s)",
		"cordoned (spot interruption: terminate)",
		"draining 3 pods, deadline 12:02:00 UTC (in 1m59s)",
		"deadline close: deleting PDB-blocked pods instead of waiting for their budgets (first: ns/db-0, PDB ns/db)",
		"drained in 1m44s: 2 evicted, 1 deleted (1 by deadline fallback)",
		"Node object deleted",
		"acknowledged the notice to aws: the platform may proceed",
	} {
		if msgs[i].Text != want {
			t.Errorf("message %d text = %q, want %q", i, msgs[i].Text, want)
		}
	}
	final := msgs[4]
	if final.Result != string(drain.OutcomeFallback) || final.PodsEvicted != 2 || final.PodsDeleted != 1 || final.Fallbacks != 1 || final.Duration != 104*time.Second {
		t.Errorf("final message = %+v, want result fallback with the counts", final)
	}
}

func stepsOf(ms []notifier.Message) []string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Step)
	}
	return s
}

// TestStepMessageIsAFunctionOfTheStep maps steps on their own, without a
// notice seen before: the message depends on the step only.
func TestStepMessageIsAFunctionOfTheStep(t *testing.T) {
	deadline := t0.Add(time.Minute)
	cases := []struct {
		name      string
		step      drain.Step
		wantSent  bool
		lifecycle string
		text      string
	}{
		{"pod-level steps are summarised later", drain.Step{Type: drain.StepPodEvicted, Node: "n1", Pod: "ns/a"}, false, "", ""},
		{"later fallbacks are not sent", drain.Step{Type: drain.StepDeadlineFallback, Node: "n1", Pod: "ns/b", Progress: drain.Progress{Fallbacks: 2}}, false, "", ""},
		{
			"a drain without a notice is the node's manual lifecycle",
			drain.Step{Type: drain.StepCordoned, Node: "n1", Message: "cordoned: maintenance"},
			true, "n1/manual", "cordoned: maintenance",
		},
		{
			"a notice's step is in the notice's lifecycle, its kind and deadline from the step",
			drain.Step{Type: drain.StepDrainStarted, Node: "n2", NoticeID: "e1", NoticeKind: "preemption", Progress: drain.Progress{Total: 2, Left: 2, Deadline: deadline}},
			true, "n2/e1", "draining 2 pods, deadline 12:01:00 UTC (in 1m0s)",
		},
		{
			"a voluntary drain waiting for the drain budget says so",
			drain.Step{Type: drain.StepWaitingForBudget, Node: "n1", NoticeID: "m1", Message: "waiting for a drain slot: 1 of 1 in cluster held by n9"},
			true, "n1/m1", "waiting for a drain slot: 1 of 1 in cluster held by n9",
		},
		{
			"volumes that did not detach in time are reported",
			drain.Step{Type: drain.StepVolumesStillAttached, Node: "n1", NoticeID: "m1", Message: "volumes still attached after 58s: csi-1 (pv-1)"},
			true, "n1/m1", "volumes still attached after 58s: csi-1 (pv-1)",
		},
		{
			"a dry run says what it would do",
			drain.Step{Type: drain.StepWouldDrain, Node: "n1", NoticeID: "e1", Message: "dry run: would drain node n1: 3 pod(s)"},
			true, "n1/e1", "dry run: would drain node n1: 3 pod(s)",
		},
		{
			"the first fallback",
			drain.Step{Type: drain.StepDeadlineFallback, Node: "n1", NoticeID: "e1", Pod: "ns/a", PDB: "ns/p", Fallback: true, Progress: drain.Progress{Fallbacks: 1}},
			true, "n1/e1", "deadline close: deleting PDB-blocked pods instead of waiting for their budgets (first: ns/a, PDB ns/p)",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, sent := stepMessage(tc.step, notifier.Message{}, t0)
			if sent != tc.wantSent {
				t.Fatalf("sent = %v, want %v", sent, tc.wantSent)
			}
			if !sent {
				return
			}
			if m.Lifecycle != tc.lifecycle || m.Text != tc.text || m.Step != string(tc.step.Type) || m.Kind != tc.step.NoticeKind {
				t.Errorf("message = %+v, want lifecycle %q text %q", m, tc.lifecycle, tc.text)
			}
		})
	}
}

func TestObserverFailedAndIncompleteDrains(t *testing.T) {
	msgs := observe(t, func(o *Observer) {
		failed := at(drain.StepDrainFailed, 60, "")
		failed.Outcome = drain.OutcomeFailed
		failed.Err = errors.New("PodDisruptionBudget ns/db blocks 1 pod")
		failed.Result = &drain.Result{Pods: 2, Evicted: 1, Left: []drain.PodRef{{Namespace: "ns", Name: "db-0"}}, Duration: time.Minute}
		o.Observe(failed)
	})
	if len(msgs) != 1 {
		t.Fatalf("got %v, want one DrainFailed message", stepsOf(msgs))
	}
	m := msgs[0]
	want := "drain failed after 1m0s: PodDisruptionBudget ns/db blocks 1 pod, 1 left: ns/db-0"
	if m.Step != string(drain.StepDrainFailed) || m.Result != string(drain.OutcomeFailed) || m.PodsLeft != 1 || m.Text != want {
		t.Errorf("message = %s %q result=%q left=%d, want DrainFailed %q", m.Step, m.Text, m.Result, m.PodsLeft, want)
	}
}

// TestObserverThreadsByNotice: two notices for one node are two
// lifecycles, whichever order their steps come in.
func TestObserverThreadsByNotice(t *testing.T) {
	rebalance := notice.Notice{ID: "rebalance/1", Node: "n1", Source: "aws", Kind: notice.KindRebalance, Detected: t0}
	msgs := observe(t, func(o *Observer) {
		o.NoticeReceived(rebalance)
		o.NoticeReceived(spotNotice())
		o.Observe(at(drain.StepCordoned, 1, "")) // the spot notice's drain
		o.Finished(rebalance, report.Finish{Kind: report.FinishReleased})
		o.Observe(drain.Step{Type: drain.StepCordoned, Time: t0, Node: "n2"})
	})
	want := []string{"n1/rebalance/1", "n1/" + spotNotice().ID, "n1/" + spotNotice().ID, "n1/rebalance/1", "n2/manual"}
	if len(msgs) != len(want) {
		t.Fatalf("got %v", stepsOf(msgs))
	}
	for i, m := range msgs {
		if m.Lifecycle != want[i] {
			t.Errorf("message %d (%s) lifecycle = %q, want %q", i, m.Step, m.Lifecycle, want[i])
		}
	}
	if msgs[3].Step != string(drain.StepReleased) || msgs[3].Kind != string(notice.KindRebalance) {
		t.Errorf("release message = %+v, want Released for the rebalance notice", msgs[3])
	}
}

func TestObserverCanceledNotice(t *testing.T) {
	msgs := observe(t, func(o *Observer) {
		o.NoticeReceived(spotNotice())
		n := spotNotice()
		n.Canceled = true
		o.NoticeReceived(n)
		o.NoticeReceived(n) // repeated withdrawal: ignored
	})
	if len(msgs) != 2 || msgs[1].Step != string(drain.StepNoticeCanceled) || msgs[1].Lifecycle != msgs[0].Lifecycle ||
		!strings.HasPrefix(msgs[1].Text, "notice withdrawn: ") {
		t.Errorf("got %+v, want NoticeCanceled in the notice's lifecycle", msgs)
	}
}

func TestFinishMessage(t *testing.T) {
	n := spotNotice()
	cases := []struct {
		f        report.Finish
		step     drain.StepType
		text     string
		hasError bool
	}{
		{report.Finish{Kind: report.FinishAcknowledged}, drain.StepAcknowledged, "acknowledged the notice to aws: the platform may proceed", false},
		{report.Finish{Kind: report.FinishAcknowledged, Err: errors.New("503")}, drain.StepAcknowledged, "acknowledging the notice to aws failed: 503", true},
		{report.Finish{Kind: report.FinishHookCompleted, Result: "CONTINUE"}, drain.StepHookCompleted, "completed the lifecycle action with CONTINUE", false},
		{report.Finish{Kind: report.FinishHookCompleted, Err: errors.New("gone")}, drain.StepHookCompleted, "completing the lifecycle action failed: gone", true},
		{report.Finish{Kind: report.FinishReleased}, drain.StepReleased, "released: lifeboat undid its changes for the withdrawn notice", false},
	}
	for _, tc := range cases {
		m, ok := finishMessage(n, tc.f, t0)
		if !ok || m.Step != string(tc.step) || m.Text != tc.text || (m.Error != "") != tc.hasError || m.Lifecycle != "n1/"+n.ID || m.InstanceType != "m7g.large" {
			t.Errorf("%+v: message = %+v, want %s %q", tc.f, m, tc.step, tc.text)
		}
	}
}

func TestFinishDoneIsNotAMessage(t *testing.T) {
	if m, ok := finishMessage(spotNotice(), report.Finish{Kind: report.FinishDone}, t0); ok {
		t.Errorf("FinishDone gave message %+v; the drain's steps already told it", m)
	}
}

func TestExpiry(t *testing.T) {
	ttl := 5 * time.Minute
	cases := []struct {
		name     string
		deadline time.Time
		want     time.Time
	}{
		{"no deadline: TTL", time.Time{}, t0.Add(ttl)},
		{"deadline before TTL", t0.Add(2 * time.Minute), t0.Add(2 * time.Minute)},
		{"deadline after TTL", t0.Add(time.Hour), t0.Add(ttl)},
		{"deadline nearly here: minimum window", t0.Add(time.Second), t0.Add(minDeliveryWindow)},
		{"deadline passed: minimum window", t0.Add(-time.Minute), t0.Add(minDeliveryWindow)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := expiry(t0, tc.deadline, ttl); !got.Equal(tc.want) {
				t.Errorf("expiry = %v, want %v", got, tc.want)
			}
		})
	}
	if got := expiry(t0, t0.Add(-time.Minute), time.Second); !got.Equal(t0.Add(time.Second)) {
		t.Errorf("the minimum window must not exceed the TTL: got %v", got)
	}
}
