package nodecondition_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/notice/nodecondition"
)

// FuzzConditionMessage feeds arbitrary condition messages and rule specs.
// Invariants: no panic; a deadline is UTC, after 2000 and its year
// (give or take the offset) is written in the message; a parsed rule round-trips
// through its String form. Seeds: testdata/fuzz/FuzzConditionMessage.
func FuzzConditionMessage(f *testing.F) {
	f.Fuzz(func(t *testing.T, msg, rule string) {
		if d, ok := nodecondition.DeadlineFromMessage(msg); ok {
			if d.Location().String() != "UTC" || d.Year() < 2000 {
				t.Fatalf("DeadlineFromMessage(%q) = %s", msg, d)
			}
			y := d.Year() // a numeric offset may move the UTC year by one
			if !strings.Contains(msg, fmt.Sprint(y)) && !strings.Contains(msg, fmt.Sprint(y-1)) && !strings.Contains(msg, fmt.Sprint(y+1)) {
				t.Fatalf("DeadlineFromMessage(%q) = %s: year not written", msg, d)
			}
		}
		r, err := nodecondition.ParseRule(rule, validAction)
		if err != nil {
			return
		}
		again, err := nodecondition.ParseRule(r.String(), validAction)
		if err != nil || again != r || strings.Count(r.String(), "=") != 2 {
			t.Fatalf("rule %q -> %+v -> %q -> %+v, %v", rule, r, r.String(), again, err)
		}
	})
}
