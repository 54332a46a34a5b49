package emulate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// ControlPrefix starts every emulator's own JSON control endpoints
// (docs/EMULATORS.md); they need no metadata headers and never fail.
const ControlPrefix = "/lifeboat/"

// maxBody bounds a control request body.
const maxBody = 1 << 20

// ValidationError is a control request or method argument an emulator refuses.
type ValidationError struct {
	// Field names the offending field.
	Field string
	// Problem says what is wrong.
	Problem string
}

func (e *ValidationError) Error() string { return e.Field + " " + e.Problem }

// Duration is a time.Duration written as a Go duration string ("30s",
// "2m") in JSON.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string ("30s").
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`durations are strings such as "30s" or "2m"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// DecodeBody decodes an optional JSON body strictly (unknown fields are
// errors; an empty body leaves v as it is).
func DecodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	return nil
}

// WriteJSON answers code with v as an application/json body.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// FaultRequest is the body of POST /lifeboat/fault on emulators that take
// a count.
type FaultRequest struct {
	// Mode is the fault; FaultNone removes the one on Path.
	Mode FaultMode `json:"mode"`
	// Path is the path or "/"-terminated prefix ("" = every path).
	Path string `json:"path"`
	// Count limits the fault to the next Count requests (0: until removed).
	Count int `json:"count"`
}

// FaultHandler serves POST /lifeboat/fault from a FaultRequest: 204 once the
// fault is set (logged with source), 400 with {"error": ...} written by
// writeJSON otherwise.
func (f *Faults) FaultHandler(log *slog.Logger, source string, writeJSON func(http.ResponseWriter, int, any)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var fr FaultRequest
		err := DecodeBody(r, &fr)
		if err == nil {
			err = f.Set(fr.Path, fr.Mode, fr.Count)
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		log.Info("emulator: fault set", "source", source, "mode", fr.Mode, "path", fr.Path, "count", fr.Count)
		w.WriteHeader(http.StatusNoContent)
	}
}
