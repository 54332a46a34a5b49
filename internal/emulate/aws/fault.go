package aws

import (
	"errors"
	"net/http"

	"github.com/lifeboat-dev/lifeboat/internal/emulate"
)

// FaultMode is how the emulator misbehaves on a path: FaultNone, FaultGarbage,
// FaultHang, or an HTTP status code as three digits ("500", "403", ...).
type FaultMode = emulate.FaultMode

// Fault modes with a name.
const (
	// FaultNone removes the fault on a path.
	FaultNone = emulate.FaultNone
	// FaultGarbage answers 200 with a body that is not what the path serves.
	FaultGarbage = emulate.FaultGarbage
	// FaultHang holds the request open until the client gives up, the fault
	// is removed (then it is served normally) or the server stops.
	FaultHang = emulate.FaultHang
)

// garbageBody is neither JSON nor a plausible metadata value.
const garbageBody = "\x00{\"action\": <html>garbage"

// answers writes the fault answers: garbage as text/plain, statuses as
// plain-text errors.
var answers = emulate.Answers{Garbage: func(w http.ResponseWriter) { writeText(w, garbageBody) }}

// SetFault makes requests to path misbehave. path is an exact path
// ("/latest/meta-data/spot/instance-action"), a prefix ending in "/"
// ("/latest/meta-data/events/"), or "" for every IMDS path including the
// token endpoint. The longest matching path wins. FaultNone removes it.
func (s *Server) SetFault(path string, mode FaultMode) error {
	err := s.faults.Set(path, mode, 0)
	var ve *emulate.ValidationError
	if errors.As(err, &ve) {
		return &ValidationError{Field: ve.Field, Problem: ve.Problem}
	}
	return err
}
