package aws

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"
)

var start = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

type fixture struct {
	srv   *Server
	clock *testclock.FakeClock
	url   string
}

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	fc := testclock.NewFakeClock(start)
	o.Clock = fc
	srv := New(o)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Reset() // releases hanging requests
		ts.Close()
	})
	return &fixture{srv: srv, clock: fc, url: ts.URL}
}

// do sends a request and returns status and body.
func (f *fixture) do(t *testing.T, method, path string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, f.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func (f *fixture) token(t *testing.T) string {
	t.Helper()
	code, tok := f.do(t, http.MethodPut, TokenPath, map[string]string{TokenTTLHeader: "300"}, "")
	if code != http.StatusOK {
		t.Fatalf("token: status %d", code)
	}
	return tok
}

// get reads a metadata path with a fresh token.
func (f *fixture) get(t *testing.T, path string) (int, string) {
	t.Helper()
	return f.do(t, http.MethodGet, MetadataPrefix+path, map[string]string{TokenHeader: f.token(t)}, "")
}

func (f *fixture) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	return f.do(t, http.MethodPost, controlPrefix+path, nil, body)
}

func TestTokenRules(t *testing.T) {
	f := newFixture(t, Options{TokenTTLMax: time.Minute})
	tests := []struct {
		name    string
		method  string
		hdr     map[string]string
		want    int
		wantTTL string
	}{
		{"no ttl header", http.MethodPut, nil, http.StatusBadRequest, ""},
		{"ttl zero", http.MethodPut, map[string]string{TokenTTLHeader: "0"}, http.StatusBadRequest, ""},
		{"ttl above six hours", http.MethodPut, map[string]string{TokenTTLHeader: "21601"}, http.StatusBadRequest, ""},
		{"ttl not a number", http.MethodPut, map[string]string{TokenTTLHeader: "soon"}, http.StatusBadRequest, ""},
		{"ttl one second", http.MethodPut, map[string]string{TokenTTLHeader: "1"}, http.StatusOK, "1"},
		{"ttl capped by TokenTTLMax", http.MethodPut, map[string]string{TokenTTLHeader: "21600"}, http.StatusOK, "60"},
		{
			"forwarded request refused", http.MethodPut,
			map[string]string{TokenTTLHeader: "60", "X-Forwarded-For": "10.0.0.9"},
			http.StatusForbidden, "",
		},
		{"GET not allowed", http.MethodGet, map[string]string{TokenTTLHeader: "60"}, http.StatusMethodNotAllowed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(context.Background(), tc.method, f.url+TokenPath, nil)
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if got := resp.Header.Get(TokenTTLHeader); got != tc.wantTTL {
				t.Errorf("granted TTL header %q, want %q", got, tc.wantTTL)
			}
			if tc.want == http.StatusOK && len(body) < 20 {
				t.Errorf("token %q looks too short", body)
			}
		})
	}
}

func TestMetadataNeedsValidToken(t *testing.T) {
	for _, v1 := range []bool{false, true} {
		f := newFixture(t, Options{IMDSv1: v1, TokenTTLMax: 10 * time.Second})
		expired := f.token(t)
		f.clock.Step(11 * time.Second)
		fresh := f.token(t)
		tests := []struct {
			name  string
			token string
			want  int
		}{
			{"no token", "", map[bool]int{false: http.StatusUnauthorized, true: http.StatusOK}[v1]},
			{"unknown token", "forged", http.StatusUnauthorized},
			{"expired token", expired, http.StatusUnauthorized},
			{"fresh token", fresh, http.StatusOK},
		}
		for _, tc := range tests {
			t.Run(tc.name+map[bool]string{false: " imdsv2-only", true: " imdsv1-allowed"}[v1], func(t *testing.T) {
				hdr := map[string]string{}
				if tc.token != "" {
					hdr[TokenHeader] = tc.token
				}
				code, _ := f.do(t, http.MethodGet, MetadataPrefix+"instance-id", hdr, "")
				if code != tc.want {
					t.Fatalf("status %d, want %d", code, tc.want)
				}
			})
		}
	}
}

