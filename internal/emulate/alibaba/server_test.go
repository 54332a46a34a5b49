package alibaba_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	"github.com/lifeboat-dev/lifeboat/internal/emulate/alibaba"
	"github.com/lifeboat-dev/lifeboat/internal/emulate/keyserver"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

func do(t *testing.T, method, url string, header map[string]string, body string) (int, string) {
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

func TestHardenedModeTokens(t *testing.T) {
	clk := testclock.NewFakeClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	srv := httptest.NewServer(alibaba.New(alibaba.Options{Hardened: true, Clock: clk, Log: logging.Discard()}))
	defer srv.Close()
	id := srv.URL + alibaba.PathInstanceID
	if code, _ := do(t, "GET", id, nil, ""); code != http.StatusUnauthorized {
		t.Errorf("token-less GET in hardened mode: %d, want 401", code)
	}
	for _, ttl := range []string{"", "0", "21601", "x"} {
		if code, _ := do(t, "PUT", srv.URL+alibaba.PathToken, map[string]string{alibaba.HeaderTokenTTL: ttl}, ""); code != http.StatusBadRequest {
			t.Errorf("token with TTL %q: %d, want 400", ttl, code)
		}
	}
	code, tok := do(t, "PUT", srv.URL+alibaba.PathToken, map[string]string{alibaba.HeaderTokenTTL: "60"}, "")
	if code != http.StatusOK || tok == "" {
		t.Fatalf("token: %d %q", code, tok)
	}
	if code, body := do(t, "GET", id, map[string]string{alibaba.HeaderToken: tok}, ""); code != 200 || body != alibaba.DefaultInstanceID {
		t.Errorf("GET with token: %d %q", code, body)
	}
	clk.Step(61 * time.Second)
	if code, _ := do(t, "GET", id, map[string]string{alibaba.HeaderToken: tok}, ""); code != http.StatusUnauthorized {
		t.Errorf("GET with an expired token: %d, want 401", code)
	}
}

func TestControlEndpoints(t *testing.T) {
	clk := testclock.NewFakeClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	srv := httptest.NewServer(alibaba.New(alibaba.Options{Clock: clk, Log: logging.Discard()}))
	defer srv.Close()
	tt := srv.URL + alibaba.PathTerminationTime
	if code, _ := do(t, "GET", tt, nil, ""); code != http.StatusNotFound {
		t.Fatalf("termination-time before a reclaim: %d, want 404", code)
	}
	if code, body := do(t, "POST", srv.URL+"/lifeboat/reclaim", nil, `{"in":"10s","notice":"5m"}`); code != http.StatusNoContent {
		t.Fatalf("reclaim: %d %s", code, body)
	}
	clk.Step(10 * time.Second)
	if code, body := do(t, "GET", tt, nil, ""); code != 200 || body != "2026-03-01T10:05:10Z" {
		t.Fatalf("termination-time: %d %q", code, body)
	}
	if code, _ := do(t, "POST", srv.URL+"/lifeboat/reclaim", nil, `{"in":"-1s"}`); code != http.StatusBadRequest {
		t.Errorf("negative in: %d, want 400", code)
	}
	if code, _ := do(t, "POST", srv.URL+"/lifeboat/fault", nil, `{"mode":"503","path":"`+alibaba.PathTerminationTime+`","count":1}`); code != http.StatusNoContent {
		t.Fatal("fault not set")
	}
	if code, _ := do(t, "GET", tt, nil, ""); code != 503 {
		t.Errorf("faulted GET: %d, want 503", code)
	}
	if code, _ := do(t, "GET", tt, nil, ""); code != 200 {
		t.Errorf("GET after a one-shot fault: %d, want 200", code)
	}
	if code, _ := do(t, "POST", srv.URL+"/lifeboat/values", nil, `{"path":"`+alibaba.PathTerminationTime+`","delete":true}`); code != http.StatusNoContent {
		t.Fatal("values not accepted")
	}
	if code, _ := do(t, "GET", tt, nil, ""); code != 404 {
		t.Errorf("after delete: %d, want 404", code)
	}
	_, body := do(t, "GET", srv.URL+"/lifeboat/requests?path="+alibaba.PathTerminationTime, nil, "")
	var reqs []keyserver.Request
	if err := json.Unmarshal([]byte(body), &reqs); err != nil || len(reqs) != 5 || reqs[2].Status != 503 || reqs[4].Status != 404 {
		t.Errorf("requests = %+v, %v", reqs, err)
	}
	do(t, "POST", srv.URL+"/lifeboat/reclaim", nil, `{}`)
	do(t, "POST", srv.URL+"/lifeboat/reset", nil, "")
	_, body = do(t, "GET", srv.URL+"/lifeboat/state", nil, "")
	var st keyserver.State
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Values[alibaba.PathTerminationTime] != "" || len(st.Faults) != 0 {
		t.Errorf("state after reset = %+v, %v", st, err)
	}
	if _, ok := st.Values[alibaba.PathTerminationTime]; ok {
		t.Error("reset kept the termination time")
	}
}
