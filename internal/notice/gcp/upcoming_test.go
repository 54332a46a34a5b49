package gcp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/emulate/gcp"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	source "github.com/lifeboat-dev/lifeboat/internal/notice/gcp"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/noticetest"
)

func TestParseUpcomingMaintenance(t *testing.T) {
	start := time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		in    string
		found bool
		ok    bool
	}{
		{"none", "NONE", false, true},
		{"empty", "\n", false, true},
		{"not yet", `{ "error": "no notifications have been received yet, try again later" }`, false, true},
		{"snake_case (documentation sample)", `{"type":"SCHEDULED","maintenance_status":"PENDING","window_start_time":"2026-03-04T05:00:00Z",` +
			`"window_end_time":"2026-03-04T09:00:00Z","latest_window_start_time":"2026-03-10T05:00:00Z","can_reschedule":true,"maintenance_reasons":["HOST_UPGRADE"]}`, true, true},
		{"camelCase (Compute API)", `{"type":"SCHEDULED","maintenanceStatus":"PENDING","windowStartTime":"2026-03-04T06:00:00+01:00",` +
			`"windowEndTime":"2026-03-04T09:00:00Z","canReschedule":true}`, true, true},
		{"legacy startTime", `{"type":"UNSCHEDULED","startTime":"2026-03-04T05:00:00Z"}`, true, true},
		{"no window", `{"type":"SCHEDULED","maintenance_status":"PENDING"}`, false, false},
		{"bad time", `{"window_start_time":"tomorrow"}`, false, false},
		{"wrong type", `{"window_start_time":"2026-03-04T05:00:00Z","can_reschedule":"yes"}`, false, false},
		{"garbage", `<html>`, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, found, err := source.ParseUpcomingMaintenance(tc.in)
			if (err == nil) != tc.ok || found != tc.found {
				t.Fatalf("= %+v, %v, %v; want found %v ok %v", m, found, err, tc.found, tc.ok)
			}
			if found && !m.WindowStart.Equal(start) {
				t.Errorf("window start %s, want %s", m.WindowStart, start)
			}
		})
	}
	m, _, _ := source.ParseUpcomingMaintenance(cases[3].in)
	if m.Status != "PENDING" || !m.CanReschedule || len(m.Reasons) != 1 || m.WindowEnd.IsZero() || m.LatestWindowStart.IsZero() {
		t.Errorf("snake_case fields not all read: %+v", m)
	}
}

func TestPlanUpcoming(t *testing.T) {
	now := time.Date(2026, 3, 4, 3, 0, 0, 0, time.UTC)
	m := source.UpcomingMaintenance{Status: "PENDING", WindowStart: now.Add(2 * time.Hour)}
	cases := []struct {
		name     string
		m        source.UpcomingMaintenance
		policy   string
		now      time.Time
		act      bool
		kind     notice.Kind
		deadline time.Time
	}{
		{"too early", m, "TERMINATE", now, false, notice.KindHostMaintenance, m.WindowStart},
		{"no lead: at once", m, "TERMINATE", now, true, notice.KindHostMaintenance, m.WindowStart},
		{"within the lead", m, "TERMINATE\n", now.Add(time.Hour), true, notice.KindHostMaintenance, m.WindowStart},
		{"migrate VM", m, "MIGRATE", now.Add(90 * time.Minute), true, notice.KindMigration, m.WindowStart},
		{"unknown policy plans a stop", m, "", now.Add(90 * time.Minute), true, notice.KindHostMaintenance, m.WindowStart},
		{"window begun", m, "TERMINATE", now.Add(3 * time.Hour), true, notice.KindHostMaintenance, now.Add(3*time.Hour + time.Minute)},
		{"ongoing", source.UpcomingMaintenance{Status: "ONGOING", WindowStart: now.Add(48 * time.Hour)}, "TERMINATE", now, true, notice.KindHostMaintenance, now.Add(48 * time.Hour)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lead := time.Hour
			if strings.HasPrefix(tc.name, "no lead") {
				lead = 0
			}
			p := source.PlanUpcoming(tc.m, tc.policy, tc.now, lead, time.Minute)
			if p.Act != tc.act || p.Kind != tc.kind || !p.Deadline.Equal(tc.deadline) {
				t.Errorf("PlanUpcoming = %+v, want act %v kind %s deadline %s", p, tc.act, tc.kind, tc.deadline)
			}
		})
	}
}

// A TERMINATE maintenance within the lead becomes a host-maintenance notice
// with the window start as deadline; a failing or 404 read changes nothing;
// NONE withdraws it.
func TestUpcomingMaintenanceFromTheEmulator(t *testing.T) {
	emu, srv := emulator(t, nil)
	out, errs, _ := run(t, source.Config{
		MetadataURL: srv.URL, UpcomingInterval: 20 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, RequestTimeout: 200 * time.Millisecond,
	})
	noticetest.Eventually(t, func() bool { return len(emu.Requests(source.KeyUpcomingMaintenance)) >= 2 }) // 404: not served
	if n := errs.All(); len(n) != 0 {
		t.Fatalf("a 404 for upcoming-maintenance was counted: %v", n)
	}
	start := time.Now().Add(30 * time.Minute).UTC().Truncate(time.Second)
	emu.Set(source.KeyUpcomingMaintenance, `{"type":"SCHEDULED","maintenanceStatus":"PENDING","windowStartTime":"`+start.Format(time.RFC3339)+`"}`)
	n := noticetest.Next(t, out)
	if n.Kind != notice.KindHostMaintenance || !n.Deadline.Equal(start) || n.Canceled ||
		n.ID != "gcp-upcoming-maintenance/"+gcp.DefaultInstanceID+"/"+start.Format(time.RFC3339) {
		t.Fatalf("notice = %+v, want host-maintenance at %s", n, start)
	}
	if err := emu.SetFault(gcp.MetadataPrefix+source.KeyUpcomingMaintenance, "503"); err != nil {
		t.Fatal(err)
	}
	noticetest.Eventually(t, func() bool { return errs.Count(source.ReasonHTTPStatus) >= 2 })
	if err := emu.SetFault(gcp.MetadataPrefix+source.KeyUpcomingMaintenance, gcp.FaultNone); err != nil {
		t.Fatal(err)
	}
	emu.Set(source.KeyUpcomingMaintenance, "{garbage")
	noticetest.Eventually(t, func() bool { return errs.Count(source.ReasonMalformed) >= 1 })
	emu.Set(source.KeyUpcomingMaintenance, "NONE")
	c := noticetest.Next(t, out)
	if !c.Canceled || c.ID != n.ID || !strings.Contains(c.Reason, "no maintenance") {
		t.Fatalf("after NONE: %+v, want %s canceled", c, n.ID)
	}
}

// A Spot VM with a 120 s preemptionNoticeDuration: the configured window is
// the deadline, not 30 s.
func TestPreemptionNoticeOf120s(t *testing.T) {
	emu, srv := emulator(t, nil)
	out, _, _ := run(t, source.Config{MetadataURL: srv.URL, PreemptionNotice: 120 * time.Second})
	hanging(t, emu, gcp.PreemptedKey)
	emu.Preempt(0)
	n := noticetest.Next(t, out)
	if n.Kind != notice.KindPreemption || n.Deadline.Sub(n.Detected) != 120*time.Second {
		t.Fatalf("notice %+v: deadline %s after detection, want 120s", n, n.Deadline.Sub(n.Detected))
	}
}