func TestExpireTokens(t *testing.T) {
	f := newFixture(t, Options{})
	tok := f.token(t)
	f.srv.ExpireTokens()
	if code, _ := f.do(t, http.MethodGet, MetadataPrefix+"instance-id", map[string]string{TokenHeader: tok}, ""); code != http.StatusUnauthorized {
		t.Fatalf("status %d after ExpireTokens, want 401", code)
	}
	if code, _ := f.post(t, "tokens/expire", ""); code != http.StatusNoContent {
		t.Fatalf("POST tokens/expire: %d", code)
	}
}

func TestDefaultAnswers(t *testing.T) {
	f := newFixture(t, Options{InstanceID: "i-0feedfacecafe0001", Zone: "eu-west-1b"})
	tests := []struct {
		path     string
		wantCode int
		wantBody string
	}{
		{"instance-id", 200, "i-0feedfacecafe0001"},
		{"instance-type", 200, DefaultInstanceType},
		{"placement/availability-zone", 200, "eu-west-1b"},
		{"placement/region", 200, "eu-west-1"},
		{"local-hostname", 200, "ip-10-0-0-1.eu-west-1.compute.internal"},
		{"spot/instance-action", 404, ""},
		{"spot/termination-time", 404, ""},
		{"events/recommendations/rebalance", 404, ""},
		{"events/maintenance/scheduled", 200, "[]"},
		{"events/maintenance/history", 200, "[]"},
		{"autoscaling/target-lifecycle-state", 200, "InService"},
		{"no/such/path", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			code, body := f.get(t, tc.path)
			if code != tc.wantCode {
				t.Fatalf("status %d, want %d", code, tc.wantCode)
			}
			if tc.wantCode == 200 && body != tc.wantBody {
				t.Errorf("body %q, want %q", body, tc.wantBody)
			}
		})
	}
}

func TestSpotSchedule(t *testing.T) {
	tests := []struct {
		name, body      string
		wantAction      string
		wantTermination bool
		wantWarning     time.Duration
	}{
		{"terminate", `{"in":"30s"}`, SpotTerminate, true, 2 * time.Minute},
		{"stop with short warning", `{"in":"30s","action":"stop","warning":"20s"}`, SpotStop, false, 20 * time.Second},
		{"hibernate", `{"in":"30s","action":"hibernate"}`, SpotHibernate, false, 2 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			if code, body := f.post(t, "spot", tc.body); code != 200 {
				t.Fatalf("POST spot: %d %s", code, body)
			}
			if code, _ := f.get(t, "spot/instance-action"); code != 404 {
				t.Fatalf("instance-action before notice time: %d, want 404", code)
			}
			f.clock.Step(30 * time.Second)
			code, body := f.get(t, "spot/instance-action")
			if code != 200 {
				t.Fatalf("instance-action after notice time: %d", code)
			}
			var ia struct{ Action, Time string }
			if err := json.Unmarshal([]byte(body), &ia); err != nil {
				t.Fatalf("instance-action %q: %v", body, err)
			}
			wantTime := start.Add(30 * time.Second).Add(tc.wantWarning).Format(SpotTimeLayout)
			if ia.Action != tc.wantAction || ia.Time != wantTime {
				t.Errorf("instance-action %+v, want action %s time %s", ia, tc.wantAction, wantTime)
			}
			code, body = f.get(t, "spot/termination-time")
			if tc.wantTermination && (code != 200 || body != wantTime) {
				t.Errorf("termination-time %d %q, want %s", code, body, wantTime)
			}
			if !tc.wantTermination && code != 404 {
				t.Errorf("termination-time %d for %s, want 404", code, tc.wantAction)
			}
		})
	}
}

func TestRebalanceAndASG(t *testing.T) {
	f := newFixture(t, Options{})
	if code, _ := f.post(t, "rebalance", `{"in":"1m"}`); code != 200 {
		t.Fatal("POST rebalance failed")
	}
	if code, _ := f.post(t, "asg", `{"in":"1m"}`); code != 200 {
		t.Fatal("POST asg failed")
	}
	if code, _ := f.get(t, "events/recommendations/rebalance"); code != 404 {
		t.Fatalf("rebalance before its time: %d", code)
	}
	if _, body := f.get(t, "autoscaling/target-lifecycle-state"); body != "InService" {
		t.Fatalf("lifecycle before its time: %q", body)
	}
	f.clock.Step(time.Minute)
	if _, body := f.get(t, "events/recommendations/rebalance"); body != `{"noticeTime":"2026-03-01T10:01:00Z"}` {
		t.Errorf("rebalance %q", body)
	}
	if _, body := f.get(t, "autoscaling/target-lifecycle-state"); body != "Terminated" {
		t.Errorf("lifecycle %q, want Terminated", body)
	}
	if code, _ := f.post(t, "asg", `{"state":"Sideways"}`); code != 400 {
		t.Errorf("unknown lifecycle state accepted: %d", code)
	}
}

