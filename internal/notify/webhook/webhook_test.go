package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"text/template"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
)

// received is one request the test endpoint got.
type received struct {
	method string
	path   string
	header http.Header
	body   string
}

func endpoint(t *testing.T, status int) (*httptest.Server, chan received) {
	t.Helper()
	got := make(chan received, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- received{method: r.Method, path: r.URL.RequestURI(), header: r.Header.Clone(), body: string(b)}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func TestTemplateBodyAndHeaders(t *testing.T) {
	srv, got := endpoint(t, http.StatusAccepted)
	tmpl, err := ParseTemplate("t", `{"text": {{ json .Summary }}, "node": "{{ .Node }}", "deadline": "{{ rfc3339 .Deadline }}", `+
		`"secs": {{ seconds .Duration }}, "zone": "{{ default "n/a" .Zone }}", "step": "{{ lower (print .Step) }}"}`)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHeaders([]string{"Authorization: Bearer hook-secret", "X-Team: sre", "X-Team: platform"})
	if err != nil {
		t.Fatal(err)
	}
	n := New(Config{URL: srv.URL + "/hooks/lifeboat?x=1", Method: http.MethodPut, Header: h, ContentType: "application/vnd.test+json", Template: tmpl})
	m := SampleMessage()
	m.Zone, m.Text = "", `drained "web" <ok>`
	if err := n.Notify(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.method != http.MethodPut || r.path != "/hooks/lifeboat?x=1" {
		t.Errorf("request = %s %s, want PUT /hooks/lifeboat?x=1", r.method, r.path)
	}
	if r.header.Get("Content-Type") != "application/vnd.test+json" || r.header.Get("Authorization") != "Bearer hook-secret" ||
		strings.Join(r.header.Values("X-Team"), ",") != "sre,platform" {
		t.Errorf("headers = %v", r.header)
	}
	want := `{"text": "[prod] ip-10-0-1-23: drained \"web\" \u003cok\u003e", "node": "ip-10-0-1-23", "deadline": "2026-01-02T03:06:05Z", ` +
		`"secs": 47, "zone": "n/a", "step": "drained"}`
	if r.body != want {
		t.Errorf("body =\n%s\nwant\n%s", r.body, want)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Errorf("rendered body is not JSON: %v", err)
	}
}

func TestDefaultBodyIsTheMessageAsJSON(t *testing.T) {
	srv, got := endpoint(t, http.StatusOK)
	if err := New(Config{URL: srv.URL}).Notify(t.Context(), SampleMessage()); err != nil {
		t.Fatal(err)
	}
	r := <-got
	var v map[string]any
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("default body %q is not JSON: %v", r.body, err)
	}
	for k, want := range map[string]any{
		"node": "ip-10-0-1-23", "cluster": "prod", "step": "Drained", "result": "succeeded", "kind": "spot-interruption",
		"trigger": "aws", "instanceType": "m7g.large", "region": "eu-west-1", "zone": "eu-west-1a",
		"podsEvicted": float64(11), "podsLeft": float64(0), "deadline": "2026-01-02T03:06:05Z",
	} {
		if v[k] != want {
			t.Errorf("default body %s = %v, want %v", k, v[k], want)
		}
	}
	if r.method != http.MethodPost || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("default request = %s %s, want POST application/json", r.method, r.header.Get("Content-Type"))
	}
}

func TestEmptyBodyIsSkipped(t *testing.T) {
	srv, got := endpoint(t, http.StatusOK)
	tmpl, err := ParseTemplate("t", "{{ if .Result }}{{ .Result }}{{ end }}\n")
	if err != nil {
		t.Fatal(err)
	}
	n := New(Config{URL: srv.URL, Template: tmpl})
	m := SampleMessage()
	m.Result = ""
	if err := n.Notify(t.Context(), m); !errors.Is(err, notifier.ErrSkipped) {
		t.Errorf("Notify with an empty body = %v, want ErrSkipped", err)
	}
	select {
	case r := <-got:
		t.Errorf("an empty body was sent: %+v", r)
	default:
	}
}

func TestStatusClassification(t *testing.T) {
	for _, tc := range []struct {
		status    int
		permanent bool
	}{{400, true}, {403, true}, {404, true}, {408, false}, {429, false}, {500, false}, {503, false}} {
		srv, _ := endpoint(t, tc.status)
		err := New(Config{URL: srv.URL + "/secret-path-abc"}).Notify(t.Context(), SampleMessage())
		var de *notifier.DeliveryError
		if !errors.As(err, &de) || de.Permanent != tc.permanent || de.StatusCode != tc.status {
			t.Errorf("HTTP %d: Notify = %v, want *DeliveryError permanent=%v", tc.status, err, tc.permanent)
		}
	}
}

func TestProxyIsUsed(t *testing.T) {
	proxied := make(chan string, 1)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied <- r.Method + " " + r.URL.String()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer proxy.Close()
	pu, _ := url.Parse(proxy.URL)
	hc := notifier.NewHTTPClient(notifier.HTTPConfig{Timeout: 0, Proxy: pu})
	// The target does not exist: only a proxy can answer.
	n := New(Config{URL: "http://hooks.invalid/lifeboat", HTTP: hc})
	if err := n.Notify(t.Context(), SampleMessage()); err != nil {
		t.Fatal(err)
	}
	if got := <-proxied; got != "POST http://hooks.invalid/lifeboat" {
		t.Errorf("proxy saw %q, want the absolute-form request for the webhook", got)
	}
}

func TestParseHeaders(t *testing.T) {
	h, err := ParseHeaders([]string{"X-A: 1", "x-b:two: parts "})
	if err != nil {
		t.Fatal(err)
	}
	if h.Get("X-A") != "1" || h.Get("X-B") != "two: parts" {
		t.Errorf("headers = %v", h)
	}
	for _, bad := range []string{"no colon secret-value", ": empty", "Bad Name: v"} {
		_, err := ParseHeaders([]string{"X-Ok: 1", bad})
		if err == nil || !strings.Contains(err.Error(), "#2") {
			t.Errorf("ParseHeaders(%q) = %v, want an error naming entry #2", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret-value") {
			t.Errorf("error %q echoes the header value", err)
		}
	}
}

func TestParseTemplateRejectsBadTemplates(t *testing.T) {
	for _, text := range []string{"{{ .Nope }}", "{{ if }}", "{{ json }}", "{{ rfc3339 .Node }}"} {
		if _, err := ParseTemplate("t", text); err == nil {
			t.Errorf("ParseTemplate(%q) succeeded, want an error", text)
		}
	}
}

// TestDocumentedTemplates renders every gotmpl example of
// docs/NOTIFICATIONS.md, so the documentation cannot rot: each must parse,
// render the sample message, render nothing for a step that is not wanted
// (when it filters), and produce valid JSON when it is a JSON body.
func TestDocumentedTemplates(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/NOTIFICATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(doc), "```gotmpl\n")[1:]
	if len(blocks) < 3 {
		t.Fatalf("found %d gotmpl examples, want the Slack, Teams and Pushgateway ones", len(blocks))
	}
	for i, b := range blocks {
		text, _, _ := strings.Cut(b, "```")
		tmpl, err := ParseTemplate(fmt.Sprintf("example-%d", i), text)
		if err != nil {
			t.Errorf("example %d does not parse: %v", i, err)
			continue
		}
		out, err := render(tmpl, SampleMessage())
		if err != nil {
			t.Errorf("example %d: %v", i, err)
			continue
		}
		body := strings.TrimSpace(string(out))
		if strings.HasPrefix(body, "{") {
			var v any
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				t.Errorf("example %d renders invalid JSON: %v\n%s", i, err, body)
			}
			continue
		}
		if !strings.Contains(body, `lifeboat_last_drain_duration_seconds{node="ip-10-0-1-23",result="succeeded"} 47`) {
			t.Errorf("example %d (Pushgateway) renders:\n%s", i, body)
		}
		m := SampleMessage()
		m.Result, m.Step = "", string(drain.StepCordoned)
		if out, _ := render(tmpl, m); strings.TrimSpace(string(out)) != "" {
			t.Errorf("example %d should render nothing for a step without a result, got %q", i, out)
		}
	}
}

// TestDocumentedDefaultBody checks the default-body example of
// docs/NOTIFICATIONS.md against what the sample message really encodes to.
func TestDocumentedDefaultBody(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/NOTIFICATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "```json\n{\"lifecycle\"")
	if !ok {
		t.Fatal("docs/NOTIFICATIONS.md lacks the default body example")
	}
	example, _, _ := strings.Cut(`{"lifecycle"`+after, "```")
	var documented, real map[string]any
	if err := json.Unmarshal([]byte(example), &documented); err != nil {
		t.Fatalf("documented example is not JSON: %v", err)
	}
	out, err := render(template.Must(template.New("d").Funcs(Funcs).Parse(DefaultTemplate)), SampleMessage())
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &real); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(documented, real) {
		t.Errorf("documented default body differs from the real one:\ndoc:  %v\nreal: %v", documented, real)
	}
}
