package aws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	awsemu "github.com/lifeboat-dev/lifeboat/internal/emulate/aws"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

func TestSpotInterruption(t *testing.T) {
	tests := []struct {
		action  string
		warning time.Duration
	}{
		{awsemu.SpotTerminate, 2 * time.Minute},
		{awsemu.SpotStop, 2 * time.Minute},
		{awsemu.SpotHibernate, 90 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.action, func(t *testing.T) {
			e := newEnv(t, awsemu.Options{InstanceType: "c5.xlarge", Zone: "eu-central-1c"})
			sp, err := e.emu.ScheduleSpot(30*time.Second, tc.action, tc.warning)
			if err != nil {
				t.Fatal(err)
			}
			var errs errCounter
			ch := run(t, fastConfig(e.url, &errs))
			// Nothing until the emulator's clock reaches the notice time.
			noMoreNotices(t, e, ch, pathInstanceAction, 5)
			before := time.Now()
			e.clock.Step(30 * time.Second)
			n := next(t, ch)
			want := notice.Notice{
				ID: notice.EventID(notice.KindSpotInterruption, testInstance, sp.Time), Source: "aws", Kind: notice.KindSpotInterruption, Node: "node-a",
				InstanceID: testInstance, Deadline: sp.Time, Issued: sp.Time.Add(-2 * time.Minute),
			}
			if n.ID != want.ID || n.Source != want.Source || n.Kind != want.Kind || n.Node != want.Node ||
				n.InstanceID != want.InstanceID || !n.Deadline.Equal(want.Deadline) || !n.Issued.Equal(want.Issued) ||
				n.Canceled {
				t.Fatalf("notice %+v\nwant %+v", n, want)
			}
			if n.Detected.Before(before) || n.Detected.After(time.Now()) {
				t.Errorf("Detected %v not within the test's wall time", n.Detected)
			}
			wantAttrs := map[string]string{
				"action": tc.action, "instance-type": "c5.xlarge", "zone": "eu-central-1c", "region": "eu-central-1",
			}
			for k, v := range wantAttrs {
				if n.Attributes[k] != v {
					t.Errorf("attribute %s = %q, want %q (all: %v)", k, n.Attributes[k], v, n.Attributes)
				}
			}
			noMoreNotices(t, e, ch, pathInstanceAction, 10) // sent once
		})
	}
}

func TestDetectedComesFromInjectedClock(t *testing.T) {
	e := newEnv(t, awsemu.Options{})
	if _, err := e.emu.ScheduleSpot(0, "", 0); err != nil {
		t.Fatal(err)
	}
	var errs errCounter
	cfg := fastConfig(e.url, &errs)
	fc := testclock.NewFakeClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	cfg.Clock = fc
	n := next(t, run(t, cfg)) // the first read happens at once, without a timer
	if !n.Detected.Equal(fc.Now()) {
		t.Fatalf("Detected %v, want the injected clock's %v", n.Detected, fc.Now())
	}
}

func TestRebalance(t *testing.T) {
	e := newEnv(t, awsemu.Options{})
	var errs errCounter
	ch := run(t, fastConfig(e.url, &errs))
	at, err := e.emu.ScheduleRebalance(0)
	if err != nil {
		t.Fatal(err)
	}
	n := next(t, ch)
	if n.ID != notice.EventID(notice.KindRebalance, testInstance, at) || n.Kind != notice.KindRebalance || !n.Issued.Equal(at) ||
		!n.Deadline.IsZero() || n.InstanceID != testInstance {
		t.Fatalf("notice %+v", n)
	}
	noMoreNotices(t, e, ch, pathRebalance, 10)
}

