package alibaba_test

import (
	"net/http/httptest"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	"github.com/lifeboat-dev/lifeboat/internal/emulate"
	emu "github.com/lifeboat-dev/lifeboat/internal/emulate/alibaba"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notice/alibaba"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/noticetest"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// setup starts an emulator (its clock fixed at t0, so the written release
// time is exact) and a source polling it quickly.
func setup(t *testing.T, hardened bool, tweak func(*alibaba.Config)) (*emu.Server, *alibaba.Source, *noticetest.ErrorLog) {
	t.Helper()
	e := emu.New(emu.Options{Hardened: hardened, Clock: testclock.NewFakeClock(t0), Log: logging.Discard()})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	errs := &noticetest.ErrorLog{}
	cfg := alibaba.Config{
		MetadataURL: srv.URL, Node: "node-a", Interval: 10 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Log: logging.Discard(), OnError: errs.Add,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := alibaba.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e, s, errs
}

func TestReclaimInHardenedModeGivesTheWrittenDeadline(t *testing.T) {
	e, s, errs := setup(t, true, nil)
	out, _ := noticetest.Run(t, s)
	noticetest.Ready(t, s)
	e.Reclaim(0, 5*time.Minute)
	n := noticetest.Next(t, out)
	want := t0.Add(5 * time.Minute)
	if !n.Deadline.Equal(want) || n.Kind != notice.KindSpotInterruption || n.Source != "alibaba" ||
		n.InstanceID != emu.DefaultInstanceID || n.Node != "node-a" || !n.Issued.Equal(t0) {
		t.Fatalf("notice = %+v, want a spot interruption of %s at %s issued %s", n, emu.DefaultInstanceID, want, t0)
	}
	if n.ID != "alibaba-spot/"+emu.DefaultInstanceID+"/2026-03-01T10:05:00Z" {
		t.Errorf("ID = %q", n.ID)
	}
	for _, r := range e.Requests(emu.PathTerminationTime) {
		if !r.Token || r.Status != 200 && r.Status != 404 {
			t.Fatalf("request %+v: want every poll to carry a valid token and be answered", r)
		}
	}
	if got := errs.All(); len(got) != 0 {
		t.Errorf("errors counted: %v", got)
	}
}

func TestNormalModeWithoutTokenEndpoint(t *testing.T) {
	e, s, errs := setup(t, false, nil)
	if err := e.SetFault(emu.PathToken, "404"); err != nil { // an old metadata service: no token endpoint
		t.Fatal(err)
	}
	out, _ := noticetest.Run(t, s)
	e.Reclaim(0, 5*time.Minute)
	if n := noticetest.Next(t, out); !n.Deadline.Equal(t0.Add(5 * time.Minute)) {
		t.Fatalf("deadline = %s", n.Deadline)
	}
	if errs.Count(alibaba.ReasonToken) == 0 {
		t.Error("a refused token request was not counted")
	}
}

func TestFaultsAreCountedAndSurvived(t *testing.T) {
	cases := []struct {
		mode   emulate.FaultMode
		reason string
	}{
		{"500", alibaba.ReasonHTTPStatus},
		{emulate.FaultGarbage, alibaba.ReasonMalformed},
		{emulate.FaultHang, alibaba.ReasonTimeout},
	}
	for _, tc := range cases {
		t.Run(string(tc.mode), func(t *testing.T) {
			e, s, errs := setup(t, false, func(c *alibaba.Config) { c.RequestTimeout = 100 * time.Millisecond })
			e.Reclaim(0, 5*time.Minute)
			if err := e.SetFault(emu.PathTerminationTime, tc.mode); err != nil {
				t.Fatal(err)
			}
			out, _ := noticetest.Run(t, s)
			noticetest.Eventually(t, func() bool { return errs.Count(tc.reason) >= 2 })
			select {
			case n := <-out:
				t.Fatalf("notice %+v while the key misbehaves", n)
			default:
			}
			if err := e.SetFault(emu.PathTerminationTime, emulate.FaultNone); err != nil {
				t.Fatal(err)
			}
			if n := noticetest.Next(t, out); !n.Deadline.Equal(t0.Add(5 * time.Minute)) {
				t.Fatalf("after recovery: deadline %s", n.Deadline)
			}
		})
	}
}

func TestRepeatedAnswersSendOneNotice(t *testing.T) {
	e, s, _ := setup(t, false, nil)
	e.Reclaim(0, 5*time.Minute)
	out, _ := noticetest.Run(t, s)
	noticetest.Next(t, out)
	n0 := len(e.Requests(emu.PathTerminationTime))
	noticetest.Eventually(t, func() bool { return len(e.Requests(emu.PathTerminationTime)) >= n0+5 })
	select {
	case n := <-out:
		t.Fatalf("second notice %+v for the same reclaim", n)
	default:
	}
}

func TestParseTerminationTime(t *testing.T) {
	cases := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2015-01-05T18:02:00Z", time.Date(2015, 1, 5, 18, 2, 0, 0, time.UTC), true},
		{"2020-04-07T17:03:00Z\n", time.Date(2020, 4, 7, 17, 3, 0, 0, time.UTC), true},
		{"2020-04-08T01:03:00+08:00", time.Date(2020, 4, 7, 17, 3, 0, 0, time.UTC), true},
		{"2020-04-07 17:03:00", time.Time{}, false}, // no zone: not guessed
		{"0001-01-01T00:00:00Z", time.Time{}, false},
		{"", time.Time{}, false},
		{"<html>", time.Time{}, false},
	}
	for _, tc := range cases {
		got, err := alibaba.ParseTerminationTime(tc.in)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("ParseTerminationTime(%q) = %s, %v; want %s, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	if _, err := alibaba.New(alibaba.Config{MetadataURL: "ftp://x"}); err == nil {
		t.Error("ftp URL accepted")
	}
	if _, err := alibaba.New(alibaba.Config{Interval: -1}); err == nil {
		t.Error("negative Interval accepted")
	}
}
