package nodecondition_test

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/lifeboat-dev/lifeboat/internal/kube/clientset"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notice/nodecondition"
)

func validAction(a string) error {
	switch a {
	case "none", "taint", "cordon", "drain", "drain-delete":
		return nil
	}
	return errors.New("unknown action")
}

func TestParseRule(t *testing.T) {
	good := map[string]nodecondition.Rule{
		"VMEventScheduled=drain-delete":    {Type: "VMEventScheduled", Status: corev1.ConditionTrue, Action: "drain-delete"},
		"KernelDeadlock=True=cordon":       {Type: "KernelDeadlock", Status: corev1.ConditionTrue, Action: "cordon"},
		"Ready=Unknown=taint":              {Type: "Ready", Status: corev1.ConditionUnknown, Action: "taint"},
		"example.com/DiskFailing=False=no": {},
	}
	for in, want := range good {
		got, err := nodecondition.ParseRule(in, validAction)
		if want.Type == "" {
			if err == nil {
				t.Errorf("ParseRule(%q) accepted an unknown action", in)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseRule(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "VMEventScheduled", "A=B=C=D", "=drain", "X=Maybe=drain", "bad type=drain"} {
		if _, err := nodecondition.ParseRule(in, validAction); err == nil {
			t.Errorf("ParseRule(%q) accepted", in)
		}
	}
	if _, err := nodecondition.ParseRules([]string{"A=drain", "A=True=cordon"}, validAction); err == nil {
		t.Error("two rules for A=True accepted")
	}
}

func TestDeadlineFromMessage(t *testing.T) {
	cases := map[string]time.Time{
		// AKS node-problem-detector, as seen on nodes.
		"Preempt Scheduled: Wed, 26 Feb 2025 10:13:13 GMT. DurationInSeconds: -1.  For more information, see https://aka.ms/aks/scheduledevents.": time.Date(2025, 2, 26, 10, 13, 13, 0, time.UTC),
		"Preempt Scheduled: Sat, 01 Aug 2026 05:41:02 GMT. For more information, see <link>. EventId: 0c0f3e2d":                                   time.Date(2026, 8, 1, 5, 41, 2, 0, time.UTC),
		"Reboot at Mon, 02 Mar 2026 12:00:00 +0100":              time.Date(2026, 3, 2, 11, 0, 0, 0, time.UTC),
		"maintenance window starts 2026-03-02T12:00:00+02:00 ok": time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC),
	}
	for msg, want := range cases {
		if got, ok := nodecondition.DeadlineFromMessage(msg); !ok || !got.Equal(want) {
			t.Errorf("DeadlineFromMessage(%q) = %s, %v; want %s", msg, got, ok, want)
		}
	}
	for _, msg := range []string{"", "kernel has no deadlock", "at 2026-03-02 12:00:00 (no zone)", "Mon, 02 Mar 2026 12:00:00 CET"} {
		if got, ok := nodecondition.DeadlineFromMessage(msg); ok {
			t.Errorf("DeadlineFromMessage(%q) = %s, want none", msg, got)
		}
	}
}

func node(name string, conds ...corev1.NodeCondition) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Conditions: conds}}
}

func TestObserve(t *testing.T) {
	since := metav1.NewTime(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	now := since.Add(time.Second)
	var reasons []string
	s, err := nodecondition.New(nodecondition.Config{
		Client: clientset.Wrap(fake.NewClientset()), Log: logging.Discard(), OnError: func(r string) { reasons = append(reasons, r) },
		Rules: []nodecondition.Rule{{Type: "VMEventScheduled", Status: corev1.ConditionTrue, Action: "drain-delete"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	scheduled := corev1.NodeCondition{
		Type: "VMEventScheduled", Status: corev1.ConditionTrue, Reason: "VMEventScheduled", LastTransitionTime: since,
		Message: "Preempt Scheduled: Sun, 01 Mar 2026 10:00:30 GMT. DurationInSeconds: -1.",
	}
	if got := s.Observe(node("n1", corev1.NodeCondition{Type: "Ready", Status: corev1.ConditionTrue}), now); len(got) != 0 {
		t.Fatalf("no matching condition: %+v", got)
	}
	got := s.Observe(node("n1", scheduled), now)
	if len(got) != 1 || got[0].Kind != notice.KindNodeCondition || got[0].Attributes["action"] != "drain-delete" ||
		!got[0].Deadline.Equal(since.Add(30*time.Second)) || got[0].Node != "n1" || got[0].Canceled {
		t.Fatalf("notice = %+v", got)
	}
	if again := s.Observe(node("n1", scheduled), now); len(again) != 0 {
		t.Fatalf("resync sent %+v again", again)
	}
	other := s.Observe(node("n2", scheduled), now) // queue mode: every node on its own
	if len(other) != 1 || other[0].Node != "n2" || other[0].ID == got[0].ID {
		t.Fatalf("second node: %+v", other)
	}
	cleared := scheduled
	cleared.Status = corev1.ConditionFalse
	if c := s.Observe(node("n1", cleared), now); len(c) != 1 || !c[0].Canceled || c[0].ID != got[0].ID {
		t.Fatalf("cleared: %+v", c)
	}
	s.Forget("n2") // deleted: dropped without a withdrawal; seen again, it is a new notice
	if again := s.Observe(node("n2", scheduled), now); len(again) != 1 || again[0].Canceled {
		t.Fatalf("node n2 after Forget: %+v", again)
	}
	noTime := scheduled
	noTime.Message, noTime.LastTransitionTime = "Freeze Scheduled", metav1.NewTime(now)
	if n := s.Observe(node("n1", noTime), now); len(n) != 1 || !n[0].Deadline.IsZero() || len(reasons) != 1 {
		t.Fatalf("no time in the message: %+v, reasons %v", n, reasons)
	}
}
