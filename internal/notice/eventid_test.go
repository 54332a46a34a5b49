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
