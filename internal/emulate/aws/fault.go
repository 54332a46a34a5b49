package aws

import (
	"net/http"
	"strconv"
	"strings"
)

// FaultMode is how the emulator misbehaves on a path: FaultNone, FaultGarbage,
// FaultHang, or an HTTP status code as three digits ("500", "403", ...).
type FaultMode string

// Fault modes with a name.
const (
	// FaultNone removes the fault on a path.
	FaultNone FaultMode = "none"
	// FaultGarbage answers 200 with a body that is not what the path serves.
	FaultGarbage FaultMode = "garbage"
	// FaultHang holds the request open until the client gives up, the fault
	// is removed (then it is served normally) or the server stops.
	FaultHang FaultMode = "hang"
)

// garbageBody is neither JSON nor a plausible metadata value.
const garbageBody = "\x00{\"action\": <html>garbage"

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

// SetFault makes requests to path misbehave. path is an exact path
// ("/latest/meta-data/spot/instance-action"), a prefix ending in "/"
// ("/latest/meta-data/events/"), or "" for every IMDS path including the
// token endpoint. The longest matching path wins. FaultNone removes it.
func (s *Server) SetFault(path string, mode FaultMode) error {
	if err := mode.Validate(); err != nil {
		return err
	}
	if path != "" && !strings.HasPrefix(path, "/") {
		return &ValidationError{Field: "path", Problem: "must start with /"}
	}
	if strings.HasPrefix(path, controlPrefix) {
		return &ValidationError{Field: "path", Problem: "control endpoints cannot fail"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]FaultMode, len(s.faults)+1)
	for p, m := range s.faults {
		next[p] = m
	}
	if mode == FaultNone {
		delete(next, path)
	} else {
		next[path] = mode
	}
	s.setFaultsLocked(next)
	return nil
}

// setFaultsLocked swaps the fault table and wakes hanging requests.
func (s *Server) setFaultsLocked(f map[string]FaultMode) {
	s.faults = f
	close(s.faultCh)
	s.faultCh = make(chan struct{})
}

// faultFor returns the fault for path and a channel closed on the next change.
func (s *Server) faultFor(path string) (FaultMode, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	best, mode := -1, FaultNone
	for p, m := range s.faults {
		match := p == "" || p == path || (strings.HasSuffix(p, "/") && strings.HasPrefix(path, p))
		if match && len(p) > best {
			best, mode = len(p), m
		}
	}
	return mode, s.faultCh
}

// applyFault misbehaves if a fault matches r and reports whether it answered.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request) bool {
	for {
		mode, changed := s.faultFor(r.URL.Path)
		switch mode {
		case FaultNone:
			return false
		case FaultGarbage:
			writeText(w, garbageBody)
			return true
		case FaultHang:
			if s.hang(r, changed) {
				return true
			}
			continue // re-evaluate: the fault may be gone
		}
		code, _ := mode.status()
		http.Error(w, http.StatusText(code), code)
		return true
	}
}

// hang blocks until the client goes away (true) or the faults change (false).
func (s *Server) hang(r *http.Request, changed <-chan struct{}) bool {
	s.hanging.Add(1)
	defer s.hanging.Add(-1)
	select {
	case <-r.Context().Done():
		return true
	case <-changed:
		return false
	}
}
