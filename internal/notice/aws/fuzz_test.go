package aws

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/noticetest"
)

// The fuzz targets drive the real poll functions (SDK client included)
// against an in-memory metadata service that answers one path with the
// fuzz input. Invariants: no panic; a body the source rejects is returned as
// a *MetadataError with ReasonMalformed and counted through OnError exactly
// like that; every notice has an ID and, where its kind has one, a deadline
// whose year and zone come from the input. Seeds: testdata/fuzz/FuzzXxx.

// fuzzInstance is what the in-memory service answers for instance-id.
const fuzzInstance = "i-0fuzz0000000000a"

// memIMDS answers the SDK's requests from memory: a session token, the
// bodies set for metadata paths, 404 for every other path.
type memIMDS struct {
	mu     sync.Mutex
	bodies map[string]string // path below /latest/meta-data/ -> body
}

func (m *memIMDS) set(bodies map[string]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bodies = map[string]string{
		"instance-id":                 fuzzInstance,
		"instance-type":               "m5.large",
		"placement/availability-zone": "eu-west-1a",
		"placement/region":            "eu-west-1",
	}
	for k, v := range bodies {
		m.bodies[k] = v
	}
}

func (m *memIMDS) Do(r *http.Request) (*http.Response, error) {
	resp := &http.Response{StatusCode: http.StatusNotFound, Header: http.Header{}, Request: r, Body: http.NoBody}
	if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
		resp.StatusCode = http.StatusOK
		resp.Header.Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
		resp.Body = io.NopCloser(strings.NewReader("fuzz-token"))
		return resp, nil
	}
	m.mu.Lock()
	body, ok := m.bodies[strings.TrimPrefix(r.URL.Path, "/latest/meta-data/")]
	m.mu.Unlock()
	if ok {
		resp.StatusCode = http.StatusOK
		resp.Body = io.NopCloser(strings.NewReader(body))
		resp.ContentLength = int64(len(body))
	}
	return resp, nil
}

// fuzzIMDS and fuzzClient are shared by all inputs of one fuzzing process
// (inputs run one after another; building an SDK client per input would
// dominate the time).
var (
	fuzzIMDS   = &memIMDS{}
	fuzzClient = sync.OnceValue(func() *imds.Client {
		return imds.New(imds.Options{
			Endpoint:          "http://imds.fuzz.invalid",
			ClientEnableState: imds.ClientEnabled,
			EnableFallback:    awssdk.FalseTernary,
			HTTPClient:        fuzzIMDS,
			Retryer:           awssdk.NopRetryer{},
		})
	})
)

