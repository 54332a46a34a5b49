package azure

import (
	"maps"
	"net/http"

	"github.com/lifeboat-dev/lifeboat/internal/emulate"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

// Duration is a time.Duration written as a Go duration string ("30s",
// "2m") in JSON.
type Duration = emulate.Duration

// State is what GET /lifeboat/state reports.
type State struct {
	// Document is the Scheduled Events document as served now.
	Document Document `json:"document"`
	// Pending are events scheduled to appear later.
	Pending []Event `json:"pending"`
	// Acks are the StartRequests received.
	Acks []Ack `json:"acks"`
	// Faults maps a path ("" = every path) to its fault.
	Faults map[string]string `json:"faults"`
	// Requests counts requests per IMDS path.
	Requests map[string]int `json:"requests"`
}

// controlRoutes registers the JSON control endpoints (docs/EMULATORS.md);
// they need no IMDS headers and never fail.
func (s *Server) controlRoutes(m *http.ServeMux) {
	m.HandleFunc("POST "+controlPrefix+"events", s.postEvent)
	m.HandleFunc("POST "+controlPrefix+"events/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		s.control(w, r, "canceled", s.Cancel(r.PathValue("id")))
	})
	m.HandleFunc("POST "+controlPrefix+"events/{id}/start", func(w http.ResponseWriter, r *http.Request) {
		s.control(w, r, "started", s.Start(r.PathValue("id")))
	})
	m.HandleFunc("GET "+controlPrefix+"acks", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Acks())
	})
	m.HandleFunc("POST "+controlPrefix+"fault", s.faults.FaultHandler(s.opts.Log, "azure-emulator", writeJSON))
	m.HandleFunc("POST "+controlPrefix+"reset", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		s.opts.Log.Info("emulator: reset", logging.KeySource, "azure-emulator")
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET "+controlPrefix+"state", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.State())
	})
}

// State reports the document, pending events, acks, faults and request counts.
func (s *Server) State() State {
	doc := s.Document()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{
		Document: doc, Pending: []Event{}, Acks: append([]Ack{}, s.acks...),
		Faults: s.faults.Describe(), Requests: maps.Clone(s.requests),
	}
	for _, e := range s.events {
		if !e.visible {
			st.Pending = append(st.Pending, e.wire)
		}
	}
	return st
}

func (s *Server) postEvent(w http.ResponseWriter, r *http.Request) {
	var spec EventSpec
	if err := emulate.DecodeBody(r, &spec); err != nil {
		writeError(w, err.Error())
		return
	}
	ev, err := s.Schedule(spec)
	if err != nil {
		writeError(w, err.Error())
		return
	}
	s.opts.Log.Info("emulator: event scheduled", logging.KeySource, "azure-emulator", logging.KeyNotice, ev.EventID,
		"type", ev.EventType, "resources", ev.Resources, "notBefore", ev.NotBefore, "in", spec.In.D())
	writeJSON(w, http.StatusCreated, ev)
}

func (s *Server) control(w http.ResponseWriter, r *http.Request, action string, found bool) {
	id := r.PathValue("id")
	if !found {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such event: " + id})
		return
	}
	s.opts.Log.Info("emulator: event "+action, logging.KeySource, "azure-emulator", logging.KeyNotice, id)
	w.WriteHeader(http.StatusNoContent)
}