func TestMaintenanceLifecycle(t *testing.T) {
	f := newFixture(t, Options{})
	code, body := f.post(t, "maintenance", `{"code":"system-reboot","in":"10m","duration":"5m"}`)
	if code != 200 {
		t.Fatalf("POST maintenance: %d %s", code, body)
	}
	var ev MaintenanceEvent
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		t.Fatal(err)
	}
	want := MaintenanceEvent{
		NotBefore: "1 Mar 2026 10:10:00 GMT", Code: "system-reboot", Description: "scheduled system-reboot",
		EventID: ev.EventID, NotAfter: "1 Mar 2026 10:15:00 GMT", State: StateActive,
	}
	if ev != want || !strings.HasPrefix(ev.EventID, "instance-event-") || len(ev.EventID) != len("instance-event-")+17 {
		t.Fatalf("event %+v, want %+v", ev, want)
	}
	list := func(path string) []MaintenanceEvent {
		t.Helper()
		_, body := f.get(t, path)
		var l []MaintenanceEvent
		if err := json.Unmarshal([]byte(body), &l); err != nil {
			t.Fatalf("%s: %q: %v", path, body, err)
		}
		return l
	}
	if l := list("events/maintenance/scheduled"); len(l) != 1 || l[0] != want {
		t.Fatalf("scheduled %+v", l)
	}
	// A second event completes by itself at NotAfter and moves to the history.
	_, _ = f.post(t, "maintenance", `{"code":"instance-stop","in":"1m","duration":"1m"}`)
	f.clock.Step(2 * time.Minute)
	if h := list("events/maintenance/history"); len(h) != 1 || h[0].State != StateCompleted ||
		h[0].Code != "instance-stop" || !strings.HasPrefix(h[0].Description, "[Completed] ") {
		t.Fatalf("history after completion %+v", h)
	}
	if code, body := f.post(t, "maintenance/"+ev.EventID+"/cancel", ""); code != 200 ||
		!strings.Contains(body, `"State":"canceled"`) {
		t.Fatalf("cancel: %d %s", code, body)
	}
	if l := list("events/maintenance/scheduled"); len(l) != 0 {
		t.Errorf("canceled event still scheduled: %+v", l)
	}
	h := list("events/maintenance/history")
	if len(h) != 2 || h[0].EventID != ev.EventID || h[0].State != StateCanceled || h[0].Description != "[Canceled] scheduled system-reboot" {
		t.Errorf("history %+v", h)
	}
	if code, _ := f.post(t, "maintenance/instance-event-00000000000000000/cancel", ""); code != 404 {
		t.Errorf("cancel of unknown event: %d, want 404", code)
	}
}

func TestControlRejectsBadRequests(t *testing.T) {
	f := newFixture(t, Options{})
	tests := []struct{ path, body string }{
		{"spot", `{"in":"soon"}`},
		{"spot", `{"in":30}`},
		{"spot", `{"in":"-1s"}`},
		{"spot", `{"action":"explode"}`},
		{"spot", `{"inn":"1s"}`},
		{"spot", `not json`},
		{"maintenance", `{"code":"system-upgrade"}`},
		{"maintenance", `{"code":"system-reboot","state":"pending"}`},
		{"fault", `{"mode":"explode"}`},
		{"fault", `{"mode":"200"}`},
		{"fault", `{"mode":"500","path":"/lifeboat/spot"}`},
	}
	for _, tc := range tests {
		t.Run(tc.path+" "+tc.body, func(t *testing.T) {
			code, body := f.post(t, tc.path, tc.body)
			if code != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
				t.Fatalf("status %d body %s, want 400 with an error", code, body)
			}
		})
	}
	var ve *ValidationError
	if _, err := f.srv.ScheduleSpot(0, "explode", 0); !errors.As(err, &ve) || ve.Field != "action" {
		t.Errorf("ScheduleSpot error %v, want a ValidationError for action", err)
	}
}