// fuzzPoll serves bodies, runs one poll of a fresh source and returns what
// it sent, its error and the OnError counts.
func fuzzPoll(t *testing.T, bodies map[string]string, termTime bool,
	poll func(*Source) func(context.Context, chan<- notice.Notice) error,
) ([]notice.Notice, *errCounter, error) {
	t.Helper()
	fuzzIMDS.set(bodies)
	errs := &errCounter{}
	s, err := New(Config{
		Endpoint:            "http://imds.fuzz.invalid",
		NodeName:            "node-a",
		PollTerminationTime: termTime,
		RequestTimeout:      patience,
		Log:                 testLog(),
		OnError:             errs.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.client = fuzzClient()
	out := make(chan notice.Notice)
	var sent []notice.Notice
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := range out {
			sent = append(sent, n)
		}
	}()
	perr := poll(s)(context.Background(), out)
	close(out)
	<-done
	return sent, errs, perr
}

// checkRejected asserts that a poll's error and OnError counts agree: no
// error and nothing counted, or a malformed-body error counted as malformed
// wantCounted times (and nothing else counted).
func checkRejected(t *testing.T, err error, errs *errCounter, wantCounted int) {
	t.Helper()
	if err == nil {
		if errs.total() != 0 {
			t.Fatalf("no error returned but OnError counted %v", errs.n)
		}
		return
	}
	var me *MetadataError
	if !errors.As(err, &me) || me.Reason != ReasonMalformed {
		t.Fatalf("error %v is not a malformed *MetadataError", err)
	}
	if errs.get(ReasonMalformed) != wantCounted || errs.total() != wantCounted {
		t.Fatalf("error %v counted %v, want %d malformed", err, errs.n, wantCounted)
	}
}

// checkCommon asserts what every AWS notice has.
func checkCommon(t *testing.T, n notice.Notice, idPrefix string, kind notice.Kind) {
	t.Helper()
	if !strings.HasPrefix(n.ID, idPrefix) || n.Kind != kind || n.Source != SourceName ||
		n.Node != "node-a" || n.InstanceID != fuzzInstance {
		t.Fatalf("notice %+v, want ID %s..., kind %s", n, idPrefix, kind)
	}
}

func pollSpotOf(s *Source) func(context.Context, chan<- notice.Notice) error { return s.pollSpot }

func pollRebalOf(s *Source) func(context.Context, chan<- notice.Notice) error { return s.pollRebalance }

func pollMaintOf(s *Source) func(context.Context, chan<- notice.Notice) error {
	return s.pollMaintenance
}
func pollASGOf(s *Source) func(context.Context, chan<- notice.Notice) error { return s.pollASG }

// checkSpot asserts the one notice a readable spot body yields.
func checkSpot(t *testing.T, sent []notice.Notice, raw string) {
	t.Helper()
	if len(sent) != 1 {
		t.Fatalf("sent %d notices, want 1: %+v", len(sent), sent)
	}
	n := sent[0]
	checkCommon(t, n, "spot-interruption/", notice.KindSpotInterruption)
	if n.ID != notice.EventID(notice.KindSpotInterruption, fuzzInstance, n.Deadline) || n.Canceled || n.Attributes["action"] == "" {
		t.Fatalf("notice %+v from time %q", n, raw)
	}
	noticetest.CheckParsedTime(t, "spot deadline", n.Deadline, raw)
	if !n.Issued.Equal(n.Deadline.Add(-SpotWarning)) {
		t.Fatalf("issued %v, deadline %v", n.Issued, n.Deadline)
	}
}

func FuzzSpotInstanceAction(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		sent, errs, err := fuzzPoll(t, map[string]string{pathInstanceAction: string(body)}, false, pollSpotOf)
		checkRejected(t, err, errs, 1)
		if err != nil {
			if len(sent) != 0 {
				t.Fatalf("rejected body still sent %+v", sent)
			}
			return
		}
		var ia instanceAction
		if json.Unmarshal(body, &ia) != nil {
			t.Fatalf("body %q accepted but does not decode", body)
		}
		checkSpot(t, sent, ia.Time)
	})
}

func FuzzSpotTerminationTime(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		sent, errs, err := fuzzPoll(t, map[string]string{pathTerminationTime: string(body)}, true, pollSpotOf)
		checkRejected(t, err, errs, 1)
		if err != nil {
			if len(sent) != 0 {
				t.Fatalf("rejected value still sent %+v", sent)
			}
			return
		}
		checkSpot(t, sent, strings.TrimSpace(string(body)))
		if sent[0].Attributes["action"] != "terminate" {
			t.Fatalf("legacy path gave action %q, want terminate", sent[0].Attributes["action"])
		}
	})
}

func FuzzRebalance(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		sent, errs, err := fuzzPoll(t, map[string]string{pathRebalance: string(body)}, false, pollRebalOf)
		checkRejected(t, err, errs, 1)
		if err != nil {
			if len(sent) != 0 {
				t.Fatalf("rejected body still sent %+v", sent)
			}
			return
		}
		if len(sent) != 1 {
			t.Fatalf("sent %d notices, want 1", len(sent))
		}
		n := sent[0]
		checkCommon(t, n, "rebalance-recommendation/", notice.KindRebalance)
		var r struct {
			NoticeTime string `json:"noticeTime"`
		}
		if json.Unmarshal(body, &r) != nil {
			t.Fatalf("body %q accepted but does not decode", body)
		}
		noticetest.CheckParsedTime(t, "rebalance notice time", n.Issued, r.NoticeTime)
		if n.ID != notice.EventID(notice.KindRebalance, fuzzInstance, n.Issued) {
			t.Fatalf("rebalance notice ID %q", n.ID)
		}
		if !n.Deadline.IsZero() || n.Canceled {
			t.Fatalf("rebalance notice %+v has a deadline or is canceled", n)
		}
	})
}

// decodeMaintenance decodes a maintenance list the way the source does and
// keeps the events it acts on (from the history: canceled and completed).
func decodeMaintenance(body string, history bool) (events []maintenanceEvent, decodes bool) {
	if json.Unmarshal([]byte(body), &events) != nil {
		return nil, false
	}
	if history {
		events = slices.DeleteFunc(events, func(ev maintenanceEvent) bool {
			return ev.State != "canceled" && ev.State != "completed"
		})
	}
	return events, true
}