func TestMaintenanceEvents(t *testing.T) {
	tests := []struct {
		code     string
		wantKind notice.Kind
	}{
		{awsemu.CodeInstanceReboot, notice.KindScheduledReboot},
		{awsemu.CodeSystemReboot, notice.KindScheduledReboot},
		{awsemu.CodeSystemMaintenance, notice.KindScheduledReboot},
		{awsemu.CodeInstanceRetirement, notice.KindScheduledTermination},
		{awsemu.CodeInstanceStop, notice.KindScheduledTermination},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			e := newEnv(t, awsemu.Options{})
			var errs errCounter
			ch := run(t, fastConfig(e.url, &errs))
			ev, err := e.emu.ScheduleMaintenance(awsemu.MaintenanceRequest{Code: tc.code, In: time.Hour, Duration: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			n := next(t, ch)
			wantDeadline := emuStart.Add(time.Hour)
			if n.ID != ev.EventID || n.Kind != tc.wantKind || !n.Deadline.Equal(wantDeadline) || n.Canceled ||
				n.Attributes["code"] != tc.code || n.InstanceID != testInstance {
				t.Fatalf("notice %+v, want ID %s kind %s deadline %v", n, ev.EventID, tc.wantKind, wantDeadline)
			}
			noMoreNotices(t, e, ch, pathMaintenanceScheduled, 5)
			if _, err := e.emu.CancelMaintenance(ev.EventID); err != nil {
				t.Fatal(err)
			}
			c := next(t, ch)
			if c.ID != ev.EventID || !c.Canceled || c.Kind != tc.wantKind {
				t.Fatalf("cancel notice %+v", c)
			}
			noMoreNotices(t, e, ch, pathMaintenanceScheduled, 5)
		})
	}
}

func TestMaintenanceCompletion(t *testing.T) {
	e := newEnv(t, awsemu.Options{})
	var errs errCounter
	ch := run(t, fastConfig(e.url, &errs))
	ev, err := e.emu.ScheduleMaintenance(awsemu.MaintenanceRequest{
		Code: awsemu.CodeSystemReboot, In: time.Minute, Duration: 10 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := next(t, ch); n.ID != ev.EventID || n.Canceled {
		t.Fatalf("notice %+v", n)
	}
	e.clock.Step(11 * time.Minute) // past NotAfter: the event completes and moves to the history
	if n := next(t, ch); n.ID != ev.EventID || !n.Canceled || n.Attributes["state"] != awsemu.StateCompleted {
		t.Fatalf("completion notice %+v", n)
	}
}

// After a reboot lifeboat starts fresh; an event that completed meanwhile is
// only in the history, and must still be reported as over.
func TestMaintenanceHistoryReadAtStart(t *testing.T) {
	e := newEnv(t, awsemu.Options{})
	ev, err := e.emu.ScheduleMaintenance(awsemu.MaintenanceRequest{Code: awsemu.CodeSystemReboot, State: awsemu.StateCompleted})
	if err != nil {
		t.Fatal(err)
	}
	var errs errCounter
	ch := run(t, fastConfig(e.url, &errs))
	if n := next(t, ch); n.ID != ev.EventID || !n.Canceled || n.Kind != notice.KindScheduledReboot {
		t.Fatalf("notice %+v", n)
	}
	reads := e.count(pathMaintenanceHistory)
	noMoreNotices(t, e, ch, pathMaintenanceScheduled, 10)
	if got := e.count(pathMaintenanceHistory); got != reads {
		t.Errorf("history read %d more times with nothing pending, want once at start", got-reads)
	}
}

func TestASGTermination(t *testing.T) {
	e := newEnv(t, awsemu.Options{})
	var errs errCounter
	ch := run(t, fastConfig(e.url, &errs))
	noMoreNotices(t, e, ch, pathTargetLifecycle, 5) // InService is nothing
	post(t, e, "asg", `{"state":"Terminated"}`)     // through the control endpoint
	n := next(t, ch)
	if n.ID != notice.EventID(notice.KindASGTermination, testInstance, time.Time{}) || n.Kind != notice.KindASGTermination || n.InstanceID != testInstance {
		t.Fatalf("notice %+v", n)
	}
	noMoreNotices(t, e, ch, pathTargetLifecycle, 10)
}

func TestIMDSv1Fallback(t *testing.T) {
	tests := []struct {
		name        string
		allowV1     bool
		wantNotice  bool
		wantReason  string
		emuAllowsV1 bool
	}{
		{"tokens unavailable, v1 not allowed", false, false, ReasonToken, true},
		{"tokens unavailable, v1 allowed", true, true, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, awsemu.Options{IMDSv1: tc.emuAllowsV1})
			// As behind a proxy or container that cannot PUT: no session tokens.
			if err := e.emu.SetFault(awsemu.TokenPath, "403"); err != nil {
				t.Fatal(err)
			}
			if _, err := e.emu.ScheduleSpot(0, "", 0); err != nil {
				t.Fatal(err)
			}
			var errs errCounter
			cfg := fastConfig(e.url, &errs)
			cfg.AllowIMDSv1 = tc.allowV1
			ch := run(t, cfg)
			if tc.wantNotice {
				if n := next(t, ch); n.Kind != notice.KindSpotInterruption {
					t.Fatalf("notice %+v", n)
				}
				if got := e.count(pathInstanceAction); got == 0 {
					t.Fatal("no token-less reads")
				}
				return
			}
			eventually(t, "token errors counted", func() bool { return errs.get(tc.wantReason) >= 3 })
			if got := e.count(pathInstanceAction); got != 0 {
				t.Fatalf("%d token-less reads of instance-action with IMDSv1 fallback disabled", got)
			}
			select {
			case n := <-ch:
				t.Fatalf("notice without a token: %+v", n)
			default:
			}
		})
	}
}

