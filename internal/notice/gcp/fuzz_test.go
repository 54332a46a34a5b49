package gcp

import (
	"context"
	"strings"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/noticetest"
)

// FuzzWatcherValues feeds a sequence of answers for one watched key
// (instance/preempted, or instance/maintenance-event when maintenance is
// set) to the watcher's Subscribe callback. Each line of in is one answer,
// "etag<TAB>value" or just a value (its ETag then derives from the value).
// Invariants: no panic; a value the source does not know is counted as
// malformed, once, and changes nothing; a known value is never counted;
// every notice has an ID and the kind and deadline of its value; at most one
// event in force per key, a canceled notice only for the one in force.
// Seeds: testdata/fuzz/FuzzWatcherValues.
func FuzzWatcherValues(f *testing.F) {
	f.Fuzz(func(t *testing.T, maintenance bool, in string) {
		errs := &noticetest.ErrorLog{}
		clk := testclock.NewFakeClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
		s, err := New(Config{
			MetadataURL: "http://metadata.fuzz.invalid",
			Node:        "node-a",
			InstanceID:  "1234567890",
			Clock:       clk,
			Log:         logging.Discard(),
			OnError:     errs.Add,
		})
		if err != nil {
			t.Fatal(err)
		}
		spec := s.specs()[0]
		if maintenance {
			spec = s.specs()[1]
		}
		out := make(chan notice.Notice, 4)
		w := &watcher{spec: spec, src: s, inst: instanceInfo{id: "1234567890", zone: "europe-west1-b"}, out: out}
		var active *notice.Notice
		for line := range strings.Lines(in) {
			line = strings.TrimSuffix(line, "\n")
			etag, v, tagged := strings.Cut(line, "\t")
			if !tagged {
				etag, v = "etag-"+strings.ToLower(strings.TrimSpace(line)), line
			}
			s.transport.mu.Lock()
			s.transport.etags[spec.key] = etag
			s.transport.mu.Unlock()
			clk.Step(2 * time.Second) // answers far apart: the watcher never throttles
			before := errs.Count(ReasonMalformed)
			if err := w.handle(context.Background(), v, true); err != nil {
				t.Fatalf("handle(%q): %v", v, err)
			}
			kind, known := spec.kinds[strings.ToUpper(strings.TrimSpace(v))]
			if counted := errs.Count(ReasonMalformed) - before; counted != map[bool]int{true: 0, false: 1}[known] {
				t.Fatalf("value %q (known %v) counted %d times as malformed", v, known, counted)
			}
			active = checkAnswer(t, spec, drain(out), active, known, kind, clk.Now())
		}
	})
}

func drain(ch <-chan notice.Notice) []notice.Notice {
	var got []notice.Notice
	for {
		select {
		case n := <-ch:
			got = append(got, n)
		default:
			return got
		}
	}
}

// checkAnswer asserts the notices one answer caused, given the notice in
// force before it, and returns the one in force after it.
func checkAnswer(t *testing.T, spec keySpec, got []notice.Notice, active *notice.Notice,
	known bool, kind notice.Kind, now time.Time,
) *notice.Notice {
	t.Helper()
	if !known && len(got) > 0 {
		t.Fatalf("a malformed value caused %+v", got)
	}
	for _, n := range got {
		if n.ID == "" || n.Source != Name || n.Node != "node-a" || n.InstanceID != "1234567890" ||
			!strings.HasPrefix(n.ID, "gcp-") || !strings.Contains(n.ID, "/1234567890/") {
			t.Fatalf("notice %+v: bad ID or identity", n)
		}
		if n.Canceled {
			if active == nil || n.ID != active.ID {
				t.Fatalf("canceled %q, but in force: %+v", n.ID, active)
			}
			active = nil
			continue
		}
		if active != nil {
			t.Fatalf("new notice %q while %q is in force", n.ID, active.ID)
		}
		if kind == "" || n.Kind != kind || !n.Detected.Equal(now) || !n.Deadline.Equal(now.Add(spec.notice)) {
			t.Fatalf("notice %+v, want kind %q and deadline %v", n, kind, now.Add(spec.notice))
		}
		active = &n
	}
	if known && (kind == "") != (active == nil) {
		t.Fatalf("after a %q value, in force: %+v", kind, active)
	}
	return active
}

// FuzzUpcomingMaintenance feeds arbitrary instance/upcoming-maintenance
// values to the parser and the plan. Invariants: no panic; an accepted
// maintenance has a UTC window start after 2000; a due plan's deadline is
// never before now plus the minimum notice.
// Seeds: testdata/fuzz/FuzzUpcomingMaintenance.
func FuzzUpcomingMaintenance(f *testing.F) {
	f.Fuzz(func(t *testing.T, v string, policy string) {
		m, found, err := ParseUpcomingMaintenance(v)
		if err != nil || !found {
			return
		}
		if m.WindowStart.Location() != time.UTC || m.WindowStart.Year() < 2000 {
			t.Fatalf("window start %s from %q", m.WindowStart, v)
		}
		now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		p := PlanUpcoming(m, policy, now, time.Hour, time.Minute)
		if p.Act && p.Deadline.Before(now.Add(time.Minute)) {
			t.Fatalf("due plan %+v with a deadline before now+1m", p)
		}
	})
}