func FuzzMaintenance(f *testing.F) {
	f.Fuzz(func(t *testing.T, scheduled, history []byte) {
		sent, errs, err := fuzzPoll(t, map[string]string{
			pathMaintenanceScheduled: string(scheduled),
			pathMaintenanceHistory:   string(history),
		}, false, pollMaintOf)
		if errs.total() != errs.get(ReasonMalformed) {
			t.Fatalf("counted %v, want only malformed", errs.n)
		}
		if (err == nil) != (errs.total() == 0) {
			t.Fatalf("error %v but counted %v: every rejection is both returned and counted", err, errs.n)
		}
		sched, okS := decodeMaintenance(string(scheduled), false)
		hist, okH := decodeMaintenance(string(history), true)
		listed := map[string]maintenanceEvent{}
		flawed := !okS || !okH
		for _, ev := range append(sched, hist...) {
			if ev.EventID == "" {
				flawed = true
				continue
			}
			if _, dup := listed[ev.EventID]; !dup {
				listed[ev.EventID] = ev
				if nb, perr := time.Parse(MaintenanceTimeLayout, ev.NotBefore); ev.NotBefore != "" && (perr != nil || nb.IsZero()) {
					flawed = true
				}
			}
		}
		if flawed && err == nil {
			t.Fatalf("flawed lists (scheduled %q, history %q) reported no error", scheduled, history)
		}
		checkMaintenanceNotices(t, sent, sched, hist)
	})
}

// checkMaintenanceNotices asserts every maintenance notice comes from a
// listed event, nothing follows an ID's canceled notice, and an active
// notice repeats only with a new deadline (a rescheduled event).
func checkMaintenanceNotices(t *testing.T, sent []notice.Notice, sched, hist []maintenanceEvent) {
	t.Helper()
	all := slices.Concat(sched, hist)
	last := map[string]notice.Notice{}
	for _, n := range sent {
		prev, again := last[n.ID]
		if n.ID == "" || again && (prev.Canceled || !n.Canceled && prev.Deadline.Equal(n.Deadline)) {
			t.Fatalf("notice with empty ID, or repeated unchanged or after its cancel: %+v (all %+v)", n, sent)
		}
		last[n.ID] = n
		if n.Kind != notice.KindScheduledReboot && n.Kind != notice.KindScheduledTermination {
			t.Fatalf("kind %s", n.Kind)
		}
		// An event with this ID, cancel state and deadline (an ID listed
		// again with another NotBefore goes out again).
		i := slices.IndexFunc(all, func(ev maintenanceEvent) bool {
			nb, _ := time.Parse(MaintenanceTimeLayout, ev.NotBefore)
			return ev.EventID == n.ID && (ev.State == "canceled" || ev.State == "completed") == n.Canceled &&
				nb.Equal(n.Deadline)
		})
		if i < 0 {
			t.Fatalf("notice %+v names no listed event in that state with that deadline", n)
		}
		if !n.Deadline.IsZero() {
			noticetest.CheckParsedTime(t, "maintenance deadline", n.Deadline, all[i].NotBefore)
		}
	}
}

func FuzzTargetLifecycleState(f *testing.F) {
	f.Fuzz(func(t *testing.T, state []byte, instanceID string) {
		sent, errs, err := fuzzPoll(t, map[string]string{
			pathTargetLifecycle: string(state),
			"instance-id":       instanceID,
		}, false, pollASGOf)
		v := strings.TrimSpace(string(state))
		valid := lifecycleStateRE.MatchString(v)
		idOK := plausibleValue(strings.TrimSpace(instanceID))
		// A bad state is one malformed read; a bad instance-id is counted at
		// each of its reads (identity retries it) and never returned.
		wantCounted, atLeast := 0, 0
		switch {
		case !valid:
			wantCounted, atLeast = 1, 1
		case v == lifecycleTerminated && !idOK:
			wantCounted, atLeast = -1, 1
		}
		counted := errs.get(ReasonMalformed)
		if (err != nil) == valid || errs.total() != counted || counted < atLeast ||
			(wantCounted >= 0 && counted != wantCounted) {
			t.Fatalf("state %q (valid %v), instance %q: error %v, counted %v",
				v, valid, instanceID, err, errs.n)
		}
		if v != lifecycleTerminated {
			if len(sent) != 0 {
				t.Fatalf("state %q sent %+v", v, sent)
			}
			return
		}
		wantID := "aws-asg/unknown"
		if idOK {
			wantID = notice.EventID(notice.KindASGTermination, strings.TrimSpace(instanceID), time.Time{})
		}
		if len(sent) != 1 || sent[0].ID != wantID || sent[0].Kind != notice.KindASGTermination || sent[0].Canceled {
			t.Fatalf("sent %+v, want one %s notice", sent, wantID)
		}
	})
}
