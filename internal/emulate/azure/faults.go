package azure

import (
	"net/http"

	"github.com/lifeboat-dev/lifeboat/internal/emulate"
)

// FaultMode is how the emulator misbehaves on a path: FaultNone,
// FaultGarbage, FaultHang, or an HTTP status code as three digits ("500").
type FaultMode = emulate.FaultMode

// Fault modes with a name.
const (
	// FaultNone removes the fault on a path.
	FaultNone = emulate.FaultNone
	// FaultGarbage answers 200 with a truncated, unparsable JSON body.
	FaultGarbage = emulate.FaultGarbage
	// FaultHang holds the request open until the client gives up or the
	// fault is changed (then the request is served normally).
	FaultHang = emulate.FaultHang
	// Fault500 answers 500 Internal Server Error.
	Fault500 = emulate.Fault500
)

// garbageBody starts like a Scheduled Events document and breaks off.
const garbageBody = `{"DocumentIncarnation": 7, "Events": [{"EventId": "`

// ValidationError is a control request or method argument the emulator refuses.
type ValidationError = emulate.ValidationError

// answers writes the fault answers as IMDS would: JSON bodies.
var answers = emulate.Answers{
	Garbage: func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write([]byte(garbageBody))
	},
	Status: func(w http.ResponseWriter, code int) {
		writeJSON(w, code, map[string]string{"error": http.StatusText(code)})
	},
}

// SetFault makes requests to path misbehave until the fault is removed
// (FaultNone). path is an exact path (ScheduledEventsPath), a prefix ending
// in "/" ("/metadata/"), or "" for every IMDS path; the longest match wins.
func (s *Server) SetFault(path string, mode FaultMode) error { return s.FailNext(path, mode, 0) }

// FailNext is SetFault for the next n matching requests only (n = 0: until
// removed).
func (s *Server) FailNext(path string, mode FaultMode, n int) error {
	return s.faults.Set(path, mode, n)
}
