package digitalocean_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/emulate"
	emu "github.com/lifeboat-dev/lifeboat/internal/emulate/digitalocean"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notice/digitalocean"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/noticetest"
)

// setup starts an emulator and a source polling it quickly; requestTimeout
// is short only where hangs are injected.
func setup(t *testing.T, requestTimeout time.Duration) (*emu.Server, *digitalocean.Source, *noticetest.ErrorLog) {
	t.Helper()
	e := emu.New(emu.Options{Log: logging.Discard()})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	errs := &noticetest.ErrorLog{}
	cfg := digitalocean.Config{
		MetadataURL: srv.URL, Node: "node-d", Interval: 10 * time.Millisecond, RequestTimeout: requestTimeout,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Log: logging.Discard(), OnError: errs.Add,
	}
	s, err := digitalocean.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e, s, errs
}

func TestLiveMigrationIsReportedAndEnds(t *testing.T) {
	e, s, errs := setup(t, 0)
	out, _ := noticetest.Run(t, s)
	noticetest.Ready(t, s)
	before := time.Now()
	e.Migrate(0, 0)
	n := noticetest.Next(t, out)
	if n.Kind != notice.KindMigration || n.Canceled || n.InstanceID != emu.DefaultDropletID || n.Source != "digitalocean" ||
		!strings.HasPrefix(n.ID, "digitalocean-live-migrate/"+emu.DefaultDropletID+"/") {
		t.Fatalf("notice = %+v", n)
	}
	if d := n.Deadline.Sub(n.Detected); d != digitalocean.MigrationWarning || n.Detected.Before(before.Add(-time.Second)) {
		t.Errorf("deadline %s after detection, want %s", d, digitalocean.MigrationWarning)
	}
	e.Set(emu.PathMaintenanceEvent, "")
	c := noticetest.Next(t, out)
	if !c.Canceled || c.ID != n.ID {
		t.Fatalf("after the event: %+v, want the notice canceled", c)
	}
	e.Migrate(0, 0)
	if n2 := noticetest.Next(t, out); n2.Canceled || n2.Kind != notice.KindMigration {
		t.Fatalf("second migration: %+v", n2)
	}
	if got := errs.All(); len(got) != 0 {
		t.Errorf("errors counted: %v", got)
	}
}

func TestUnknownEventsAndFaultsAreCounted(t *testing.T) {
	e, s, errs := setup(t, 100*time.Millisecond)
	e.Set(emu.PathMaintenanceEvent, "reboot")
	out, _ := noticetest.Run(t, s)
	noticetest.Eventually(t, func() bool { return errs.Count(digitalocean.ReasonMalformed) >= 2 })
	for _, tc := range []struct {
		mode   emulate.FaultMode
		reason string
	}{{"500", digitalocean.ReasonHTTPStatus}, {emulate.FaultHang, digitalocean.ReasonTimeout}} {
		if err := e.SetFault(emu.PathMaintenanceEvent, tc.mode); err != nil {
			t.Fatal(err)
		}
		noticetest.Eventually(t, func() bool { return errs.Count(tc.reason) >= 2 })
	}
	select {
	case n := <-out:
		t.Fatalf("notice %+v from an unknown event or a fault", n)
	default:
	}
	if err := e.SetFault(emu.PathMaintenanceEvent, emulate.FaultNone); err != nil {
		t.Fatal(err)
	}
	e.Set(emu.PathMaintenanceEvent, "live_migrate\n")
	if n := noticetest.Next(t, out); n.Kind != notice.KindMigration {
		t.Fatalf("after recovery: %+v", n)
	}
}

func TestParseMaintenanceEvent(t *testing.T) {
	for in, want := range map[string]string{"": "", "\n": "", "live_migrate": "live_migrate", " live_migrate\n": "live_migrate"} {
		if got, err := digitalocean.ParseMaintenanceEvent(in); err != nil || got != want {
			t.Errorf("ParseMaintenanceEvent(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"LIVE_MIGRATE", "reboot", "<html>", "live_migrate live_migrate"} {
		if _, err := digitalocean.ParseMaintenanceEvent(in); err == nil {
			t.Errorf("ParseMaintenanceEvent(%q) accepted", in)
		}
	}
}
