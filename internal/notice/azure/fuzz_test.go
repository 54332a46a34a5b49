package azure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/noticetest"
)

// The fuzz targets feed Scheduled Events documents to the real decoder
// (Source.fetch through an in-memory IMDS) and to the tracker. Invariants:
// no panic; a body the source rejects is a *MalformedError (Run counts it
// as ReasonMalformed); every event for this VM it cannot understand is
// counted as malformed; notices only for events naming this VM, never with
// an empty ID; a canceled notice only for an ID emitted before and not yet
// canceled; never two notices for one ID without a canceled one between.
// They hold whether an event must be missing from one or several documents
// before it counts as withdrawn. Seeds: testdata/fuzz/FuzzXxx.

const fuzzVM = "aks-pool-12345678-vmss_3"

var fuzzNow = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// memIMDS answers every request with one body.
type memIMDS struct{ body []byte }

func (m *memIMDS) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK, Header: http.Header{}, Request: r,
		Body: io.NopCloser(bytes.NewReader(m.body)), ContentLength: int64(len(m.body)),
	}, nil
}

func newFuzzSource(t *testing.T, body []byte, errs *noticetest.ErrorLog) *Source {
	t.Helper()
	s, err := New(Config{
		MetadataURL: "http://imds.fuzz.invalid",
		VMName:      fuzzVM,
		Node:        "node-a",
		HTTPClient:  &http.Client{Transport: &memIMDS{body: body}},
		Clock:       testclock.NewFakeClock(fuzzNow),
		Log:         logging.Discard(),
		OnError:     errs.Add,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func FuzzDocument(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		errs := &noticetest.ErrorLog{}
		s := newFuzzSource(t, body, errs)
		doc, err := s.fetch(context.Background())
		if err != nil {
			var me *MalformedError
			if !errors.As(err, &me) || reasonOf(err) != ReasonMalformed {
				t.Fatalf("rejected body %q: %v is not counted as malformed", body, err)
			}
			return
		}
		if doc.Events == nil {
			t.Fatal("accepted a document without an Events array")
		}
		m := newTrackerModel()
		m.check(t, doc, s.observe(fuzzVM, doc), errs.Count(ReasonMalformed))
	})
}

// FuzzTrackerSequence splits the input at NUL bytes into documents (JSON,
// or for anything else a compact encoding, see compactDocument) and feeds
// them to one tracker in order.
func FuzzTrackerSequence(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		errs := &noticetest.ErrorLog{}
		s := newFuzzSource(t, nil, errs)
		clk := s.clock.(*testclock.FakeClock)
		m := newTrackerModel()
		for chunk := range bytes.SplitSeq(in, []byte{0}) {
			var doc Document
			if json.Unmarshal(chunk, &doc) != nil || doc.Events == nil {
				doc = compactDocument(chunk)
			}
			before := errs.Count(ReasonMalformed)
			m.check(t, &doc, s.observe(fuzzVM, &doc), errs.Count(ReasonMalformed)-before)
			clk.Step(time.Second)
		}
	})
}

// compactDocument builds a document from bytes, three per event, so the
// fuzzer reaches long sequences of documents over a few event IDs cheaply:
// byte 0 picks the EventId (4 values); byte 1 the EventType (known types
// and one unknown); byte 2 bit 0 the status (Scheduled or Started), bits 1-2
// the NotBefore (a valid one, none, an unreadable one), bit 3 whether the
// event names this VM (else a peer only), bit 4 whether it names a peer too.
func compactDocument(b []byte) Document {
	ids := []string{"ev-a", "ev-b", "ev-c", ""}
	types := []string{EventPreempt, EventTerminate, EventReboot, EventRedeploy, EventFreeze, "Hibernate"}
	notBefore := []string{"Mon, 02 Mar 2026 10:00:00 GMT", "", "tomorrow", "Mon, 02 Mar 2026 10:05:00 GMT"}
	doc := Document{Events: []Event{}}
	for i := 0; i+2 < len(b); i += 3 {
		ev := Event{
			EventID:      ids[int(b[i])%len(ids)],
			EventType:    types[int(b[i+1])%len(types)],
			ResourceType: "VirtualMachine",
			EventStatus:  StatusScheduled,
			NotBefore:    notBefore[(b[i+2]>>1)&3],
			EventSource:  "Platform",
		}
		if b[i+2]&1 != 0 {
			ev.EventStatus = StatusStarted
		}
		if b[i+2]&8 != 0 {
			ev.Resources = append(ev.Resources, " "+strings.ToUpper(fuzzVM)+" ")
		}
		if b[i+2]&8 == 0 || b[i+2]&16 != 0 {
			ev.Resources = append(ev.Resources, "aks-pool-12345678-vmss_4")
		}
		doc.Events = append(doc.Events, ev)
	}
	return doc
}

