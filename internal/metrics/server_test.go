package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// runServer starts a server on a free loopback port and stops it at cleanup,
// checking that Run returned nil.
func runServer(t *testing.T, o Options, m *Metrics) (*Server, string) {
	t.Helper()
	o.Address = "127.0.0.1:0"
	s := NewServer(o, m, nil)
	addr, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after its context was canceled")
		}
	})
	return s, "http://" + addr.String()
}

func TestServerEndpoints(t *testing.T) {
	m := New("v9.9.9")
	m.Notification("slack", NotificationSent)
	s, base := runServer(t, Options{}, m)

	if code, body := get(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
	if code, _ := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before SetReady = %d, want 503", code)
	}
	s.SetReady(true)
	if code, _ := get(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after SetReady(true) = %d, want 200", code)
	}
	s.SetReady(false)
	if code, _ := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after SetReady(false) = %d, want 503", code)
	}
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`lifeboat_build_info{goversion="`,
		`lifeboat_notifications_total{notifier="slack",result="sent"} 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, _ := get(t, base+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without --enable-pprof = %d, want 404", code)
	}
}

func TestServerPprofOnlyWhenEnabled(t *testing.T) {
	_, base := runServer(t, Options{EnablePprof: true}, New("dev"))
	code, body := get(t, base+"/debug/pprof/")
	if code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/ with --enable-pprof = %d, want 200 listing profiles", code)
	}
}

func TestServerDisabled(t *testing.T) {
	s := NewServer(Options{}, New("dev"), nil)
	done := make(chan error, 1)
	go func() { done <- s.Run(t.Context()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run with empty address = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("Run with an empty address did not return")
	}
}

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{name: "default", opts: DefaultOptions()},
		{name: "disabled", opts: Options{}},
		{name: "host and port", opts: Options{Address: "127.0.0.1:9101", EnablePprof: true}},
		{name: "no port", opts: Options{Address: "localhost"}, wantErr: "--metrics-address"},
		{name: "pprof without server", opts: Options{EnablePprof: true}, wantErr: "--enable-pprof"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate() = %v, want an error naming %s", err, tc.wantErr)
			}
		})
	}
}

func TestHealthzFailsWhenLivenessCheckFails(t *testing.T) {
	m := New("v1")
	s, base := runServer(t, Options{}, m)
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz without a check = %d, want 200", code)
	}
	var wedged error
	s.SetLiveness(func() error { return wedged })
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz with a passing check = %d, want 200", code)
	}
	wedged = errors.New("agent main loop has not run for 1m0s")
	if code, body := get(t, base+"/healthz"); code != http.StatusInternalServerError || !strings.Contains(body, "main loop") {
		t.Fatalf("healthz with a failing check = %d %q, want 500 naming the reason", code, body)
	}
}

func TestReadyGauges(t *testing.T) {
	m := New("v1")
	m.SetSourceReady("azure", false)
	if v := testutil.ToFloat64(m.Ready); v != 0 {
		t.Errorf("lifeboat_ready = %v before SetReady, want 0", v)
	}
	m.SetReady(true)
	m.SetSourceReady("azure", true)
	if v := testutil.ToFloat64(m.Ready); v != 1 {
		t.Errorf("lifeboat_ready = %v, want 1", v)
	}
	if v := testutil.ToFloat64(m.SourceReady.WithLabelValues("azure")); v != 1 {
		t.Errorf("lifeboat_notice_source_ready{source=azure} = %v, want 1", v)
	}
}