func TestFaults(t *testing.T) {
	const spot = MetadataPrefix + "spot/instance-action"
	tests := []struct {
		name, fault string
		path        string // request path
		wantCode    int
		wantBody    string
	}{
		{"status on exact path", `{"path":"` + spot + `","mode":"500"}`, spot, 500, ""},
		{"other paths unaffected", `{"path":"` + spot + `","mode":"500"}`, MetadataPrefix + "instance-id", 200, DefaultInstanceID},
		{"garbage", `{"path":"` + spot + `","mode":"garbage"}`, spot, 200, garbageBody},
		{"prefix", `{"path":"/latest/meta-data/events/","mode":"503"}`, MetadataPrefix + "events/maintenance/scheduled", 503, ""},
		{"everything", `{"mode":"404"}`, MetadataPrefix + "instance-id", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{IMDSv1: true})
			if code, body := f.post(t, "fault", tc.fault); code != 200 {
				t.Fatalf("POST fault: %d %s", code, body)
			}
			code, body := f.do(t, http.MethodGet, tc.path, nil, "")
			if code != tc.wantCode || (tc.wantBody != "" && body != tc.wantBody) {
				t.Fatalf("got %d %q, want %d %q", code, body, tc.wantCode, tc.wantBody)
			}
			if code, _ := f.post(t, "state", ""); code != http.StatusMethodNotAllowed {
				t.Errorf("control endpoints must not be faulted; POST state: %d", code)
			}
			_, _ = f.post(t, "reset", "")
			if code, _ := f.do(t, http.MethodGet, MetadataPrefix+"instance-id", nil, ""); code != 200 {
				t.Errorf("after reset: %d", code)
			}
		})
	}
}

func TestHangReleasedWhenFaultRemoved(t *testing.T) {
	f := newFixture(t, Options{IMDSv1: true})
	if err := f.srv.SetFault("", FaultHang); err != nil {
		t.Fatal(err)
	}
	// A client with a short timeout gives up.
	c := &http.Client{Timeout: 100 * time.Millisecond}
	if resp, err := c.Get(f.url + MetadataPrefix + "instance-id"); err == nil {
		_ = resp.Body.Close()
		t.Fatal("request to a hanging path answered")
	}
	waitHanging(t, f.srv, 0) // the abandoned request is let go
	// A patient request is answered normally once the fault is removed.
	done := make(chan int, 1)
	go func() {
		resp, err := http.Get(f.url + MetadataPrefix + "instance-id")
		if err != nil {
			done <- 0
			return
		}
		_ = resp.Body.Close()
		done <- resp.StatusCode
	}()
	waitHanging(t, f.srv, 1)
	if err := f.srv.SetFault("", FaultNone); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 200 {
			t.Fatalf("released request: %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("request still hanging after the fault was removed")
	}
}

func TestStateAndReset(t *testing.T) {
	f := newFixture(t, Options{})
	_, _ = f.post(t, "spot", `{"in":"1m"}`)
	_, _ = f.post(t, "maintenance", `{"code":"instance-retirement","in":"1h"}`)
	_, _ = f.post(t, "fault", `{"path":"/latest/meta-data/spot/","mode":"hang"}`)
	code, body := f.do(t, http.MethodGet, controlPrefix+"state", nil, "")
	var st State
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
		t.Fatalf("state %d %q: %v", code, body, err)
	}
	if st.Spot == nil || len(st.Maintenance) != 1 || st.Faults["/latest/meta-data/spot/"] != FaultHang ||
		st.LifecycleState != LifecycleInService {
		t.Fatalf("state %+v", st)
	}
	if code, _ := f.post(t, "reset", ""); code != http.StatusNoContent {
		t.Fatalf("reset: %d", code)
	}
	if st := f.srv.State(); st.Spot != nil || len(st.Maintenance) != 0 || len(st.Faults) != 0 {
		t.Fatalf("state after reset %+v", st)
	}
}

func waitHanging(t *testing.T, s *Server, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); s.faults.Hanging() != n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests hanging, want %d", s.faults.Hanging(), n)
		}
	}
}
