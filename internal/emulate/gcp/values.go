package gcp

import (
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Request is one metadata request the emulator answered (or is answering).
type Request struct {
	// Time is when it arrived (emulator clock).
	Time time.Time `json:"time"`
	// Key is the path below /computeMetadata/v1/.
	Key string `json:"key"`
	// Wait is true for wait_for_change=true requests.
	Wait bool `json:"wait"`
	// LastETag is the last_etag parameter.
	LastETag string `json:"lastEtag,omitempty"`
	// TimeoutSec is the timeout_sec parameter.
	TimeoutSec string `json:"timeoutSec,omitempty"`
	// Outcome is how it was answered: "value" (at once), "changed" (a
	// hanging request released by a change), "timeout" (timeout_sec
	// passed), "fault", "canceled" (the client gave up) or "not-found".
	Outcome string `json:"outcome"`
}

// Outcomes of a Request.
const (
	OutcomeValue    = "value"
	OutcomeChanged  = "changed"
	OutcomeTimeout  = "timeout"
	OutcomeFault    = "fault"
	OutcomeCanceled = "canceled"
	OutcomeNotFound = "not-found"
)

// Set changes a key's value now (a new ETag even if the value is the same)
// and releases the wait_for_change requests hanging on it.
func (s *Server) Set(key, v string) {
	s.mu.Lock()
	s.setLocked(key, v)
	s.mu.Unlock()
	s.opts.Log.Info("metadata value changed", "source", "gcp-emulator", "key", key, "value", v)
}

// SetAfter changes a key's value after d on the emulator clock (at once if
// d <= 0).
func (s *Server) SetAfter(key, v string, d time.Duration) {
	if d <= 0 {
		s.Set(key, v)
		return
	}
	s.opts.Clock.AfterFunc(d, func() { s.Set(key, v) })
}

// Preempt sets instance/preempted to TRUE after d, as GCE does about 30 s
// before it stops a spot or preemptible VM.
func (s *Server) Preempt(d time.Duration) { s.SetAfter(PreemptedKey, PreemptedTrue, d) }

// Maintenance sets instance/maintenance-event to v after d (MaintenanceNone
// ends the event).
func (s *Server) Maintenance(v string, d time.Duration) { s.SetAfter(MaintenanceKey, v, d) }

// Reset returns the instance to running (not preempted, no maintenance)
// and removes every fault. Changes scheduled with a delay still happen.
func (s *Server) Reset() {
	s.mu.Lock()
	for k, v := range map[string]string{PreemptedKey: PreemptedFalse, MaintenanceKey: MaintenanceNone} {
		if s.values[k].v != v {
			s.setLocked(k, v)
		}
	}
	s.faults.Reset()
	s.mu.Unlock()
	s.opts.Log.Info("emulator: reset", "source", "gcp-emulator")
}

// Value returns a key's value and ETag.
func (s *Server) Value(key string) (v, etag string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	val, ok := s.values[key]
	if !ok {
		return "", "", false
	}
	return val.v, val.etag, true
}

// Requests returns the requests for key ("" for all), oldest first (the
// last 1000 are kept).
func (s *Server) Requests(key string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if key == "" || r.Key == key {
			out = append(out, *r)
		}
	}
	return out
}

// Waiting returns how many wait_for_change requests hang on key right now.
func (s *Server) Waiting(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting[key]
}

func (s *Server) setLocked(key, v string) {
	s.version++
	s.values[key] = &value{v: v, etag: etagOf(key, s.version)}
	close(s.changed)
	s.changed = make(chan struct{})
}

// etagOf derives an opaque 16-hex-digit ETag, unique per key and version.
func etagOf(key string, version int) string {
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%s\x00%d", key, version)
	return fmt.Sprintf("%016x", h.Sum64())
}

// handleMetadata answers a key, hanging first for wait_for_change=true while
// last_etag (or, without one, the value at arrival) is current.
func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	q := r.URL.Query()
	rec := Request{
		Time: s.opts.Clock.Now().UTC(), Key: key, Wait: q.Get("wait_for_change") == "true",
		LastETag: q.Get("last_etag"), TimeoutSec: q.Get("timeout_sec"),
	}
	timeout := s.opts.DefaultWaitTimeout
	if ts := q.Get("timeout_sec"); ts != "" {
		n, err := strconv.Atoi(ts)
		if err != nil || n < 0 {
			http.Error(w, "invalid timeout_sec", http.StatusBadRequest)
			return
		}
		timeout = time.Duration(n) * time.Second
	}
	rp := s.record(rec)
	if s.faults.Apply(w, r, s.answers(key)) {
		s.finish(rp, OutcomeFault)
		return
	}
	v, outcome := s.await(r, key, rec, timeout)
	s.finish(rp, outcome)
	switch {
	case v != nil:
		writeText(w, v.v, v.etag)
	case outcome == OutcomeNotFound:
		http.NotFound(w, r)
	}
}

// await returns the value to answer with and the outcome; a nil value means
// there is nothing to write (not found, or the client went away).
func (s *Server) await(r *http.Request, key string, rec Request, timeout time.Duration) (*value, string) {
	s.mu.Lock()
	v, ok := s.values[key]
	if !ok {
		s.mu.Unlock()
		return nil, OutcomeNotFound
	}
	if !rec.Wait || (rec.LastETag != "" && rec.LastETag != v.etag) {
		s.mu.Unlock()
		return v, OutcomeValue
	}
	start := v
	s.waiting[key]++
	defer func() { s.mu.Lock(); s.waiting[key]--; s.mu.Unlock() }()
	timer := s.opts.Clock.NewTimer(timeout)
	defer timer.Stop()
	for {
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-r.Context().Done():
			return nil, OutcomeCanceled
		case <-timer.C():
			s.mu.Lock()
			v := s.values[key]
			s.mu.Unlock()
			return v, OutcomeTimeout
		case <-changed:
		}
		s.mu.Lock()
		if v := s.values[key]; v != start {
			s.mu.Unlock()
			return v, OutcomeChanged
		}
	}
}

func (s *Server) record(r Request) *Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) >= defaultRequestLogSize {
		s.requests = slices.Delete(s.requests, 0, len(s.requests)-defaultRequestLogSize+1)
	}
	rp := &r
	s.requests = append(s.requests, rp)
	return rp
}

func (s *Server) finish(r *Request, outcome string) {
	s.mu.Lock()
	r.Outcome = outcome
	s.mu.Unlock()
}
