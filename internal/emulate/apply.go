package emulate

import (
	"net/http"
	"strings"
)

// Apply misbehaves as the fault matching r's path says, writing the answer
// with a, and reports whether it answered. A hanging request is answered
// normally (false) once its fault is removed.
func (f *Faults) Apply(w http.ResponseWriter, r *http.Request, a Answers) bool {
	for {
		mode, changed := f.take(r.URL.Path)
		switch mode {
		case FaultNone:
			return false
		case FaultGarbage:
			a.Garbage(w)
			return true
		case FaultHang:
			if f.hang(r, changed) {
				return true
			}
			continue // re-evaluate: the fault may be gone
		}
		code, _ := mode.status()
		if a.Status != nil {
			a.Status(w, code)
		} else {
			http.Error(w, http.StatusText(code), code)
		}
		return true
	}
}

// take returns the fault for path (consuming one use) and a channel closed
// on the next change of faults.
func (f *Faults) take(path string) (FaultMode, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	best, key := -1, ""
	for p := range f.faults {
		match := p == "" || p == path || (strings.HasSuffix(p, "/") && strings.HasPrefix(path, p))
		if match && len(p) > best {
			best, key = len(p), p
		}
	}
	if best < 0 {
		return FaultNone, f.changed
	}
	ft := f.faults[key]
	if ft.remaining > 0 {
		if ft.remaining--; ft.remaining == 0 {
			delete(f.faults, key)
		}
	}
	return ft.mode, f.changed
}

// hang blocks until the client goes away (true) or the faults change (false).
func (f *Faults) hang(r *http.Request, changed <-chan struct{}) bool {
	f.hanging.Add(1)
	defer f.hanging.Add(-1)
	select {
	case <-r.Context().Done():
		return true
	case <-changed:
		return false
	}
}
