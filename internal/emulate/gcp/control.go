package gcp

import (
	"fmt"
	"net/http"

	"github.com/lifeboat-dev/lifeboat/internal/emulate"
)

// Duration is a time.Duration written as a Go duration string ("30s") in JSON.
type Duration = emulate.Duration

// valueBody is the body of the value-changing control endpoints; every
// field is optional.
type valueBody struct {
	Key   string   `json:"key"`
	Value string   `json:"value"`
	In    Duration `json:"in"`
}

// ValueState is one key in State.
type ValueState struct {
	Value string `json:"value"`
	ETag  string `json:"etag"`
}

// State is what GET /lifeboat/state reports.
type State struct {
	// Values maps every key to its value and ETag.
	Values map[string]ValueState `json:"values"`
	// Waiting counts the wait_for_change requests hanging per key.
	Waiting map[string]int `json:"waiting"`
	// Faults maps a path ("" = every path) to its fault.
	Faults map[string]string `json:"faults"`
}

// controlRoutes registers the JSON control endpoints (docs/EMULATORS.md);
// they need no Metadata-Flavor header and never fail.
func (s *Server) controlRoutes(m *http.ServeMux) {
	m.HandleFunc("POST "+controlPrefix+"preempt", s.postValue(func(b valueBody) error {
		s.Preempt(b.In.D())
		return nil
	}))
	m.HandleFunc("POST "+controlPrefix+"maintenance", s.postValue(func(b valueBody) error {
		if b.Value == "" {
			b.Value = MaintenanceTerminate
		}
		if err := ValidateMaintenance(b.Value); err != nil {
			return err
		}
		s.Maintenance(b.Value, b.In.D())
		return nil
	}))
	m.HandleFunc("POST "+controlPrefix+"values", s.postValue(func(b valueBody) error {
		if b.Key == "" {
			return &ValidationError{Field: "key", Problem: "is required"}
		}
		s.SetAfter(b.Key, b.Value, b.In.D())
		return nil
	}))
	m.HandleFunc("POST "+controlPrefix+"fault", s.faults.FaultHandler(s.opts.Log, "gcp-emulator", emulate.WriteJSON))
	m.HandleFunc("POST "+controlPrefix+"reset", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET "+controlPrefix+"state", func(w http.ResponseWriter, _ *http.Request) {
		emulate.WriteJSON(w, http.StatusOK, s.State())
	})
	m.HandleFunc("GET "+controlPrefix+"requests", func(w http.ResponseWriter, r *http.Request) {
		emulate.WriteJSON(w, http.StatusOK, s.Requests(r.URL.Query().Get("key")))
	})
}

// State reports every value, the hanging requests and the faults.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{Values: map[string]ValueState{}, Waiting: map[string]int{}, Faults: s.faults.Describe()}
	for k, v := range s.values {
		st.Values[k] = ValueState{Value: v.v, ETag: v.etag}
	}
	for k, n := range s.waiting {
		if n > 0 {
			st.Waiting[k] = n
		}
	}
	return st
}

// ValidateMaintenance checks a maintenance-event value.
func ValidateMaintenance(v string) error {
	switch v {
	case MaintenanceNone, MaintenanceMigrate, MaintenanceTerminate:
		return nil
	}
	return &ValidationError{Field: "value", Problem: fmt.Sprintf("must be %s, %s or %s, got %q",
		MaintenanceNone, MaintenanceMigrate, MaintenanceTerminate, v)}
}

// postValue decodes an optional value body and applies it.
func (s *Server) postValue(apply func(valueBody) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var b valueBody
		err := emulate.DecodeBody(r, &b)
		if err == nil && b.In < 0 {
			err = &ValidationError{Field: "in", Problem: "must not be negative"}
		}
		if err == nil {
			err = apply(b)
		}
		if err != nil {
			emulate.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		s.opts.Log.Info("emulator: control request", "source", "gcp-emulator", "path", r.URL.Path,
			"key", b.Key, "value", b.Value, "in", b.In.D())
		w.WriteHeader(http.StatusNoContent)
	}
}
