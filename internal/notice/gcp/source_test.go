package gcp_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/emulate/gcp"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	source "github.com/lifeboat-dev/lifeboat/internal/notice/gcp"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/noticetest"
)

func TestPreemptionWithinOneLongPoll(t *testing.T) {
	emu, srv := emulator(t, nil)
	out, errs, _ := run(t, source.Config{MetadataURL: srv.URL})
	hanging(t, emu, gcp.PreemptedKey)
	idleETag := etag(t, emu, gcp.PreemptedKey)

	// Idle: the source holds one hanging request and does not poll.
	time.Sleep(2 * time.Second)
	reqs := emu.Requests(gcp.PreemptedKey)
	if len(reqs) > 2 {
		t.Fatalf("%d requests for %s while idle for 2s, want at most 2 (initial GET + one hanging)", len(reqs), gcp.PreemptedKey)
	}
	if w := reqs[len(reqs)-1]; !w.Wait || w.LastETag != idleETag || w.TimeoutSec != "300" {
		t.Fatalf("idle request = %+v, want wait_for_change with last_etag=%s and timeout_sec=300", w, idleETag)
	}

	emu.Preempt(0)
	n := noticetest.Next(t, out)
	if n.Kind != notice.KindPreemption || n.Source != "gcp" || n.Node != "node-a" || n.InstanceID != gcp.DefaultInstanceID || n.Canceled {
		t.Fatalf("notice = %+v", n)
	}
	if want := "gcp-preempted/" + gcp.DefaultInstanceID + "/" + etag(t, emu, gcp.PreemptedKey); n.ID != want {
		t.Errorf("ID = %q, want %q", n.ID, want)
	}
	if !n.Deadline.Equal(n.Detected.Add(30 * time.Second)) {
		t.Errorf("Deadline %v, want Detected %v + 30s", n.Deadline, n.Detected)
	}
	if n.Attributes["zone"] != gcp.DefaultZone || n.Attributes["instance-type"] != gcp.DefaultMachineType {
		t.Errorf("Attributes = %v, want zone and instance-type", n.Attributes)
	}
	// The hanging request itself delivered the change: no further poll was needed.
	reqs = emu.Requests(gcp.PreemptedKey)
	released := reqs[1]
	if len(reqs) > 3 || !released.Wait || released.Outcome != gcp.OutcomeChanged {
		t.Errorf("requests = %+v, want the second (hanging) request released by the change", reqs)
	}
	if got := errs.All(); len(got) != 0 {
		t.Errorf("OnError calls %v, want none", got)
	}
}

func TestMaintenanceEvents(t *testing.T) {
	emu, srv := emulator(t, nil)
	out, _, _ := run(t, source.Config{MetadataURL: srv.URL, MaintenanceNotice: 45 * time.Second})
	hanging(t, emu, gcp.MaintenanceKey)
	prefix := "gcp-maintenance/" + gcp.DefaultInstanceID + "/"

	emu.Maintenance(gcp.MaintenanceMigrate, 0)
	mig := noticetest.Next(t, out)
	if mig.Kind != notice.KindMigration || mig.ID != prefix+gcp.MaintenanceMigrate+"/"+etag(t, emu, gcp.MaintenanceKey) ||
		!mig.Deadline.Equal(mig.Detected.Add(45*time.Second)) {
		t.Fatalf("migration notice = %+v", mig)
	}
	hanging(t, emu, gcp.MaintenanceKey)
	emu.Maintenance(gcp.MaintenanceNone, 0)
	if c := noticetest.Next(t, out); !c.Canceled || c.ID != mig.ID || c.Kind != notice.KindMigration {
		t.Fatalf("after NONE: %+v, want the migration notice canceled", c)
	}

	hanging(t, emu, gcp.MaintenanceKey)
	emu.Maintenance(gcp.MaintenanceMigrate, 0)
	mig2 := noticetest.Next(t, out)
	if mig2.ID == mig.ID {
		t.Errorf("a second migration reused ID %q", mig.ID)
	}
	hanging(t, emu, gcp.MaintenanceKey)
	emu.Maintenance(gcp.MaintenanceTerminate, 0)
	if c := noticetest.Next(t, out); !c.Canceled || c.ID != mig2.ID {
		t.Fatalf("MIGRATE -> TERMINATE: first %+v, want the migration canceled", c)
	}
	term := noticetest.Next(t, out)
	if term.Kind != notice.KindHostMaintenance || !strings.HasPrefix(term.ID, prefix+gcp.MaintenanceTerminate+"/") || term.Canceled {
		t.Fatalf("terminate notice = %+v", term)
	}
	none(t, out)
}

func TestPreemptionIDStableAcrossRestart(t *testing.T) {
	emu, srv := emulator(t, nil)
	emu.Preempt(0)
	out, _, stop := run(t, source.Config{MetadataURL: srv.URL})
	first := noticetest.Next(t, out)
	stop()
	out2, _, _ := run(t, source.Config{MetadataURL: srv.URL})
	if again := noticetest.Next(t, out2); again.ID != first.ID || again.Kind != notice.KindPreemption {
		t.Fatalf("after restart: %q, before %q: the agent could not recognise the handled notice", again.ID, first.ID)
	}
	// Preempted again later (a stopped spot VM restarted): a new ID.
	hanging(t, emu, gcp.PreemptedKey)
	emu.Set(gcp.PreemptedKey, gcp.PreemptedFalse)
	if c := noticetest.Next(t, out2); !c.Canceled || c.ID != first.ID {
		t.Fatalf("after FALSE: %+v, want canceled %s", c, first.ID)
	}
	hanging(t, emu, gcp.PreemptedKey)
	emu.Preempt(0)
	if n := noticetest.Next(t, out2); n.ID == first.ID || n.Canceled {
		t.Fatalf("second preemption %+v reuses ID %s", n, first.ID)
	}
}

