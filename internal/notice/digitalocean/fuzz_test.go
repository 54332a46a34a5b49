package digitalocean_test

import (
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/notice/digitalocean"
)

// FuzzMaintenanceEvent feeds arbitrary bodies of /v1/maintenance_event to
// the parser. Invariants: no panic; only blank and live_migrate (around
// white space) are accepted, and what is returned is exactly that value.
// Seeds: testdata/fuzz/FuzzMaintenanceEvent.
func FuzzMaintenanceEvent(f *testing.F) {
	f.Fuzz(func(t *testing.T, body string) {
		ev, err := digitalocean.ParseMaintenanceEvent(body)
		want := strings.TrimSpace(body)
		switch {
		case err != nil && (want == "" || want == digitalocean.EventLiveMigrate):
			t.Fatalf("ParseMaintenanceEvent(%q) refused a documented value: %v", body, err)
		case err == nil && ev != want:
			t.Fatalf("ParseMaintenanceEvent(%q) = %q", body, ev)
		case err == nil && ev != "" && ev != digitalocean.EventLiveMigrate:
			t.Fatalf("ParseMaintenanceEvent(%q) accepted %q", body, ev)
		}
	})
}
