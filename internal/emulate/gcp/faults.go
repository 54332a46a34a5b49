package gcp

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
	// FaultGarbage answers 200 at once, even to wait_for_change requests,
	// with GarbageValue and the key's current ETag.
	FaultGarbage = emulate.FaultGarbage
	// FaultHang holds the request open until the client gives up or the
	// fault is changed (then the request is served normally).
	FaultHang = emulate.FaultHang
	// Fault500 answers 500 Internal Server Error.
	Fault500 = emulate.Fault500
)

// GarbageValue is the body FaultGarbage serves.
const GarbageValue = "\x00<html>garbage"

// ValidationError is a control request or method argument the emulator refuses.
type ValidationError = emulate.ValidationError

// SetFault makes requests to path misbehave until the fault is removed
// (FaultNone). path is an exact path (MetadataPrefix+PreemptedKey), a prefix
// ending in "/" (MetadataPrefix), or "" for every metadata path; the longest
// match wins.
func (s *Server) SetFault(path string, mode FaultMode) error { return s.FailNext(path, mode, 0) }

// FailNext is SetFault for the next n matching requests only (n = 0: until
// removed).
func (s *Server) FailNext(path string, mode FaultMode, n int) error {
	return s.faults.Set(path, mode, n)
}

// answers writes the fault answers for key: garbage with the key's current
// ETag, statuses as plain-text errors.
func (s *Server) answers(key string) emulate.Answers {
	return emulate.Answers{Garbage: func(w http.ResponseWriter) {
		_, etag, _ := s.Value(key)
		writeText(w, GarbageValue, etag)
	}}
}