func TestFaultsSurvivedWithBackoff(t *testing.T) {
	preempted := gcp.MetadataPrefix + gcp.PreemptedKey
	for _, tc := range []struct {
		mode   gcp.FaultMode
		reason string
	}{
		{gcp.Fault500, source.ReasonHTTPStatus},
		{gcp.FaultGarbage, source.ReasonMalformed},
		{gcp.FaultHang, source.ReasonTimeout},
		{"403", source.ReasonHTTPStatus},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			emu, srv := emulator(t, nil)
			if err := emu.SetFault(preempted, tc.mode); err != nil {
				t.Fatal(err)
			}
			const maxBackoff = 200 * time.Millisecond
			out, errs, _ := run(t, source.Config{
				MetadataURL: srv.URL, MinBackoff: 20 * time.Millisecond, MaxBackoff: maxBackoff,
				RequestTimeout: 200 * time.Millisecond, WaitTimeout: time.Second,
			})
			noticetest.Eventually(t, func() bool { return errs.Count(tc.reason) >= 3 })
			before, start := len(emu.Requests(gcp.PreemptedKey)), time.Now()
			time.Sleep(time.Second)
			made, elapsed := len(emu.Requests(gcp.PreemptedKey))-before, time.Since(start)
			if limit := int(elapsed/maxBackoff) + 8; made > limit {
				t.Fatalf("%d requests in %s while failing, want at most %d (bounded backoff, no hot loop)", made, elapsed, limit)
			}
			if err := emu.SetFault(preempted, gcp.FaultNone); err != nil {
				t.Fatal(err)
			}
			emu.Preempt(0)
			if n := noticetest.Next(t, out); n.Kind != notice.KindPreemption {
				t.Fatalf("after recovery: %+v", n)
			}
			for _, r := range errs.All() {
				if r != tc.reason {
					t.Errorf("OnError(%q), want only %q", r, tc.reason)
				}
			}
		})
	}
}

func TestMalformedValueCounted(t *testing.T) {
	emu, srv := emulator(t, nil)
	out, errs, _ := run(t, source.Config{MetadataURL: srv.URL})
	hanging(t, emu, gcp.MaintenanceKey)
	emu.Set(gcp.MaintenanceKey, "SOMETHING_NEW")
	noticetest.Eventually(t, func() bool { return errs.Count(source.ReasonMalformed) == 1 })
	hanging(t, emu, gcp.MaintenanceKey)
	none(t, out)
	emu.Maintenance(gcp.MaintenanceTerminate, 0)
	if n := noticetest.Next(t, out); n.Kind != notice.KindHostMaintenance {
		t.Fatalf("got %+v", n)
	}
}

func TestMetadataURLWithPathPrefixWinsOverEnvironment(t *testing.T) {
	t.Setenv("GCE_METADATA_HOST", "127.0.0.1:1") // would be refused
	emu, srv := emulator(t, func(h http.Handler) http.Handler { return http.StripPrefix("/gce", h) })
	out, _, _ := run(t, source.Config{MetadataURL: srv.URL + "/gce/"})
	hanging(t, emu, gcp.PreemptedKey)
	emu.Preempt(0)
	if n := noticetest.Next(t, out); n.Kind != notice.KindPreemption {
		t.Fatalf("got %+v", n)
	}
	if got := os.Getenv("GCE_METADATA_HOST"); got != "127.0.0.1:1" {
		t.Errorf("GCE_METADATA_HOST changed to %q", got)
	}
}

func TestEmptyMetadataURLUsesLibraryDefault(t *testing.T) {
	emu, srv := emulator(t, nil)
	t.Setenv("GCE_METADATA_HOST", strings.TrimPrefix(srv.URL, "http://"))
	out, _, _ := run(t, source.Config{})
	hanging(t, emu, gcp.PreemptedKey)
	emu.Preempt(0)
	if n := noticetest.Next(t, out); n.Kind != notice.KindPreemption {
		t.Fatalf("got %+v", n)
	}
}

func TestInstanceIDFallsBackToNode(t *testing.T) {
	emu, srv := emulator(t, nil)
	if err := emu.SetFault(gcp.MetadataPrefix+"instance/id", "404"); err != nil {
		t.Fatal(err)
	}
	emu.Preempt(0)
	out, errs, _ := run(t, source.Config{MetadataURL: srv.URL, Node: "node-x"})
	if n := noticetest.Next(t, out); !strings.HasPrefix(n.ID, "gcp-preempted/node-x/") {
		t.Fatalf("ID = %q, want it to name the node", n.ID)
	}
	if errs.Count(source.ReasonNotDefined) != 1 {
		t.Errorf("OnError = %v, want one not-defined", errs.All())
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]source.Config{
		"MetadataURL": {MetadataURL: "metadata.google.internal"},
		"WaitTimeout": {WaitTimeout: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := source.New(cfg)
			var ce *source.ConfigError
			if !errors.As(err, &ce) || ce.Field != name {
				t.Fatalf("New = %v, want *ConfigError for %s", err, name)
			}
		})
	}
}

func TestReadOnceAfterBothKeysRead(t *testing.T) {
	_, srv := emulator(t, nil)
	src, err := source.New(source.Config{MetadataURL: srv.URL, Node: "node-a", Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = src.Run(ctx, make(chan notice.Notice, 16)) }()
	select {
	case <-src.ReadOnce():
	case <-time.After(wait):
		t.Fatal("ReadOnce not closed after both keys were read")
	}
}
