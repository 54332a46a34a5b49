package tencent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/notice/tencent"
)

// FuzzTerminationTime feeds arbitrary bodies of spot/termination-time to
// the parser. Invariants: no panic; a deadline is in UTC, after 2000, and,
// for the documented zone-less form, exactly eight hours before the wall
// clock written. Seeds: testdata/fuzz/FuzzTerminationTime.
func FuzzTerminationTime(f *testing.F) {
	f.Fuzz(func(t *testing.T, body string) {
		d, err := tencent.ParseTerminationTime(body)
		if err != nil {
			return
		}
		if d.Location() != time.UTC || d.Year() < 2000 {
			t.Fatalf("ParseTerminationTime(%q) = %s", body, d)
		}
		if wall, err := time.Parse(tencent.TimeLayout, strings.TrimSpace(body)); err == nil {
			if got := wall.Sub(d); got != 8*time.Hour {
				t.Fatalf("ParseTerminationTime(%q) = %s: %s from the wall clock, want 8h", body, d, got)
			}
		}
	})
}
