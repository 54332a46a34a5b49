package noticetest

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// CheckParsedTime fails t unless tm plausibly came from raw rather than from
// a parsing accident: it is not the zero time, its year is written in raw
// (give or take one when raw has a numeric offset and tm was converted to
// UTC), and a zero UTC offset is spelled out in raw (Z, GMT, UTC, or any
// numeric offset) instead of coming from a zone abbreviation Go does not
// know, which time.Parse silently reads as UTC. Fuzz targets use it on
// every deadline a parser produces.
func CheckParsedTime(t testing.TB, what string, tm time.Time, raw string) {
	t.Helper()
	if tm.IsZero() {
		t.Fatalf("%s: zero time from %q", what, raw)
	}
	numericOffset := numericOffsetRE.MatchString(raw)
	years := []int{tm.Year()}
	if numericOffset {
		years = append(years, tm.Year()-1, tm.Year()+1)
	}
	if !slices.ContainsFunc(years, func(y int) bool {
		return y >= 0 && y <= 9999 && strings.Contains(raw, fmt.Sprintf("%04d", y))
	}) {
		t.Fatalf("%s: year %d not written in %q", what, tm.Year(), raw)
	}
	if _, off := tm.Zone(); off == 0 && !numericOffset {
		up := strings.ToUpper(raw)
		if !strings.Contains(up, "Z") && !strings.Contains(up, "GMT") && !strings.Contains(up, "UTC") {
			t.Fatalf("%s: %q read as UTC without saying so", what, raw)
		}
	}
}

// numericOffsetRE matches a UTC offset such as +02:00, -0700 or +00.
var numericOffsetRE = regexp.MustCompile(`[+-]\d\d(:?\d\d)?\s*$`)
