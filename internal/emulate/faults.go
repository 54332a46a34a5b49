package emulate

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// FaultMode is how an emulator misbehaves on a path: FaultNone, FaultGarbage,
// FaultHang, or an HTTP status code as three digits ("500", "403", ...).
type FaultMode string

// Fault modes with a name.
const (
	// FaultNone removes the fault on a path.
	FaultNone FaultMode = "none"
	// FaultGarbage answers 200 with a body the path does not serve (each
	// emulator chooses it, see Answers.Garbage).
	FaultGarbage FaultMode = "garbage"
	// FaultHang holds the request open until the client gives up, the fault
	// is changed (then the request is served normally) or the server stops.
	FaultHang FaultMode = "hang"
	// Fault500 answers 500 Internal Server Error.
	Fault500 FaultMode = "500"
)

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

// Answers writes a fault's answer in one emulator's dialect.
type Answers struct {
	// Garbage writes the answer of FaultGarbage.
	Garbage func(w http.ResponseWriter)
	// Status writes an error status (http.Error with the status text if nil).
	Status func(w http.ResponseWriter, code int)
}

// Faults is an emulator's fault table: a fault per path, the longest
// matching path wins. It is safe for concurrent use; create it with
// NewFaults.
type Faults struct {
	mu      sync.Mutex
	faults  map[string]*fault // path ("" = every path) -> fault
	changed chan struct{}     // closed and replaced whenever faults change
	hanging atomic.Int32      // requests held by FaultHang right now
}

// fault is one injected failure; remaining counts the requests it still
// applies to (0: until removed).
type fault struct {
	mode      FaultMode
	remaining int
}

// NewFaults returns an empty fault table.
func NewFaults() *Faults {
	return &Faults{faults: map[string]*fault{}, changed: make(chan struct{})}
}

// Set makes requests to path misbehave for the next n matching requests
// (n = 0: until removed). path is an exact path, a prefix ending in "/", or
// "" for every path; paths under ControlPrefix cannot fail. FaultNone
// removes the fault on path.
func (f *Faults) Set(path string, mode FaultMode, n int) error {
	if err := mode.Validate(); err != nil {
		return err
	}
	switch {
	case n < 0:
		return &ValidationError{Field: "count", Problem: "must not be negative"}
	case path != "" && !strings.HasPrefix(path, "/"):
		return &ValidationError{Field: "path", Problem: "must start with /"}
	case strings.HasPrefix(path, ControlPrefix):
		return &ValidationError{Field: "path", Problem: "control endpoints cannot fail"}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if mode == FaultNone {
		delete(f.faults, path)
	} else {
		f.faults[path] = &fault{mode: mode, remaining: n}
	}
	f.changedLocked()
	return nil
}

// Reset removes every fault and releases the hanging requests.
func (f *Faults) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.faults)
	f.changedLocked()
}

func (f *Faults) changedLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Modes maps every faulted path to its mode.
func (f *Faults) Modes() map[string]FaultMode {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]FaultMode, len(f.faults))
	for p, ft := range f.faults {
		out[p] = ft.mode
	}
	return out
}

// Describe maps every faulted path to its mode, with " (next N)" for a
// fault limited to N more requests.
func (f *Faults) Describe() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]string, len(f.faults))
	for p, ft := range f.faults {
		out[p] = string(ft.mode)
		if ft.remaining > 0 {
			out[p] += fmt.Sprintf(" (next %d)", ft.remaining)
		}
	}
	return out
}

// Hanging returns how many requests FaultHang holds right now.
func (f *Faults) Hanging() int { return int(f.hanging.Load()) }