func TestIMDSv2OnlyEmulatorRefusesTokenlessSource(t *testing.T) {
	// The emulator without IMDSv1 answers token-less reads with 401; a source
	// allowed to fall back still gets a token and works.
	e := newEnv(t, awsemu.Options{})
	if _, err := e.emu.ScheduleSpot(0, "", 0); err != nil {
		t.Fatal(err)
	}
	var errs errCounter
	cfg := fastConfig(e.url, &errs)
	cfg.AllowIMDSv1 = true
	if n := next(t, run(t, cfg)); n.Kind != notice.KindSpotInterruption {
		t.Fatalf("notice %+v", n)
	}
	if e.count("PUT "+awsemu.TokenPath) == 0 {
		t.Fatal("no session token requested")
	}
}

func TestTokenExpirySurvived(t *testing.T) {
	tests := []struct {
		name   string
		expire func(e *env)
	}{
		{"TTL runs out", func(e *env) { e.clock.Step(time.Minute + time.Second) }},
		{"tokens revoked", func(e *env) { e.emu.ExpireTokens() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, awsemu.Options{TokenTTLMax: time.Minute})
			var errs errCounter
			ch := run(t, fastConfig(e.url, &errs))
			eventually(t, "first token", func() bool { return e.count(pathInstanceAction) >= 3 })
			puts := e.count("PUT " + awsemu.TokenPath)
			tc.expire(e)
			if _, err := e.emu.ScheduleSpot(0, "", 0); err != nil {
				t.Fatal(err)
			}
			if n := next(t, ch); n.Kind != notice.KindSpotInterruption {
				t.Fatalf("notice %+v", n)
			}
			if e.count("PUT "+awsemu.TokenPath) <= puts {
				t.Error("no new session token after expiry")
			}
			if got := errs.get(ReasonHTTPStatus); got != 0 {
				t.Errorf("%d status errors surfaced; the 401 should be retried with a new token", got)
			}
		})
	}
}

func TestFaultsAreCountedAndPollingRecovers(t *testing.T) {
	tests := []struct {
		name       string
		mode       awsemu.FaultMode
		wantReason string
	}{
		{"garbage JSON", awsemu.FaultGarbage, ReasonMalformed},
		{"server error", "500", ReasonHTTPStatus},
		{"hanging endpoint", awsemu.FaultHang, ReasonTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, awsemu.Options{})
			path := awsemu.MetadataPrefix + pathInstanceAction
			if err := e.emu.SetFault(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			var errs errCounter
			cfg := fastConfig(e.url, &errs)
			cfg.RequestTimeout = 300 * time.Millisecond
			ch := run(t, cfg)
			eventually(t, tc.wantReason+" errors", func() bool { return errs.get(tc.wantReason) >= 3 })
			// The other pollers keep working meanwhile.
			if err := e.emu.ScheduleLifecycleState(awsemu.LifecycleTerminated, 0); err != nil {
				t.Fatal(err)
			}
			if n := next(t, ch); n.Kind != notice.KindASGTermination {
				t.Fatalf("notice %+v", n)
			}
			if err := e.emu.SetFault(path, awsemu.FaultNone); err != nil {
				t.Fatal(err)
			}
			if _, err := e.emu.ScheduleSpot(0, "", 0); err != nil {
				t.Fatal(err)
			}
			if n := next(t, ch); n.Kind != notice.KindSpotInterruption {
				t.Fatalf("after recovery: notice %+v", n)
			}
		})
	}
}

