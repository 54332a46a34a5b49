package keyserver

import (
	"net/http"
	"sort"

	"github.com/lifeboat-dev/lifeboat/internal/emulate"
)

// ValuesRequest is the body of POST /lifeboat/values: give Path Value (or
// make it 404 with Delete) after In.
type ValuesRequest struct {
	Path   string           `json:"path"`
	Value  string           `json:"value"`
	Delete bool             `json:"delete"`
	In     emulate.Duration `json:"in"`
}

// State is what GET /lifeboat/state reports.
type State struct {
	// Values maps every served path to its value.
	Values map[string]string `json:"values"`
	// Faults maps a path ("" = every path) to its fault.
	Faults map[string]string `json:"faults"`
	// Tokens counts the session tokens handed out and not reset.
	Tokens int `json:"tokens"`
	// Paths lists the served paths, sorted.
	Paths []string `json:"paths"`
}

func (s *Server) controlRoutes() {
	p := emulate.ControlPrefix
	s.mux.HandleFunc("POST "+p+"values", func(w http.ResponseWriter, r *http.Request) {
		var b ValuesRequest
		err := emulate.DecodeBody(r, &b)
		switch {
		case err != nil:
		case b.Path == "" || b.Path[0] != '/':
			err = &emulate.ValidationError{Field: "path", Problem: "must start with /"}
		case b.In < 0:
			err = &emulate.ValidationError{Field: "in", Problem: "must not be negative"}
		}
		if err != nil {
			emulate.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		s.After(b.In.D(), func() {
			if b.Delete {
				s.Delete(b.Path)
			} else {
				s.Set(b.Path, b.Value)
			}
		})
		w.WriteHeader(http.StatusNoContent)
	})
	s.mux.HandleFunc("POST "+p+"fault", s.faults.FaultHandler(s.opts.Log, s.opts.Source, emulate.WriteJSON))
	s.mux.HandleFunc("POST "+p+"reset", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	s.mux.HandleFunc("GET "+p+"state", func(w http.ResponseWriter, _ *http.Request) {
		emulate.WriteJSON(w, http.StatusOK, s.State())
	})
	s.mux.HandleFunc("GET "+p+"requests", func(w http.ResponseWriter, r *http.Request) {
		emulate.WriteJSON(w, http.StatusOK, s.Requests(r.URL.Query().Get("path")))
	})
}

// State reports the values, faults and tokens.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{Values: map[string]string{}, Faults: s.faults.Describe(), Tokens: len(s.tokens)}
	for k, v := range s.values {
		st.Values[k] = v
		st.Paths = append(st.Paths, k)
	}
	sort.Strings(st.Paths)
	return st
}

// Decode reads an optional JSON control body strictly, answering 400 and
// returning false when it is invalid.
func Decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := emulate.DecodeBody(r, v); err != nil {
		emulate.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return false
	}
	return true
}

// BadRequest answers 400 with err.
func BadRequest(w http.ResponseWriter, err error) {
	emulate.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
}
