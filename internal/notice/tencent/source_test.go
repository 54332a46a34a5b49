package tencent_test

import (
	"net/http/httptest"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	"github.com/lifeboat-dev/lifeboat/internal/emulate"
	emu "github.com/lifeboat-dev/lifeboat/internal/emulate/tencent"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/noticetest"
	"github.com/lifeboat-dev/lifeboat/internal/notice/tencent"
)

var t0 = time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC) // 07:30 on 2 March in UTC+8

// setup starts an emulator (clock fixed at t0) and a source polling it
// quickly; requestTimeout is short only in tests that inject hangs (a loaded
// machine may take longer than 100 ms to answer).
func setup(t *testing.T, requestTimeout time.Duration) (*emu.Server, *tencent.Source, *noticetest.ErrorLog) {
	t.Helper()
	e := emu.New(emu.Options{Clock: testclock.NewFakeClock(t0), Log: logging.Discard()})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	errs := &noticetest.ErrorLog{}
	s, err := tencent.New(tencent.Config{
		MetadataURL: srv.URL, Node: "node-t", Interval: 10 * time.Millisecond, RequestTimeout: requestTimeout,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Log: logging.Discard(), OnError: errs.Add,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e, s, errs
}

// The emulator writes the reclaim time as CVM does, in UTC+8 without a
// zone and across a date boundary; the notice's deadline is the same
// instant, not eight hours off.
func TestReclaimDeadlineIsReadAsUTCPlus8(t *testing.T) {
	e, s, errs := setup(t, 0)
	out, _ := noticetest.Run(t, s)
	noticetest.Ready(t, s)
	e.Reclaim(0, 2*time.Minute)
	if v, _ := e.Value(emu.PathTerminationTime); v != "2026-03-02 07:32:00" {
		t.Fatalf("emulator wrote %q", v)
	}
	n := noticetest.Next(t, out)
	if want := t0.Add(2 * time.Minute); !n.Deadline.Equal(want) {
		t.Fatalf("deadline = %s, want %s", n.Deadline, want)
	}
	if n.Kind != notice.KindSpotInterruption || n.InstanceID != emu.DefaultInstanceID || n.Source != "tencent" {
		t.Errorf("notice = %+v", n)
	}
	if got := errs.All(); len(got) != 0 {
		t.Errorf("errors counted: %v", got)
	}
}

func TestFaultsAreCountedAndSurvived(t *testing.T) {
	for _, tc := range []struct {
		mode   emulate.FaultMode
		reason string
	}{
		{"503", tencent.ReasonHTTPStatus},
		{emulate.FaultGarbage, tencent.ReasonMalformed},
		{emulate.FaultHang, tencent.ReasonTimeout},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			e, s, errs := setup(t, 100*time.Millisecond)
			e.Reclaim(0, 2*time.Minute)
			if err := e.SetFault(emu.PathTerminationTime, tc.mode); err != nil {
				t.Fatal(err)
			}
			out, _ := noticetest.Run(t, s)
			noticetest.Eventually(t, func() bool { return errs.Count(tc.reason) >= 2 })
			if err := e.SetFault(emu.PathTerminationTime, emulate.FaultNone); err != nil {
				t.Fatal(err)
			}
			if n := noticetest.Next(t, out); !n.Deadline.Equal(t0.Add(2 * time.Minute)) {
				t.Fatalf("after recovery: deadline %s", n.Deadline)
			}
		})
	}
}

func TestParseTerminationTime(t *testing.T) {
	cases := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2018-08-18 12:05:33", time.Date(2018, 8, 18, 4, 5, 33, 0, time.UTC), true}, // the documented example
		{"2018-08-18 05:00:00\n", time.Date(2018, 8, 17, 21, 0, 0, 0, time.UTC), true},
		{"2018-08-18T12:05:33Z", time.Date(2018, 8, 18, 12, 5, 33, 0, time.UTC), true}, // names its zone
		{"2018-08-18", time.Time{}, false},
		{"0001-01-01 00:00:00", time.Time{}, false},
		{"", time.Time{}, false},
		{"yesterday", time.Time{}, false},
	}
	for _, tc := range cases {
		got, err := tencent.ParseTerminationTime(tc.in)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("ParseTerminationTime(%q) = %s, %v; want %s, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
