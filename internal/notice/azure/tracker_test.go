package azure

import (
	"log/slog"
	"testing"
	"time"
)

// TestTrackerMissingDocuments: an event left out of fewer than
// MissingDocuments documents in a row is not withdrawn (an IMDS glitch must
// not uncordon a node about to be preempted); that many in a row withdraw it
// once; listing it again later is a new notice.
func TestTrackerMissingDocuments(t *testing.T) {
	tr := newTracker()
	o := observation{vm: "vm_1", node: "n", now: time.Unix(0, 0), log: slog.New(slog.DiscardHandler), onError: func(string) {}}
	ev := Event{EventID: "e1", EventType: EventPreempt, Resources: []string{"vm_1"}, EventStatus: StatusScheduled, NotBefore: "Mon, 19 Sep 2016 18:29:47 GMT"}
	with := &Document{DocumentIncarnation: 1, Events: []Event{ev}}
	without := &Document{DocumentIncarnation: 2, Events: []Event{}}
	if ns := tr.observe(with, o); len(ns) != 1 || ns[0].Canceled {
		t.Fatalf("first sighting: %+v", ns)
	}
	for i := 0; i < 3; i++ {
		for m := 1; m < MissingDocuments; m++ {
			if ns := tr.observe(without, o); len(ns) != 0 {
				t.Fatalf("round %d: %d missing document(s) withdrew the event: %+v", i, m, ns)
			}
		}
		if ns := tr.observe(with, o); len(ns) != 0 {
			t.Fatalf("round %d: listed again after a glitch gave %+v, want nothing new", i, ns)
		}
	}
	var got []bool
	for m := 0; m < MissingDocuments+2; m++ {
		for _, n := range tr.observe(without, o) {
			got = append(got, n.Canceled)
		}
	}
	if len(got) != 1 || !got[0] {
		t.Fatalf("after %d documents without it: %v, want one canceled notice", MissingDocuments+2, got)
	}
	if ns := tr.observe(with, o); len(ns) != 1 || ns[0].Canceled || ns[0].ID != "e1" {
		t.Fatalf("listed again after the withdrawal: %+v, want a new notice", ns)
	}
}

func TestOtherVMs(t *testing.T) {
	got := otherVMs([]string{"vm_1", " VM_1 ", "", "peer_2", "Peer_2", "peer_3"}, "vm_1")
	if len(got) != 2 || got[0] != "peer_2" || got[1] != "peer_3" {
		t.Errorf("otherVMs = %v, want [peer_2 peer_3]", got)
	}
}