func TestGarbageEverywhere(t *testing.T) {
	e := newEnv(t, awsemu.Options{IMDSv1: true})
	if err := e.emu.SetFault(awsemu.MetadataPrefix, awsemu.FaultGarbage); err != nil {
		t.Fatal(err)
	}
	var errs errCounter
	cfg := fastConfig(e.url, &errs)
	ch := run(t, cfg)
	eventually(t, "malformed errors on every poller", func() bool { return errs.get(ReasonMalformed) >= 9 })
	select {
	case n := <-ch:
		t.Fatalf("notice from garbage: %+v", n)
	default:
	}
}

func TestDeadServer(t *testing.T) {
	e := newEnv(t, awsemu.Options{})
	var errs errCounter
	cfg := fastConfig(e.url, &errs)
	ch := run(t, cfg)
	eventually(t, "polling", func() bool { return e.count(pathInstanceAction) >= 2 })
	addr := e.kill()
	eventually(t, "unreachable errors", func() bool { return errs.get(ReasonUnreachable) >= 3 })
	// No hot loop: over one second dead, three pollers at 20 ms would fail
	// ~150 times without backoff; with backoff to 200 ms it is ~20.
	n0, t0 := errs.total(), time.Now()
	time.Sleep(time.Second)
	if got, elapsed := errs.total()-n0, time.Since(t0); got > 60 {
		t.Errorf("%d failed reads in %v while the server was dead: no backoff", got, elapsed)
	}
	e.revive(t, addr)
	if _, err := e.emu.ScheduleSpot(0, "", 0); err != nil {
		t.Fatal(err)
	}
	if n := next(t, ch); n.Kind != notice.KindSpotInterruption || n.InstanceID != testInstance {
		t.Fatalf("after revival: notice %+v", n)
	}
}

func TestNoHotLoopOnServerErrors(t *testing.T) {
	e := newEnv(t, awsemu.Options{})
	if err := e.emu.SetFault(awsemu.MetadataPrefix, "500"); err != nil {
		t.Fatal(err)
	}
	var errs errCounter
	ch := run(t, fastConfig(e.url, &errs))
	eventually(t, "errors", func() bool { return errs.get(ReasonHTTPStatus) >= 6 })
	// Each failed read is two requests (one retry). Without backoff: ~300/s.
	n0, t0 := e.total(), time.Now()
	time.Sleep(time.Second)
	if got, elapsed := e.total()-n0, time.Since(t0); got > 120 {
		t.Errorf("%d requests in %v against a failing server: no backoff", got, elapsed)
	}
	if err := e.emu.SetFault(awsemu.MetadataPrefix, awsemu.FaultNone); err != nil {
		t.Fatal(err)
	}
	if _, err := e.emu.ScheduleRebalance(0); err != nil {
		t.Fatal(err)
	}
	if n := next(t, ch); n.Kind != notice.KindRebalance {
		t.Fatalf("after recovery: notice %+v", n)
	}
}

func TestLegacyTerminationTime(t *testing.T) {
	for _, poll := range []bool{false, true} {
		t.Run(map[bool]string{false: "not polled", true: "polled"}[poll], func(t *testing.T) {
			e := newEnv(t, awsemu.Options{})
			// An old metadata proxy without instance-action.
			if err := e.emu.SetFault(awsemu.MetadataPrefix+pathInstanceAction, "404"); err != nil {
				t.Fatal(err)
			}
			sp, err := e.emu.ScheduleSpot(0, awsemu.SpotTerminate, 0)
			if err != nil {
				t.Fatal(err)
			}
			var errs errCounter
			cfg := fastConfig(e.url, &errs)
			cfg.PollTerminationTime = poll
			ch := run(t, cfg)
			if !poll {
				noMoreNotices(t, e, ch, pathInstanceAction, 10)
				if e.count(pathTerminationTime) != 0 {
					t.Fatal("termination-time read although not configured")
				}
				return
			}
			n := next(t, ch)
			if n.ID != notice.EventID(notice.KindSpotInterruption, testInstance, sp.Time) || !n.Deadline.Equal(sp.Time) ||
				n.Attributes["action"] != "terminate" {
				t.Fatalf("notice %+v", n)
			}
		})
	}
}

