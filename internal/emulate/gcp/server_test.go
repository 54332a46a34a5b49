package gcp_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	"github.com/lifeboat-dev/lifeboat/internal/emulate/gcp"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const wait = 10 * time.Second

func start(t *testing.T) (*gcp.Server, *httptest.Server, *testclock.FakeClock) {
	t.Helper()
	clk := testclock.NewFakeClock(t0)
	emu := gcp.New(gcp.Options{Clock: clk, Log: logging.Discard()})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv, clk
}

type answer struct {
	code       int
	body, etag string
	flavor     string
}

func get(url string, header map[string]string) (answer, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return answer{}, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), resp.Header.Get("ETag"), resp.Header.Get("Metadata-Flavor")}, err
}

var google = map[string]string{"Metadata-Flavor": "Google"}

func mustGet(t *testing.T, url string) answer {
	t.Helper()
	a, err := get(url, google)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// async runs a GET in the background.
func async(url string) <-chan answer {
	ch := make(chan answer, 1)
	go func() {
		a, err := get(url, google)
		if err != nil {
			a.code = -1
			a.body = err.Error()
		}
		ch <- a
	}()
	return ch
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestHeaderRulesAndIdentity(t *testing.T) {
	_, srv, _ := start(t)
	base := srv.URL + gcp.MetadataPrefix
	if a, _ := get(base+"instance/id", nil); a.code != http.StatusForbidden || a.flavor != "Google" {
		t.Errorf("without Metadata-Flavor: %d flavor %q, want 403 with the response header", a.code, a.flavor)
	}
	if a, _ := get(base+"instance/id", map[string]string{"Metadata-Flavor": "Google", "X-Forwarded-For": "1.2.3.4"}); a.code != http.StatusForbidden {
		t.Errorf("relayed request: %d, want 403", a.code)
	}
	if a, _ := get(srv.URL+"/", nil); a.code != http.StatusOK || a.flavor != "Google" {
		t.Errorf("root probe: %d flavor %q, want 200 Google", a.code, a.flavor)
	}
	for key, want := range map[string]string{
		"instance/id":                gcp.DefaultInstanceID,
		"instance/name":              gcp.DefaultInstanceName,
		"instance/zone":              "projects/123456789012/zones/" + gcp.DefaultZone,
		"instance/machine-type":      "projects/123456789012/machineTypes/" + gcp.DefaultMachineType,
		"instance/preempted":         "FALSE",
		"instance/maintenance-event": "NONE",
	} {
		a := mustGet(t, base+key)
		if a.code != http.StatusOK || a.body != want || a.etag == "" {
			t.Errorf("%s = %d %q etag %q, want %q with an ETag", key, a.code, a.body, a.etag, want)
		}
	}
	if a := mustGet(t, base+"instance/nothing"); a.code != http.StatusNotFound {
		t.Errorf("unknown key = %d, want 404", a.code)
	}
}

func TestWaitForChange(t *testing.T) {
	emu, srv, _ := start(t)
	url := srv.URL + gcp.MetadataPrefix + gcp.PreemptedKey
	first := mustGet(t, url)
	// A stale last_etag answers at once.
	if a := mustGet(t, url+"?wait_for_change=true&last_etag=0000000000000000"); a.body != "FALSE" || a.etag != first.etag {
		t.Fatalf("stale etag: %+v", a)
	}
	// The current ETag hangs until the value changes.
	ch := async(url + "?wait_for_change=true&last_etag=" + first.etag)
	eventually(t, func() bool { return emu.Waiting(gcp.PreemptedKey) == 1 })
	select {
	case a := <-ch:
		t.Fatalf("answered before a change: %+v", a)
	default:
	}
	emu.Preempt(0)
	a := <-ch
	if a.body != "TRUE" || a.etag == first.etag || a.etag == "" {
		t.Fatalf("after preemption: %+v, want TRUE with a new ETag", a)
	}
	reqs := emu.Requests(gcp.PreemptedKey)
	if last := reqs[len(reqs)-1]; !last.Wait || last.LastETag != first.etag || last.Outcome != gcp.OutcomeChanged {
		t.Errorf("request log = %+v, want a wait request released by the change", last)
	}
	// Back to FALSE and TRUE again: a different ETag than the first TRUE.
	emu.Reset()
	emu.Preempt(0)
	if again := mustGet(t, url); again.body != "TRUE" || again.etag == a.etag {
		t.Errorf("second preemption etag %q, first %q: want a new one", again.etag, a.etag)
	}
}

func TestWaitTimeoutAndDelayedChange(t *testing.T) {
	emu, srv, clk := start(t)
	url := srv.URL + gcp.MetadataPrefix + gcp.MaintenanceKey
	first := mustGet(t, url)
	ch := async(url + "?wait_for_change=true&timeout_sec=30&last_etag=" + first.etag)
	eventually(t, func() bool { return emu.Waiting(gcp.MaintenanceKey) == 1 && clk.HasWaiters() })
	clk.Step(30 * time.Second)
	if a := <-ch; a.body != "NONE" || a.etag != first.etag {
		t.Fatalf("timeout answer = %+v, want unchanged NONE", a)
	}
	emu.Maintenance(gcp.MaintenanceMigrate, time.Minute)
	ch = async(url + "?wait_for_change=true&last_etag=" + first.etag)
	eventually(t, func() bool { return emu.Waiting(gcp.MaintenanceKey) == 1 })
	clk.Step(time.Minute)
	if a := <-ch; a.body != gcp.MaintenanceMigrate {
		t.Fatalf("after the scheduled change: %+v", a)
	}
	if a, _ := get(url+"?wait_for_change=true&timeout_sec=x", google); a.code != http.StatusBadRequest {
		t.Errorf("bad timeout_sec = %d, want 400", a.code)
	}
}

func TestFaultsAndControl(t *testing.T) {
	emu, srv, _ := start(t)
	post := func(path, body string) int {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	url := srv.URL + gcp.MetadataPrefix + gcp.PreemptedKey
	if code := post("/lifeboat/fault", `{"mode":"garbage","path":"/computeMetadata/v1/instance/preempted"}`); code != http.StatusNoContent {
		t.Fatalf("fault = %d", code)
	}
	// Garbage answers at once, even a wait request with the current ETag.
	_, etag, _ := emu.Value(gcp.PreemptedKey)
	if a := mustGet(t, url+"?wait_for_change=true&last_etag="+etag); a.body != gcp.GarbageValue {
		t.Errorf("garbage = %+v", a)
	}
	post("/lifeboat/fault", `{"mode":"500","count":1}`)
	if a := mustGet(t, srv.URL+gcp.MetadataPrefix+"instance/id"); a.code != 500 {
		t.Errorf("catch-all 500 = %d", a.code)
	}
	if a := mustGet(t, srv.URL+gcp.MetadataPrefix+"instance/id"); a.code != 200 {
		t.Errorf("count 1 fault still failing: %d", a.code)
	}
	post("/lifeboat/fault", `{"mode":"hang"}`)
	ch := async(url)
	eventually(t, func() bool { return len(emu.Requests(gcp.PreemptedKey)) == 2 })
	post("/lifeboat/fault", `{"mode":"none"}`)
	select {
	case a := <-ch:
		// the exact-path garbage fault still applies: the released request gets garbage
		if a.body != gcp.GarbageValue {
			t.Errorf("released request = %+v", a)
		}
	case <-time.After(wait):
		t.Fatal("hanging request not released")
	}
	for path, body := range map[string]string{
		"/lifeboat/preempt":     `{"in":"0s"}`,
		"/lifeboat/maintenance": `{"value":"TERMINATE_ON_HOST_MAINTENANCE"}`,
		"/lifeboat/values":      `{"key":"instance/attributes/x","value":"1"}`,
	} {
		if code := post(path, body); code != http.StatusNoContent {
			t.Errorf("POST %s = %d", path, code)
		}
	}
	for path, body := range map[string]string{
		"/lifeboat/maintenance": `{"value":"SOON"}`,
		"/lifeboat/values":      `{"value":"1"}`,
		"/lifeboat/preempt":     `{"in":"-1s"}`,
		"/lifeboat/fault":       `{"mode":"teapot"}`,
	} {
		if code := post(path, body); code != http.StatusBadRequest {
			t.Errorf("POST %s %s = %d, want 400", path, body, code)
		}
	}
	resp, err := http.Get(srv.URL + "/lifeboat/state")
	if err != nil {
		t.Fatal(err)
	}
	var st gcp.State
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.Values[gcp.MaintenanceKey].Value != gcp.MaintenanceTerminate || st.Values["instance/attributes/x"].Value != "1" ||
		st.Faults["/computeMetadata/v1/instance/preempted"] != "garbage" {
		t.Errorf("state = %+v (%v)", st, err)
	}
	post("/lifeboat/reset", "")
	if a := mustGet(t, url); a.body != "FALSE" {
		t.Errorf("after reset: %+v, want FALSE without faults", a)
	}
}
