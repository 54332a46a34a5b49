package azure_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	"github.com/lifeboat-dev/lifeboat/internal/emulate/azure"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

const eventsURL = "/metadata/scheduledevents?api-version=2020-07-01"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func start(t *testing.T, o azure.Options) (*azure.Server, *httptest.Server, *testclock.FakeClock) {
	t.Helper()
	clk := testclock.NewFakeClock(t0)
	o.Clock, o.Log = clk, logging.Discard()
	emu := azure.New(o)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv, clk
}

// call sends a request and returns status and body.
func call(t *testing.T, method, url, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var imds = map[string]string{"Metadata": "true"}

func getDoc(t *testing.T, srv *httptest.Server) azure.Document {
	t.Helper()
	code, body := call(t, http.MethodGet, srv.URL+eventsURL, "", imds)
	if code != http.StatusOK {
		t.Fatalf("GET scheduledevents = %d %s", code, body)
	}
	var d azure.Document
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("document %q: %v", body, err)
	}
	return d
}

func TestIMDSRequestRules(t *testing.T) {
	_, srv, _ := start(t, azure.Options{})
	for _, tc := range []struct {
		name, path string
		header     map[string]string
		want       int
	}{
		{"no Metadata header", eventsURL, nil, http.StatusBadRequest},
		{"Metadata false", eventsURL, map[string]string{"Metadata": "false"}, http.StatusBadRequest},
		{"no api-version", "/metadata/scheduledevents", imds, http.StatusBadRequest},
		{"through a proxy", eventsURL, map[string]string{"Metadata": "true", "X-Forwarded-For": "10.0.0.1"}, http.StatusBadRequest},
		{"valid", eventsURL, imds, http.StatusOK},
		{"compute", "/metadata/instance/compute?api-version=2021-02-01", imds, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(t, http.MethodGet, srv.URL+tc.path, "", tc.header)
			if code != tc.want {
				t.Fatalf("status %d (%s), want %d", code, body, tc.want)
			}
			if code == http.StatusBadRequest && !strings.Contains(body, `"error"`) {
				t.Errorf("400 body %q has no error field", body)
			}
		})
	}
}

func TestEmptyDocument(t *testing.T) {
	_, srv, _ := start(t, azure.Options{})
	_, body := call(t, http.MethodGet, srv.URL+eventsURL, "", imds)
	if strings.TrimSpace(body) != `{"DocumentIncarnation":1,"Events":[]}` {
		t.Fatalf("empty document = %s", body)
	}
}

