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

func at(typ drain.EventType, sec int, pod string) drain.Event {
	return drain.Event{Type: typ, Time: t0.Add(time.Duration(sec) * time.Second), Node: "n1", Pod: pod}
}

func TestObserverSendsOneMessagePerMeaningfulStep(t *testing.T) {
	msgs := observe(t, func(o *Observer) {
		o.NoticeReceived(spotNotice())
		o.NoticeReceived(spotNotice()) // the source repeats itself: ignored
		o.Observe(at(drain.EventCordoned, 1, ""))
		started := at(drain.EventDrainStarted, 1, "")
		started.Progress = drain.Progress{Total: 3, Left: 3, Deadline: t0.Add(2 * time.Minute)}
		o.Observe(started)
		for _, p := range []string{"ns/a", "ns/b"} {
			o.Observe(at(drain.EventPodEvicted, 2, p))
			o.Observe(at(drain.EventPodGone, 5, p))
		}
		o.Observe(at(drain.EventPodBlocked, 2, "ns/db-0"))
		o.Observe(at(drain.EventPodBlocked, 7, "ns/db-0"))
		fb := at(drain.EventDeadlineFallback, 100, "ns/db-0")
		fb.PDB = "ns/db"
		o.Observe(fb)
		o.Observe(at(drain.EventDeadlineFallback, 100, "ns/db-1")) // one message per lifecycle
		o.Observe(at(drain.EventPodDeleted, 100, "ns/db-0"))
		done := at(drain.EventDrained, 105, "")
		done.Result = &drain.Result{Node: "n1", Pods: 3, Evicted: 2, Deleted: 1, Fallbacks: 1, Duration: 104 * time.Second}
		o.Observe(done)
		o.Observe(at(drain.EventNodeDeleted, 106, ""))
		o.Acknowledged(spotNotice())
	})
	wantSteps := []notifier.Step{
		notifier.StepNoticeReceived, notifier.StepCordoned, notifier.StepDrainStarted,
		notifier.StepDeadlineFallback, notifier.StepDrained, notifier.StepNodeDeleted, notifier.StepAcknowledged,
	}
	if len(msgs) != len(wantSteps) {
		t.Fatalf("got %d messages %v, want steps %v", len(msgs), stepsOf(msgs), wantSteps)
	}
	for i, m := range msgs {
		if m.Step != wantSteps[i] {
			t.Errorf("message %d step = %s, want %s", i, m.Step, wantSteps[i])
		}
		if m.Lifecycle != msgs[0].Lifecycle {
			t.Errorf("message %d lifecycle = %q, want every step in %q", i, m.Lifecycle, msgs[0].Lifecycle)
		}
		// Every message carries the notice facts for templates.
		if m.Cluster != "prod" || m.Node != "n1" || m.Kind != "spot-interruption" || m.Trigger != "aws" ||
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
	if final.Result != "fallback" || final.PodsEvicted != 2 || final.PodsDeleted != 1 || final.Fallbacks != 1 || final.Duration != 104*time.Second {
		t.Errorf("final message = %+v, want result fallback with the counts", final)
	}
}

func stepsOf(ms []notifier.Message) []notifier.Step {
	var s []notifier.Step
	for _, m := range ms {
		s = append(s, m.Step)
	}
	return s
}

func TestObserverFailedAndIncompleteDrains(t *testing.T) {
	msgs := observe(t, func(o *Observer) {
		failed := at(drain.EventDrainFailed, 60, "")
		failed.Err = errors.New("PodDisruptionBudget ns/db blocks 1 pod")
		failed.Result = &drain.Result{Pods: 2, Evicted: 1, Left: []drain.PodRef{{Namespace: "ns", Name: "db-0"}}, Duration: time.Minute}
		o.Observe(failed)
	})
	if len(msgs) != 1 {
		t.Fatalf("got %v, want one DrainFailed message", stepsOf(msgs))
	}
	m := msgs[0]
	want := "drain failed after 1m0s: PodDisruptionBudget ns/db blocks 1 pod, 1 left: ns/db-0"
	if m.Step != notifier.StepDrainFailed || m.Result != "failed" || m.PodsLeft != 1 || m.Text != want {
		t.Errorf("message = %s %q result=%q left=%d, want DrainFailed %q", m.Step, m.Text, m.Result, m.PodsLeft, want)
	}
}

func TestObserverStartsANewLifecycleAfterTheLastEnded(t *testing.T) {
	msgs := observe(t, func(o *Observer) {
		// A manual drain: no notice.
		o.Observe(at(drain.EventCordoned, 0, ""))
		o.Observe(drain.Event{Type: drain.EventDrained, Time: t0.Add(time.Second), Node: "n1", Result: &drain.Result{}})
		o.Observe(at(drain.EventUncordoned, 60, "")) // joins the ended lifecycle
		o.Observe(at(drain.EventCordoned, 120, ""))  // a new drain of the same node
		o.Observe(drain.Event{Type: drain.EventCordoned, Time: t0, Node: "n2"})
		o.NoticeReceived(notice.Notice{ID: "other", Node: "n1", Source: "aws", Kind: notice.KindRebalance, Detected: t0.Add(130 * time.Second)})
	})
	if len(msgs) != 6 {
		t.Fatalf("got %v", stepsOf(msgs))
	}
	first, second, third := msgs[0].Lifecycle, msgs[3].Lifecycle, msgs[5].Lifecycle
	if msgs[1].Lifecycle != first || msgs[2].Lifecycle != first {
		t.Errorf("Drained and Uncordoned should join the first lifecycle %q: %q %q", first, msgs[1].Lifecycle, msgs[2].Lifecycle)
	}
	if second == first || third == second || msgs[4].Lifecycle == second {
		t.Errorf("lifecycles %q %q %q (n2: %q) should all differ", first, second, third, msgs[4].Lifecycle)
	}
	if !strings.HasPrefix(third, "n1/other") {
		t.Errorf("a notice's lifecycle key = %q, want it to name the node and notice", third)
	}
}

func TestObserverCanceledNotice(t *testing.T) {
	msgs := observe(t, func(o *Observer) {
		o.NoticeReceived(spotNotice())
		n := spotNotice()
		n.Canceled = true
		o.NoticeReceived(n)
	})
	if len(msgs) != 2 || msgs[1].Step != notifier.StepNoticeCanceled || msgs[1].Lifecycle != msgs[0].Lifecycle ||
		!strings.HasPrefix(msgs[1].Text, "notice withdrawn: ") {
		t.Errorf("got %+v, want NoticeCanceled in the notice's lifecycle", msgs)
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
