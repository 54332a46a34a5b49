// Package faultproxy puts a fault-injecting HTTPS reverse proxy in front of a
// Kubernetes API server, for tests that ask "what if this call fails?".
//
// A test points its clients at the proxy (Config, Kubeconfig) and adds rules
// matched by method, path and query: answer with an error status (a real
// metav1.Status body, so client-go's apierrors helpers classify it as they
// would the API server's), drop the connection, or stall before answering.
// Requests no live rule matches pass through unchanged; watches stream.
//
//	p := faultproxy.New(t, cluster.Config)
//	p.Inject(faultproxy.Rule{Match: faultproxy.Match{Method: "PATCH", Path: `^/api/v1/nodes/`}, Status: 503, Times: 1})
//	client := kubernetes.NewForConfigOrDie(p.Config())
package faultproxy

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Match selects requests. Empty fields match anything.
type Match struct {
	Method string // HTTP method, "" for any
	Path   string // regexp on URL.Path, "" for any
	Query  string // regexp on URL.RawQuery (e.g. `watch=true`, `fieldSelector=`), "" for any
}

// Rule is one fault. The first matching live rule (in the order added) acts
// on a request; a rule is live while it has hits left (Times) and now is in
// its time window.
type Rule struct {
	Match
	Status      int           // answer with this status and a metav1.Status body (reason from the code)
	RetryAfter  string        // Retry-After header value when set
	Drop        bool          // hijack and close the connection without answering
	Stall       time.Duration // wait this long (or until the request's context ends) before acting/forwarding
	Times       int           // apply to the first N matching requests only; 0 = unlimited
	From, Until time.Time     // optional time window; zero = open

	owner *Proxy
	hits  int
	path  *regexp.Regexp
	query *regexp.Regexp
}

// Hits returns how many requests this rule acted on.
func (r *Rule) Hits() int {
	if r.owner == nil {
		return 0
	}
	r.owner.mu.Lock()
	defer r.owner.mu.Unlock()
	return r.hits
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	upstream *rest.Config
	srv      *httptest.Server
	caPEM    []byte
	forward  *httputil.ReverseProxy

	mu    sync.Mutex
	rules []*Rule
	seen  []request
}

type request struct{ method, path, query string }

// New starts an HTTPS reverse proxy on 127.0.0.1 in front of the API server
// that cfg points at (using cfg's TLS credentials to dial it) and stops it in
// t.Cleanup. Watches stream through (flush immediately).
func New(t testing.TB, cfg *rest.Config) *Proxy {
	t.Helper()
	target, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatalf("faultproxy: upstream host %q: %v", cfg.Host, err)
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatalf("faultproxy: upstream transport: %v", err)
	}
	p := &Proxy{upstream: rest.CopyConfig(cfg)}
	p.forward = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
		},
		Transport:     rt,
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
		// An unreachable API server looks to the client as it would
		// without the proxy: a broken connection, not a 502.
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) { drop(w) },
	}
	base, cancel := context.WithCancel(context.Background())
	p.srv = httptest.NewUnstartedServer(p)
	p.srv.Config.BaseContext = func(net.Listener) context.Context { return base }
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.srv.StartTLS()
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	t.Cleanup(func() {
		cancel() // ends stalls and streaming watches
		p.srv.CloseClientConnections()
		p.srv.Close()
	})
	return p
}

// URL returns the proxy's base URL (https://127.0.0.1:port).
func (p *Proxy) URL() string { return p.srv.URL }

// Config returns a copy of the upstream config pointing at the proxy (same
// credentials; the proxy presents its own cert, so TLSClientConfig.CAData is
// replaced by the proxy's CA).
func (p *Proxy) Config() *rest.Config {
	c := rest.CopyConfig(p.upstream)
	c.Host = p.srv.URL
	c.APIPath = p.upstream.APIPath
	c.CAFile = ""
	c.CAData = append([]byte(nil), p.caPEM...)
	c.ServerName = ""
	c.Insecure = false
	return c
}

