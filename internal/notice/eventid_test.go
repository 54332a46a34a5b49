package notice

import (
	"testing"
	"time"
)

func TestSameEvent(t *testing.T) {
	at := time.Date(2026, 12, 2, 8, 22, 0, 0, time.UTC)
	spot := EventID(KindSpotInterruption, "i-0abc", at)
	if spot != "spot-interruption/i-0abc/2026-12-02T08:22:00Z" {
		t.Fatalf("EventID = %q", spot)
	}
	cases := []struct {
		a, b string
		want bool
	}{
		{spot, spot, true},
		{spot, EventID(KindSpotInterruption, "i-0abc", at.Add(3*time.Second)), true},
		{spot, EventID(KindSpotInterruption, "i-0abc", at.Add(-SameEventSlack)), true},
		{spot, EventID(KindSpotInterruption, "i-0abc", at.Add(SameEventSlack+time.Second)), false},
		{spot, EventID(KindSpotInterruption, "i-0def", at), false},
		{spot, EventID(KindRebalance, "i-0abc", at), false},
		{EventID(KindASGTermination, "i-1", time.Time{}), "asg-termination/i-1", true},
		{EventID(KindASGTermination, "i-1", time.Time{}), EventID(KindASGTermination, "i-1", at), false},
		{"c3b9e3d2-azure-event", "c3b9e3d2-azure-event", true},
		{"c3b9e3d2-azure-event", spot, false},
		{"a/b/not-a-time", "a/b/also-not", false},
		{"", "", true},
	}
	for _, c := range cases {
		if got := SameEvent(c.a, c.b); got != c.want {
			t.Errorf("SameEvent(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := SameEvent(c.b, c.a); got != c.want {
			t.Errorf("SameEvent(%q, %q) = %v, want %v (not symmetric)", c.b, c.a, got, c.want)
		}
	}
}

// FuzzSameEvent: notice IDs are read back from Node annotations (the
// handled record, lifeboat's mark), so any string may arrive. SameEvent
// must never panic, must be symmetric and reflexive, and an ID built by
// EventID must match itself a few seconds off and never another instance.
func FuzzSameEvent(f *testing.F) {
	f.Add("spot-interruption/i-0abc/2026-12-02T08:22:00Z", "spot-interruption/i-0abc/2026-12-02T08:22:03Z")
	f.Add("asg-termination/i-1", "asg-termination/i-1")
	f.Add("health/i-1/arn:aws:health:us-east-1::event/EC2/X/Y", "c3b9e3d2-azure")
	f.Add("a//", "/b/")
	f.Fuzz(func(t *testing.T, a, b string) {
		if SameEvent(a, b) != SameEvent(b, a) {
			t.Fatalf("SameEvent(%q, %q) is not symmetric", a, b)
		}
		if !SameEvent(a, a) {
			t.Fatalf("SameEvent(%q, itself) is false", a)
		}
		if a == "" || b == "" || len(a) > 64 || len(b) > 64 {
			return
		}
		at := time.Date(2026, 12, 2, 8, 22, 0, 0, time.UTC)
		id := EventID(Kind(a), b, at)
		k, inst, tm, ok := splitEventID(id)
		if ok && (k != Kind(a) || inst != b || !tm.Equal(at)) {
			// A kind or instance with a "/" cannot round-trip; it must then
			// at least not match another instance's event.
			if SameEvent(id, EventID(Kind(a), b+"x", at)) {
				t.Fatalf("%q matches another instance's event", id)
			}
		}
	})
}
