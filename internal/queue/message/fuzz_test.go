package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// FuzzParse feeds message bodies to Parse: EventBridge envelopes of every
// detail-type, SNS-wrapped messages and direct Auto Scaling notifications.
// Invariants: no panic; a body Parse rejects is a *ParseError (the consumer
// counts those as poison messages) and yields nothing; an accepted body
// either asks for work or says why it asks for none; every event names a
// notice ID and an instance, lifecycle actions carry their hook, and a
// deadline is set exactly for the kinds that have one, from a time written
// in the message (no zero time, no zone abbreviation read as UTC).
// Seeds: testdata/fuzz/FuzzParse (the documented shapes in testdata/*.json
// and interesting inputs).
func FuzzParse(f *testing.F) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Parse(body, now)
		if again, err2 := Parse(body, now); !reflect.DeepEqual(m, again) || (err == nil) != (err2 == nil) {
			t.Fatal("Parse is not deterministic")
		}
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Reason == "" || len(m.Events) > 0 || m.Ignored != "" {
				t.Fatalf("rejection %v (%T) is not a *ParseError with a reason, or came with %+v", err, err, m)
			}
			return
		}
		if (len(m.Events) == 0) == (m.Ignored == "") {
			t.Fatalf("message %+v: events and Ignored must exclude each other, one of them set", m)
		}
		times := rawTimes(body)
		for _, ev := range m.Events {
			checkEvent(t, ev, times)
		}
	})
}

// messageTimes are the times written in a message: the envelope's time and
// a Health event's startTime.
type messageTimes struct {
	time, startTime string
}

// rawTimes unwraps SNS notifications and returns the innermost message's
// times as written.
func rawTimes(body []byte) messageTimes {
	var probe struct {
		Type    string `json:"Type"`
		Message string `json:"Message"`
		Time    string `json:"time"`
		Detail  struct {
			StartTime string `json:"startTime"`
		} `json:"detail"`
	}
	for {
		probe.Type, probe.Message = "", ""
		_ = json.Unmarshal(bytes.TrimSpace(body), &probe)
		if probe.Type != "Notification" || probe.Message == "" {
			return messageTimes{time: probe.Time, startTime: probe.Detail.StartTime}
		}
		body = []byte(probe.Message)
	}
}

func checkEvent(t *testing.T, ev Event, times messageTimes) {
	t.Helper()
	n := ev.Notice
	if n.ID == "" || n.InstanceID == "" || n.Kind == "" || n.Reason == "" || strings.Contains(n.ID, ",") {
		t.Fatalf("event %+v lacks an ID, instance, kind or reason, or its ID cannot be recorded", ev)
	}
	if n.Canceled {
		if n.Kind != notice.KindScheduledReboot && n.Kind != notice.KindScheduledTermination {
			t.Fatalf("canceled %s event %+v: only a closed Health event cancels", n.Kind, ev)
		}
		return
	}
	lifecycle := n.Kind == notice.KindASGTermination || n.Kind == KindASGLaunch
	if lifecycle != (ev.Hook != nil) {
		t.Fatalf("event %+v: a hook exactly for lifecycle actions", ev)
	}
	if h := ev.Hook; h != nil && (h.Name == "" || h.Group == "" || h.InstanceID != n.InstanceID ||
		!slices.Contains([]string{TransitionTerminating, TransitionLaunching}, h.Transition)) {
		t.Fatalf("hook %+v is not one that can be completed", h)
	}
	switch n.Kind {
	case notice.KindSpotInterruption:
		checkParsedTime(t, "spot event time", n.Issued, times.time)
		if !n.Deadline.Equal(n.Issued.Add(SpotWarningLead)) {
			t.Fatalf("spot deadline %v, issued %v", n.Deadline, n.Issued)
		}
	case notice.KindTermination:
		checkParsedTime(t, "state change time", n.Deadline, times.time)
	case notice.KindScheduledReboot, notice.KindScheduledTermination:
		checkParsedTime(t, "health startTime", n.Deadline, times.startTime)
	default:
		if !n.Deadline.IsZero() {
			t.Fatalf("%s event with deadline %v", n.Kind, n.Deadline)
		}
	}
}

// checkParsedTime fails unless tm plausibly came from raw rather than from a
// parsing accident: not the zero time, its year written in raw, and a zero
// UTC offset spelled out (Z, GMT, UTC, a numeric offset) rather than taken
// from a zone abbreviation Go does not know. (internal/notice's sources
// share the same check in noticetest.CheckParsedTime, which this package
// cannot import.)
func checkParsedTime(t *testing.T, what string, tm time.Time, raw string) {
	t.Helper()
	if tm.IsZero() {
		t.Fatalf("%s: zero time from %q", what, raw)
	}
	numeric := regexp.MustCompile(`[+-]\d\d(:?\d\d)?\s*$`).MatchString(raw)
	if !strings.Contains(raw, tm.Format("2006")) && !numeric {
		t.Fatalf("%s: year %d not written in %q", what, tm.Year(), raw)
	}
	up := strings.ToUpper(raw)
	if _, off := tm.Zone(); off == 0 && !numeric &&
		!strings.Contains(up, "Z") && !strings.Contains(up, "GMT") && !strings.Contains(up, "UTC") {
		t.Fatalf("%s: %q read as UTC without saying so", what, raw)
	}
}