// Kubeconfig writes a kubeconfig file for Config() (for processes such as the
// lifeboat binary) and returns its path.
func (p *Proxy) Kubeconfig(t testing.TB) string {
	t.Helper()
	c := p.Config()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["proxy"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
	kc.AuthInfos["user"] = &clientcmdapi.AuthInfo{
		ClientCertificate:     c.CertFile,
		ClientCertificateData: c.CertData,
		ClientKey:             c.KeyFile,
		ClientKeyData:         c.KeyData,
		Token:                 c.BearerToken,
		TokenFile:             c.BearerTokenFile,
		Username:              c.Username,
		Password:              c.Password,
	}
	kc.Contexts["proxy"] = &clientcmdapi.Context{Cluster: "proxy", AuthInfo: "user"}
	kc.CurrentContext = "proxy"
	path := filepath.Join(t.TempDir(), "faultproxy.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatalf("faultproxy: kubeconfig: %v", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatalf("faultproxy: kubeconfig: %v", err)
	}
	return path
}

// Inject adds a rule; rules are matched in the order added; the first
// matching live rule applies. It panics on an invalid regexp (a test bug).
func (p *Proxy) Inject(r Rule) *Rule {
	rule := &Rule{Match: r.Match, Status: r.Status, RetryAfter: r.RetryAfter, Drop: r.Drop, Stall: r.Stall, Times: r.Times, From: r.From, Until: r.Until}
	rule.owner = p
	if r.Path != "" {
		rule.path = regexp.MustCompile(r.Path)
	}
	if r.Query != "" {
		rule.query = regexp.MustCompile(r.Query)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, rule)
	return rule
}

// Clear removes every rule.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// Count returns how many requests matched method+path (any rule or none) so far.
func (p *Proxy) Count(m Match) int {
	var path, query *regexp.Regexp
	if m.Path != "" {
		path = regexp.MustCompile(m.Path)
	}
	if m.Query != "" {
		query = regexp.MustCompile(m.Query)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.seen {
		if matches(m.Method, path, query, r) {
			n++
		}
	}
	return n
}

// ServeHTTP records the request, applies the first live matching rule and
// forwards what the rule lets through.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rule := p.pick(request{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery}, time.Now())
	if rule == nil {
		p.forward.ServeHTTP(w, r)
		return
	}
	if rule.Stall > 0 {
		timer := time.NewTimer(rule.Stall)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return
		}
	}
	switch {
	case rule.Drop:
		drop(w)
	case rule.Status != 0:
		writeStatus(w, rule.Status, rule.RetryAfter)
	default:
		p.forward.ServeHTTP(w, r)
	}
}

// pick records req and returns the rule that acts on it (counting the hit),
// or nil.
func (p *Proxy) pick(req request, now time.Time) *Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, req)
	for _, rule := range p.rules {
		if !rule.live(now) || !matches(rule.Method, rule.path, rule.query, req) {
			continue
		}
		rule.hits++
		return rule
	}
	return nil
}

func (r *Rule) live(now time.Time) bool {
	if r.Times > 0 && r.hits >= r.Times {
		return false
	}
	if !r.From.IsZero() && now.Before(r.From) {
		return false
	}
	return r.Until.IsZero() || now.Before(r.Until)
}

func matches(method string, path, query *regexp.Regexp, r request) bool {
	if method != "" && method != r.method {
		return false
	}
	if path != nil && !path.MatchString(r.path) {
		return false
	}
	return query == nil || query.MatchString(r.query)
}

// drop closes the client's connection without an answer.
func drop(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// writeStatus answers as the API server does: a JSON metav1.Status whose
// reason follows from the code, with Retry-After in the header and in the
// details when set.
func writeStatus(w http.ResponseWriter, code int, retryAfter string) {
	st := Status(code, retryAfter)
	body, err := json.Marshal(st)
	if err != nil {
		panic(err) // a metav1.Status always marshals
	}
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// Status returns the metav1.Status the proxy answers with for code.
func Status(code int, retryAfter string) *metav1.Status {
	reason, message := reasonFor(code)
	st := &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Code:     int32(code),
		Reason:   reason,
		Message:  "faultproxy: " + message,
	}
	if secs, err := strconv.Atoi(retryAfter); err == nil && secs > 0 {
		st.Details = &metav1.StatusDetails{RetryAfterSeconds: int32(secs)}
	}
	return st
}

// reasonFor maps an HTTP status to the reason the API server gives it.
func reasonFor(code int) (metav1.StatusReason, string) {
	switch code {
	case http.StatusBadRequest:
		return metav1.StatusReasonBadRequest, "bad request"
	case http.StatusUnauthorized:
		return metav1.StatusReasonUnauthorized, "Unauthorized"
	case http.StatusForbidden:
		return metav1.StatusReasonForbidden, "forbidden"
	case http.StatusNotFound:
		return metav1.StatusReasonNotFound, "not found"
	case http.StatusMethodNotAllowed:
		return metav1.StatusReasonMethodNotAllowed, "method not allowed"
	case http.StatusConflict:
		// Conflict (not AlreadyExists) even for a POST: the eviction
		// subresource answers a PDB update conflict this way.
		return metav1.StatusReasonConflict, "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again"
	case http.StatusGone:
		return metav1.StatusReasonExpired, "too old resource version"
	case http.StatusRequestEntityTooLarge:
		return metav1.StatusReasonRequestEntityTooLarge, "request entity too large"
	case http.StatusUnsupportedMediaType:
		return metav1.StatusReasonUnsupportedMediaType, "unsupported media type"
	case http.StatusUnprocessableEntity:
		return metav1.StatusReasonInvalid, "invalid"
	case http.StatusTooManyRequests:
		return metav1.StatusReasonTooManyRequests, "too many requests, please try again later"
	case http.StatusServiceUnavailable:
		return metav1.StatusReasonServiceUnavailable, "the server is currently unable to handle the request"
	case http.StatusGatewayTimeout:
		return metav1.StatusReasonTimeout, "the server was unable to return a response in the time allotted"
	}
	if code >= 500 {
		return metav1.StatusReasonInternalError, fmt.Sprintf("an error on the server (code %d) has prevented the request from succeeding", code)
	}
	return metav1.StatusReasonUnknown, http.StatusText(code)
}
