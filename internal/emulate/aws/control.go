package aws

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/emulate"
)

// controlPrefix starts the emulator's own JSON endpoints (docs/EMULATORS.md).
const controlPrefix = emulate.ControlPrefix

// Duration is a JSON string holding a Go duration ("30s", "2m").
type Duration = emulate.Duration

// Request bodies of the control endpoints; every field is optional.
type (
	spotBody struct {
		In      Duration `json:"in"`
		Action  string   `json:"action"`
		Warning Duration `json:"warning"`
	}
	inBody struct {
		In Duration `json:"in"`
	}
	maintenanceBody struct {
		Code        string   `json:"code"`
		In          Duration `json:"in"`
		Duration    Duration `json:"duration"`
		State       string   `json:"state"`
		Description string   `json:"description"`
	}
	asgBody struct {
		State string   `json:"state"`
		In    Duration `json:"in"`
	}
	faultBody struct {
		Mode FaultMode `json:"mode"`
		Path string    `json:"path"`
	}
)

func (s *Server) controlRoutes(m *http.ServeMux) {
	m.HandleFunc("POST "+controlPrefix+"spot", s.postSpot)
	m.HandleFunc("POST "+controlPrefix+"rebalance", s.postRebalance)
	m.HandleFunc("POST "+controlPrefix+"maintenance", s.postMaintenance)
	m.HandleFunc("POST "+controlPrefix+"maintenance/{id}/cancel", s.postCancel)
	m.HandleFunc("POST "+controlPrefix+"asg", s.postASG)
	m.HandleFunc("POST "+controlPrefix+"fault", s.postFault)
	m.HandleFunc("POST "+controlPrefix+"tokens/expire", func(w http.ResponseWriter, _ *http.Request) {
		s.ExpireTokens()
		s.opts.Log.Info("emulator: session tokens expired")
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST "+controlPrefix+"reset", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		s.opts.Log.Info("emulator: reset")
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET "+controlPrefix+"state", func(w http.ResponseWriter, _ *http.Request) {
		emulate.WriteJSON(w, http.StatusOK, s.State())
	})
}

func (s *Server) postSpot(w http.ResponseWriter, r *http.Request) {
	var b spotBody
	if !decode(w, r, &b) {
		return
	}
	sp, err := s.ScheduleSpot(time.Duration(b.In), b.Action, time.Duration(b.Warning))
	s.reply(w, "spot interruption scheduled", sp, err)
}

func (s *Server) postRebalance(w http.ResponseWriter, r *http.Request) {
	var b inBody
	if !decode(w, r, &b) {
		return
	}
	t, err := s.ScheduleRebalance(time.Duration(b.In))
	s.reply(w, "rebalance recommendation scheduled", map[string]string{"noticeTime": t.Format(SpotTimeLayout)}, err)
}

func (s *Server) postMaintenance(w http.ResponseWriter, r *http.Request) {
	var b maintenanceBody
	if !decode(w, r, &b) {
		return
	}
	ev, err := s.ScheduleMaintenance(MaintenanceRequest{
		Code: b.Code, In: time.Duration(b.In), Duration: time.Duration(b.Duration),
		State: b.State, Description: b.Description,
	})
	s.reply(w, "maintenance event scheduled", ev, err)
}

func (s *Server) postCancel(w http.ResponseWriter, r *http.Request) {
	ev, err := s.CancelMaintenance(r.PathValue("id"))
	s.reply(w, "maintenance event canceled", ev, err)
}

func (s *Server) postASG(w http.ResponseWriter, r *http.Request) {
	var b asgBody
	if !decode(w, r, &b) {
		return
	}
	if b.State == "" {
		b.State = LifecycleTerminated
	}
	err := s.ScheduleLifecycleState(b.State, time.Duration(b.In))
	s.reply(w, "target lifecycle state scheduled",
		map[string]string{"state": b.State, "at": s.now().Add(time.Duration(b.In)).Format(time.RFC3339)}, err)
}

func (s *Server) postFault(w http.ResponseWriter, r *http.Request) {
	var b faultBody
	if !decode(w, r, &b) {
		return
	}
	if b.Mode == "" {
		b.Mode = FaultNone
	}
	err := s.SetFault(b.Path, b.Mode)
	s.reply(w, "fault set", b, err)
}

// reply answers 200 with v, 404 for an unknown event, 400 for other errors.
func (s *Server) reply(w http.ResponseWriter, msg string, v any, err error) {
	var unknown *UnknownEventError
	switch {
	case errors.As(err, &unknown):
		emulate.WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case err != nil:
		emulate.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	default:
		s.opts.Log.Info("emulator: "+msg, "detail", fmt.Sprintf("%+v", v))
		emulate.WriteJSON(w, http.StatusOK, v)
	}
}

// decode reads an optional JSON body into v, answering 400 on errors.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := emulate.DecodeBody(r, v); err != nil {
		emulate.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return false
	}
	return true
}