// trackerModel is what the invariants need to remember between documents:
// the IDs whose last notice was not canceled, and the IDs of events for this
// VM of a type the source does not know (ignored while listed).
type trackerModel struct {
	active  map[string]bool
	ignored map[string]bool
}

func newTrackerModel() *trackerModel {
	return &trackerModel{active: map[string]bool{}, ignored: map[string]bool{}}
}

// check asserts the invariants for the notices one document caused and the
// number of malformed events counted while folding it in.
func (m *trackerModel) check(t *testing.T, doc *Document, out []notice.Notice, counted int) {
	t.Helper()
	listed := map[string]*Event{} // first event per ID naming this VM
	wantNew, wantCounted := map[string]bool{}, 0
	for i := range doc.Events {
		e := &doc.Events[i]
		if e.EventID == "" || !e.names(fuzzVM) || listed[e.EventID] != nil {
			continue
		}
		listed[e.EventID] = e
		if m.active[e.EventID] || m.ignored[e.EventID] {
			continue
		}
		if _, known := KindOf(e.EventType); !known {
			m.ignored[e.EventID] = true
			wantCounted++
			continue
		}
		if nb, err := ParseNotBefore(e.NotBefore); err != nil || nb.IsZero() && strings.TrimSpace(e.NotBefore) != "" {
			wantCounted++ // a NotBefore written but not read
		}
		wantNew[e.EventID] = true
	}
	for id := range m.ignored {
		if listed[id] == nil {
			delete(m.ignored, id)
		}
	}
	if counted != wantCounted {
		t.Fatalf("counted %d malformed events, want %d (document %+v)", counted, wantCounted, doc)
	}
	for _, n := range out {
		m.checkNotice(t, n, listed[n.ID])
		delete(wantNew, n.ID)
	}
	if len(wantNew) > 0 {
		t.Fatalf("no notice for new events %v", wantNew)
	}
}

// checkNotice asserts one notice against the event listed with its ID (nil
// if none) and the IDs in force, and updates them.
func (m *trackerModel) checkNotice(t *testing.T, n notice.Notice, e *Event) {
	t.Helper()
	if n.ID == "" || n.Source != Name || n.InstanceID != fuzzVM || n.Node != "node-a" {
		t.Fatalf("notice %+v: empty ID or wrong source, VM or node", n)
	}
	if n.Canceled {
		if !m.active[n.ID] || e != nil {
			t.Fatalf("canceled notice for %q, which is not in force or still listed", n.ID)
		}
		delete(m.active, n.ID)
		return
	}
	if m.active[n.ID] || e == nil {
		t.Fatalf("second notice for %q without a canceled one between, or for an event not naming this VM", n.ID)
	}
	m.active[n.ID] = true
	kind, _ := KindOf(e.EventType)
	if n.Kind != kind {
		t.Fatalf("notice kind %s for event type %q", n.Kind, e.EventType)
	}
	switch nb, err := ParseNotBefore(e.NotBefore); {
	case err == nil && !nb.IsZero():
		noticetest.CheckParsedTime(t, "deadline", n.Deadline, e.NotBefore)
		if !n.Deadline.Equal(nb) {
			t.Fatalf("deadline %v, NotBefore %q", n.Deadline, e.NotBefore)
		}
	case err == nil && e.EventStatus == StatusStarted:
		if !n.Deadline.Equal(n.Detected) {
			t.Fatalf("started event: deadline %v, want now %v", n.Deadline, n.Detected)
		}
	default:
		if !n.Deadline.IsZero() {
			t.Fatalf("deadline %v from NotBefore %q", n.Deadline, e.NotBefore)
		}
	}
}