func TestEventLifecycleAndIncarnation(t *testing.T) {
	emu, srv, clk := start(t, azure.Options{StartedFor: 10 * time.Second})
	ev, err := emu.Schedule(azure.EventSpec{EventType: azure.EventPreempt, In: azure.Duration(5 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if d := getDoc(t, srv); d.DocumentIncarnation != 1 || len(d.Events) != 0 {
		t.Fatalf("before In: %+v, want incarnation 1 without events", d)
	}
	clk.Step(5 * time.Second)
	d := getDoc(t, srv)
	if d.DocumentIncarnation != 2 || len(d.Events) != 1 {
		t.Fatalf("after In: %+v, want incarnation 2 with the event", d)
	}
	e := d.Events[0]
	wantNB := t0.Add(35 * time.Second).Format(http.TimeFormat) // Preempt: 30 s notice
	if e.EventID != ev.EventID || e.EventStatus != azure.StatusScheduled || e.NotBefore != wantNB ||
		e.Resources[0] != azure.DefaultVMName || e.ResourceType != "VirtualMachine" || e.EventSource != "Platform" {
		t.Fatalf("event = %+v, want Scheduled Preempt for %s not before %s", e, azure.DefaultVMName, wantNB)
	}
	if again := getDoc(t, srv); again.DocumentIncarnation != 2 {
		t.Errorf("unchanged document moved to incarnation %d", again.DocumentIncarnation)
	}
	clk.Step(30 * time.Second) // NotBefore
	d = getDoc(t, srv)
	if d.DocumentIncarnation != 3 || d.Events[0].EventStatus != azure.StatusStarted || d.Events[0].NotBefore != "" {
		t.Fatalf("at NotBefore: %+v, want incarnation 3, Started, empty NotBefore", d)
	}
	clk.Step(10 * time.Second) // StartedFor
	if d = getDoc(t, srv); d.DocumentIncarnation != 4 || len(d.Events) != 0 {
		t.Fatalf("after StartedFor: %+v, want incarnation 4 and no events", d)
	}
}

func TestStartRequests(t *testing.T) {
	emu, srv, clk := start(t, azure.Options{StartedFor: 10 * time.Second})
	ev, _ := emu.Schedule(azure.EventSpec{EventType: azure.EventReboot})
	body := `{"StartRequests":[{"EventId":"` + ev.EventID + `"},{"EventId":"unknown"}]}`
	if code, resp := call(t, http.MethodPost, srv.URL+eventsURL, body, imds); code != http.StatusOK {
		t.Fatalf("POST = %d %s", code, resp)
	}
	acks := emu.Acks()
	if len(acks) != 1 || acks[0].Body != body || len(acks[0].Started) != 1 || acks[0].Started[0] != ev.EventID {
		t.Fatalf("acks = %+v, want the body recorded and only the known event started", acks)
	}
	if d := getDoc(t, srv); d.Events[0].EventStatus != azure.StatusStarted {
		t.Fatalf("after ack: %+v", d)
	}
	clk.Step(10 * time.Second)
	if d := getDoc(t, srv); len(d.Events) != 0 {
		t.Fatalf("acked event still listed after StartedFor: %+v", d)
	}
	for _, bad := range []string{"", "{", `{"StartRequests":[]}`} {
		if code, _ := call(t, http.MethodPost, srv.URL+eventsURL, bad, imds); code != http.StatusBadRequest {
			t.Errorf("POST %q = %d, want 400", bad, code)
		}
	}
	if code, _ := call(t, http.MethodPost, srv.URL+eventsURL, body, nil); code != http.StatusBadRequest {
		t.Errorf("POST without Metadata header = %d, want 400", code)
	}
}

func TestCompute(t *testing.T) {
	_, srv, _ := start(t, azure.Options{VMName: "akswin_7"})
	_, body := call(t, http.MethodGet, srv.URL+"/metadata/instance/compute?api-version=2021-02-01", "", imds)
	var c azure.Compute
	if err := json.Unmarshal([]byte(body), &c); err != nil || c.Name != "akswin_7" || c.VMScaleSetName != "akswin" {
		t.Fatalf("compute = %s (%v), want name akswin_7 in scale set akswin", body, err)
	}
}

func TestControlEndpoints(t *testing.T) {
	emu, srv, _ := start(t, azure.Options{})
	code, body := call(t, http.MethodPost, srv.URL+"/lifeboat/events",
		`{"type":"Terminate","notBeforeIn":"10m","resources":["vm-a","vm-b"],"id":"ev-1","description":"scale in"}`, nil)
	if code != http.StatusCreated {
		t.Fatalf("schedule = %d %s", code, body)
	}
	d := getDoc(t, srv)
	if len(d.Events) != 1 || d.Events[0].EventID != "ev-1" || d.Events[0].EventType != "Terminate" ||
		d.Events[0].NotBefore != t0.Add(10*time.Minute).Format(http.TimeFormat) || len(d.Events[0].Resources) != 2 {
		t.Fatalf("document = %+v", d)
	}
	for _, bad := range []string{`{"type":"Hibernate"}`, `{"typo":"Preempt"}`, `{"in":"soon"}`, `{"id":"ev-1"}`} {
		if code, _ := call(t, http.MethodPost, srv.URL+"/lifeboat/events", bad, nil); code != http.StatusBadRequest {
			t.Errorf("schedule %s = %d, want 400", bad, code)
		}
	}
	if code, _ := call(t, http.MethodPost, srv.URL+"/lifeboat/events/ev-1/start", "", nil); code != http.StatusNoContent {
		t.Errorf("start = %d", code)
	}
	if code, _ := call(t, http.MethodPost, srv.URL+"/lifeboat/events/ev-1/cancel", "", nil); code != http.StatusNoContent {
		t.Errorf("cancel = %d", code)
	}
	if code, _ := call(t, http.MethodPost, srv.URL+"/lifeboat/events/ev-1/cancel", "", nil); code != http.StatusNotFound {
		t.Errorf("cancel of a gone event = %d, want 404", code)
	}
	if d := getDoc(t, srv); len(d.Events) != 0 || d.DocumentIncarnation != 4 {
		t.Errorf("after cancel: %+v, want no events at incarnation 4", d)
	}
	call(t, http.MethodPost, srv.URL+"/lifeboat/fault", `{"mode":"503","path":"/metadata/"}`, nil)
	if code, _ := call(t, http.MethodGet, srv.URL+eventsURL, "", imds); code != http.StatusServiceUnavailable {
		t.Errorf("GET with prefix fault 503 = %d", code)
	}
	_, state := call(t, http.MethodGet, srv.URL+"/lifeboat/state", "", nil)
	var st azure.State
	if err := json.Unmarshal([]byte(state), &st); err != nil || st.Faults["/metadata/"] != "503" ||
		st.Requests[azure.ScheduledEventsPath] == 0 {
		t.Errorf("state = %s (%v)", state, err)
	}
	call(t, http.MethodPost, srv.URL+"/lifeboat/reset", "", nil)
	if code, _ := call(t, http.MethodGet, srv.URL+eventsURL, "", imds); code != http.StatusOK {
		t.Errorf("GET after reset = %d, want 200", code)
	}
	if code, _ := call(t, http.MethodPost, srv.URL+"/lifeboat/fault", `{"mode":"teapot"}`, nil); code != http.StatusBadRequest {
		t.Errorf("unknown fault mode = %d, want 400", code)
	}
	if len(emu.Acks()) != 0 {
		t.Errorf("acks recorded without a StartRequests POST")
	}
}

func TestFaults(t *testing.T) {
	emu, srv, _ := start(t, azure.Options{})
	if err := emu.SetFault(azure.ScheduledEventsPath, azure.FaultGarbage); err != nil {
		t.Fatal(err)
	}
	code, body := call(t, http.MethodGet, srv.URL+eventsURL, "", imds)
	if code != http.StatusOK || json.Valid([]byte(body)) {
		t.Errorf("garbage = %d %q, want 200 with invalid JSON", code, body)
	}
	if err := emu.FailNext("", azure.Fault500, 1); err != nil {
		t.Fatal(err)
	}
	// The exact path's garbage wins over the catch-all 500.
	if _, body := call(t, http.MethodGet, srv.URL+eventsURL, "", imds); json.Valid([]byte(body)) {
		t.Errorf("longest match: got valid JSON %q", body)
	}
	if code, _ := call(t, http.MethodGet, srv.URL+"/metadata/instance/compute?api-version=x", "", imds); code != 500 {
		t.Errorf("catch-all 500 on compute = %d", code)
	}
	if code, _ := call(t, http.MethodGet, srv.URL+"/metadata/instance/compute?api-version=x", "", imds); code != 200 {
		t.Errorf("FailNext(1) still failing: %d", code)
	}
	if err := emu.SetFault(azure.ScheduledEventsPath, azure.FaultHang); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+eventsURL, nil)
	req.Header.Set("Metadata", "true")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("hang answered %d", resp.StatusCode)
	}
	// A hanging request is served once the fault is removed.
	done := make(chan int, 1)
	before := emu.Requests(azure.ScheduledEventsPath)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+eventsURL, nil)
		req.Header.Set("Metadata", "true")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	for deadline := time.Now().Add(10 * time.Second); emu.Requests(azure.ScheduledEventsPath) == before; {
		if time.Now().After(deadline) {
			t.Fatal("request did not arrive")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := emu.SetFault(azure.ScheduledEventsPath, azure.FaultNone); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != http.StatusOK {
			t.Errorf("released request = %d, want 200", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("hanging request not released by removing the fault")
	}
	if err := emu.SetFault("/lifeboat/events", azure.Fault500); err == nil {
		t.Error("fault on a control endpoint accepted")
	}
}