func TestNewRejectsBadEndpoint(t *testing.T) {
	for _, ep := range []string{"169.254.169.254", "ftp://x", "http://"} {
		_, err := New(Config{Endpoint: ep})
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != "Endpoint" {
			t.Errorf("New(%q) error %v, want a ConfigError for Endpoint", ep, err)
		}
	}
	s, err := New(Config{})
	if err != nil || s.cfg.Endpoint != DefaultEndpoint || s.cfg.SpotInterval != DefaultSpotInterval || s.Name() != "aws" {
		t.Fatalf("defaults: %+v, %v", s, err)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// records returns the log records about one metadata path.
func (s *syncBuffer) records(t *testing.T, path string) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r["path"] == path {
			recs = append(recs, r)
		}
	}
	return recs
}

func TestFailuresAreLoggedOnceThenQuietly(t *testing.T) {
	e := newEnv(t, awsemu.Options{})
	if err := e.emu.SetFault(awsemu.MetadataPrefix+pathInstanceAction, awsemu.FaultGarbage); err != nil {
		t.Fatal(err)
	}
	var errs errCounter
	var logs syncBuffer
	cfg := fastConfig(e.url, &errs)
	cfg.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_ = run(t, cfg)
	eventually(t, "malformed reads", func() bool { return errs.get(ReasonMalformed) >= 4 })
	if err := e.emu.SetFault(awsemu.MetadataPrefix+pathInstanceAction, awsemu.FaultNone); err != nil {
		t.Fatal(err)
	}
	eventually(t, "recovery logged", func() bool {
		recs := logs.records(t, pathInstanceAction)
		return len(recs) > 0 && recs[len(recs)-1]["level"] == "INFO"
	})
	recs := logs.records(t, pathInstanceAction)
	levels := map[string]int{}
	for _, r := range recs {
		levels[r["level"].(string)]++
		if r["source"] != "aws" {
			t.Errorf("record without source=aws: %v", r)
		}
	}
	if levels["WARN"] != 1 || levels["DEBUG"] < 3 || levels["INFO"] != 1 {
		t.Errorf("levels %v, want one WARN, the repeats at DEBUG and one INFO on recovery", levels)
	}
	if recs[0]["reason"] != ReasonMalformed {
		t.Errorf("first record %v, want reason %s", recs[0], ReasonMalformed)
	}
}

// TestRescheduledMaintenanceIsSentAgain: EC2 keeps the EventId when it
// reschedules an event; the new NotBefore must reach the agent (A8).
func TestRescheduledMaintenanceIsSentAgain(t *testing.T) {
	e := newEnv(t, awsemu.Options{})
	var errs errCounter
	ch := run(t, fastConfig(e.url, &errs))
	ev, err := e.emu.ScheduleMaintenance(awsemu.MaintenanceRequest{Code: awsemu.CodeSystemReboot, In: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if n := next(t, ch); n.ID != ev.EventID || !n.Deadline.Equal(emuStart.Add(24*time.Hour)) {
		t.Fatalf("first notice %+v", n)
	}
	noMoreNotices(t, e, ch, pathMaintenanceScheduled, 3)
	if _, err := e.emu.RescheduleMaintenance(ev.EventID, time.Hour); err != nil {
		t.Fatal(err)
	}
	n := next(t, ch)
	if n.ID != ev.EventID || n.Canceled || !n.Deadline.Equal(emuStart.Add(time.Hour)) {
		t.Fatalf("after rescheduling: %+v, want %s active with deadline %s", n, ev.EventID, emuStart.Add(time.Hour))
	}
	noMoreNotices(t, e, ch, pathMaintenanceScheduled, 3)
}

func TestReadOnceAfterEveryPollerRead(t *testing.T) {
	e := newEnv(t, awsemu.Options{})
	var errs errCounter
	src, err := New(fastConfig(e.url, &errs))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = src.Run(ctx, make(chan notice.Notice, 16)) }()
	select {
	case <-src.ReadOnce():
	case <-time.After(20 * time.Second):
		t.Fatal("ReadOnce not closed after every poller read IMDS")
	}
}
