// Package keyserver is the shared core of the emulators of metadata
// services that serve plain-text keys by path (emulate/alibaba,
// emulate/tencent, emulate/digitalocean): a path either has a value (200,
// text/plain) or is missing (404), values change now or after a delay on
// an injected clock, an optional session-token endpoint (Alibaba's hardened
// mode) can be required, and the common control endpoints and fault modes
// under /lifeboat/ (docs/EMULATORS.md) work as for the other emulators.
package keyserver

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/emulate"
)

// GarbageValue is the body FaultGarbage serves.
const GarbageValue = "\x00<html>garbage"

// requestLogSize bounds the request log.
const requestLogSize = 1000

// TokenOptions describe a session-token endpoint (PUT Path with the TTL
// header returns a token; requests carry it in Header).
type TokenOptions struct {
	// Path of the token endpoint, e.g. /latest/api/token.
	Path string
	// TTLHeader carries the requested lifetime in seconds (MinTTL-MaxTTL).
	TTLHeader string
	// Header carries the token on metadata requests.
	Header string
	// MinTTL and MaxTTL bound the lifetime in seconds.
	MinTTL, MaxTTL int
}

// Options configure a Server.
type Options struct {
	// Source labels log lines ("alibaba-emulator").
	Source string
	// Values are the paths served from the start (identity keys).
	Values map[string]string
	// Token, if set, serves a token endpoint.
	Token *TokenOptions
	// RequireToken refuses metadata requests without a valid token (401),
	// as a hardened-mode metadata service does.
	RequireToken bool
	// Clock times scheduled changes and token expiry (clock.RealClock if nil).
	Clock clock.WithDelayedExecution
	// Log receives one line per control request and change (slog.Default if nil).
	Log *slog.Logger
}

// Request is one metadata request the emulator answered.
type Request struct {
	// Time is when it arrived (emulator clock).
	Time time.Time `json:"time"`
	// Method and Path of the request.
	Method string `json:"method"`
	Path   string `json:"path"`
	// Token is true when the request carried a valid session token.
	Token bool `json:"token"`
	// Status is the HTTP status answered (0 while a hang fault holds it).
	Status int `json:"status"`
}

// Server is an emulated metadata service; an http.Handler, safe for
// concurrent use.
type Server struct {
	opts    Options
	mux     *http.ServeMux
	faults  *emulate.Faults
	initial map[string]string

	mu       sync.Mutex
	values   map[string]string
	tokens   map[string]time.Time // token -> expiry
	requests []Request
}

// New returns a server serving o.Values.
func New(o Options) *Server {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &Server{
		opts: o, faults: emulate.NewFaults(), values: map[string]string{}, tokens: map[string]time.Time{},
		initial: map[string]string{},
	}
	for k, v := range o.Values {
		s.values[k], s.initial[k] = v, v
	}
	s.mux = http.NewServeMux()
	s.controlRoutes()
	return s
}

// Handle registers a cloud-specific control endpoint (pattern such as
// "POST /lifeboat/reclaim").
func (s *Server) Handle(pattern string, h http.HandlerFunc) { s.mux.HandleFunc(pattern, h) }

// Clock is the emulator's clock.
func (s *Server) Clock() clock.WithDelayedExecution { return s.opts.Clock }

// Log is the emulator's logger.
func (s *Server) Log() *slog.Logger { return s.opts.Log }

// ServeHTTP serves the metadata paths, the token endpoint and /lifeboat/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, emulate.ControlPrefix) {
		s.mux.ServeHTTP(w, r)
		return
	}
	status := s.serve(w, r)
	tok := s.validToken(r)
	s.mu.Lock()
	if len(s.requests) >= requestLogSize {
		s.requests = s.requests[1:]
	}
	s.requests = append(s.requests, Request{
		Time: s.opts.Clock.Now(), Method: r.Method, Path: r.URL.Path, Token: tok, Status: status,
	})
	s.mu.Unlock()
}

// serve answers one metadata request and returns the status it wrote.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) int {
	rec := &statusWriter{ResponseWriter: w}
	if s.faults.Apply(rec, r, emulate.Answers{Garbage: func(w http.ResponseWriter) { writeText(w, GarbageValue) }}) {
		return rec.status
	}
	if t := s.opts.Token; t != nil && r.URL.Path == t.Path {
		return s.issueToken(w, r)
	}
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return http.StatusMethodNotAllowed
	}
	if s.opts.RequireToken && !s.validToken(r) {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return http.StatusUnauthorized
	}
	v, ok := s.Value(r.URL.Path)
	if !ok {
		http.Error(w, "Not Found", http.StatusNotFound)
		return http.StatusNotFound
	}
	writeText(w, v)
	return http.StatusOK
}

// issueToken answers PUT on the token path.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) int {
	t := s.opts.Token
	if r.Method != http.MethodPut {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return http.StatusMethodNotAllowed
	}
	ttl, err := strconv.Atoi(r.Header.Get(t.TTLHeader))
	if err != nil || ttl < t.MinTTL || ttl > t.MaxTTL {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return http.StatusBadRequest
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	s.mu.Lock()
	s.tokens[tok] = s.opts.Clock.Now().Add(time.Duration(ttl) * time.Second)
	s.mu.Unlock()
	writeText(w, tok)
	return http.StatusOK
}

// validToken reports whether r carries an unexpired token.
func (s *Server) validToken(r *http.Request) bool {
	t := s.opts.Token
	if t == nil {
		return false
	}
	tok := r.Header.Get(t.Header)
	if tok == "" {
		return false
	}
	s.mu.Lock()
	exp, ok := s.tokens[tok]
	s.mu.Unlock()
	return ok && s.opts.Clock.Now().Before(exp)
}

// Value returns a path's value and whether it exists.
func (s *Server) Value(path string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.values[path]
	return v, ok
}

// Set gives path a value now.
func (s *Server) Set(path, v string) {
	s.mu.Lock()
	s.values[path] = v
	s.mu.Unlock()
	s.opts.Log.Info("metadata value changed", "source", s.opts.Source, "path", path, "value", v)
}

// Delete makes path answer 404 now.
func (s *Server) Delete(path string) {
	s.mu.Lock()
	delete(s.values, path)
	s.mu.Unlock()
	s.opts.Log.Info("metadata value removed", "source", s.opts.Source, "path", path)
}

// After runs f after d on the emulator clock (at once if d <= 0).
func (s *Server) After(d time.Duration, f func()) {
	if d <= 0 {
		f()
		return
	}
	s.opts.Clock.AfterFunc(d, f)
}

// SetFault makes requests to path misbehave until removed (FaultNone);
// path is exact, a "/"-terminated prefix, or "" for every path.
func (s *Server) SetFault(path string, mode emulate.FaultMode) error {
	return s.faults.Set(path, mode, 0)
}

// FailNext is SetFault for the next n requests only.
func (s *Server) FailNext(path string, mode emulate.FaultMode, n int) error {
	return s.faults.Set(path, mode, n)
}

// Reset restores the initial values, forgets tokens and removes every
// fault. Changes scheduled with a delay still happen.
func (s *Server) Reset() {
	s.mu.Lock()
	clear(s.values)
	for k, v := range s.initial {
		s.values[k] = v
	}
	clear(s.tokens)
	s.mu.Unlock()
	s.faults.Reset()
	s.opts.Log.Info("emulator: reset", "source", s.opts.Source)
}

// Requests returns the logged metadata requests, oldest first, optionally
// only those for path.
func (s *Server) Requests(path string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Request{}
	for _, r := range s.requests {
		if path == "" || r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func writeText(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(body))
}

// statusWriter records the status a fault answer wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}
