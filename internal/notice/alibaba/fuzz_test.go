package alibaba_test

import (
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/notice/alibaba"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/noticetest"
)

// FuzzTerminationTime feeds arbitrary bodies of
// instance/spot/termination-time to the parser. Invariants: no panic; a
// parsed deadline is in UTC, after 2000 and plausibly written in the input
// (its year, an explicit zone). Seeds: testdata/fuzz/FuzzTerminationTime.
func FuzzTerminationTime(f *testing.F) {
	f.Fuzz(func(t *testing.T, body string) {
		d, err := alibaba.ParseTerminationTime(body)
		if err != nil {
			return
		}
		if d.Location().String() != "UTC" || d.Year() < 2000 {
			t.Fatalf("ParseTerminationTime(%q) = %s", body, d)
		}
		noticetest.CheckParsedTime(t, "termination time", d, body)
	})
}
