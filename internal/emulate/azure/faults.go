package azure

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// FaultMode is how the emulator misbehaves on a path: FaultNone,
// FaultGarbage, FaultHang, or an HTTP status code as three digits ("500").
type FaultMode string

// Fault modes with a name.
const (
	// FaultNone removes the fault on a path.
	FaultNone FaultMode = "none"
	// FaultGarbage answers 200 with a truncated, unparsable JSON body.
	FaultGarbage FaultMode = "garbage"
	// FaultHang holds the request open until the client gives up or the
	// fault is changed (then the request is served normally).
	FaultHang FaultMode = "hang"
	// Fault500 answers 500 Internal Server Error.
	Fault500 FaultMode = "500"
)

// garbageBody starts like a Scheduled Events document and breaks off.
const garbageBody = `{"DocumentIncarnation": 7, "Events": [{"EventId": "`

// ValidationError is a control request or method argument the emulator refuses.
type ValidationError struct {
	// Field names the offending field.
	Field string
	// Problem says what is wrong.
	Problem string
}

func (e *ValidationError) Error() string { return e.Field + " " + e.Problem }

// Validate reports whether m is a known mode.
func (m FaultMode) Validate() error {
	switch m {
	case FaultNone, FaultGarbage, FaultHang:
		return nil
	}
	if _, ok := m.status(); ok {
		return nil
	}
	return &ValidationError{Field: "mode", Problem: "must be none, garbage, hang or an HTTP status code 400-599"}
}

func (m FaultMode) status() (int, bool) {
	code, err := strconv.Atoi(string(m))
	return code, err == nil && len(m) == 3 && code >= 400 && code <= 599
}

// fault is one injected failure; remaining counts the requests it still
// applies to (0: until removed).
type fault struct {
	mode      FaultMode
	remaining int
}

// SetFault makes requests to path misbehave until the fault is removed
// (FaultNone). path is an exact path (ScheduledEventsPath), a prefix ending
// in "/" ("/metadata/"), or "" for every IMDS path; the longest match wins.
func (s *Server) SetFault(path string, mode FaultMode) error { return s.FailNext(path, mode, 0) }

// FailNext is SetFault for the next n matching requests only (n = 0: until
// removed).
func (s *Server) FailNext(path string, mode FaultMode, n int) error {
	if err := mode.Validate(); err != nil {
		return err
	}
	switch {
	case n < 0:
		return &ValidationError{Field: "count", Problem: "must not be negative"}
	case path != "" && !strings.HasPrefix(path, "/"):
		return &ValidationError{Field: "path", Problem: "must start with /"}
	case strings.HasPrefix(path, controlPrefix):
		return &ValidationError{Field: "path", Problem: "control endpoints cannot fail"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if mode == FaultNone {
		delete(s.faults, path)
	} else {
		s.faults[path] = &fault{mode: mode, remaining: n}
	}
	s.faultsChangedLocked()
	return nil
}

func (s *Server) faultsChangedLocked() {
	close(s.faultCh)
	s.faultCh = make(chan struct{})
}

// takeFault returns the fault for path (consuming one use) and a channel
// closed on the next change of faults.
func (s *Server) takeFault(path string) (FaultMode, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	best, key := -1, ""
	for p := range s.faults {
		match := p == "" || p == path || (strings.HasSuffix(p, "/") && strings.HasPrefix(path, p))
		if match && len(p) > best {
			best, key = len(p), p
		}
	}
	if best < 0 {
		return FaultNone, s.faultCh
	}
	f := s.faults[key]
	if f.remaining > 0 {
		if f.remaining--; f.remaining == 0 {
			delete(s.faults, key)
		}
	}
	return f.mode, s.faultCh
}

// applyFault misbehaves if a fault matches r and reports whether it answered.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request) bool {
	for {
		mode, changed := s.takeFault(r.URL.Path)
		switch mode {
		case FaultNone:
			return false
		case FaultGarbage:
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_, _ = w.Write([]byte(garbageBody))
			return true
		case FaultHang:
			select {
			case <-r.Context().Done():
				return true
			case <-changed:
				continue // re-evaluate: the fault may be gone
			}
		}
		code, _ := mode.status()
		writeJSON(w, code, map[string]string{"error": http.StatusText(code)})
		return true
	}
}

// faultsLocked lists the faults for State.
func (s *Server) faultsLocked() map[string]string {
	out := make(map[string]string, len(s.faults))
	for p, f := range s.faults {
		out[p] = string(f.mode)
		if f.remaining > 0 {
			out[p] += fmt.Sprintf(" (next %d)", f.remaining)
		}
	}
	return out
}
