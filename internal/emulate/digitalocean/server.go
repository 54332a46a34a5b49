// Package digitalocean emulates the part of the DigitalOcean Droplet
// metadata service that announces maintenance: /v1/maintenance_event (a
// blank string, or "live_migrate" at least ten minutes before a live
// migration) and the Droplet identity keys. It backs `lifeboat emulate
// digitalocean` and the tests of the DigitalOcean notice source.
package digitalocean

import (
	"log/slog"
	"net/http"
	"time"

	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/emulate"
	"github.com/lifeboat-dev/lifeboat/internal/emulate/keyserver"
)

// Wire constants of the Droplet metadata service.
const (
	PathMaintenanceEvent = "/v1/maintenance_event"
	PathDropletID        = "/metadata/v1/id"
	PathRegion           = "/metadata/v1/region"
	EventLiveMigrate     = "live_migrate"
)

// DefaultDropletID is served at /metadata/v1/id when Options.DropletID is empty.
const DefaultDropletID = "3164494"

// Options configure an emulated Droplet.
type Options struct {
	// DropletID is served at /metadata/v1/id (DefaultDropletID if empty).
	DropletID string
	// Clock times scheduled changes (clock.RealClock if nil).
	Clock clock.WithDelayedExecution
	// Log receives control requests and changes (slog.Default if nil).
	Log *slog.Logger
}

// Server is an emulated Droplet metadata service.
type Server struct {
	*keyserver.Server
}

// New returns an emulator of a Droplet with no maintenance scheduled.
func New(o Options) *Server {
	if o.DropletID == "" {
		o.DropletID = DefaultDropletID
	}
	s := &Server{keyserver.New(keyserver.Options{
		Source: "digitalocean-emulator",
		Values: map[string]string{PathDropletID: o.DropletID, PathRegion: "fra1", PathMaintenanceEvent: ""},
		Clock:  o.Clock,
		Log:    o.Log,
	})}
	s.Handle("POST "+emulate.ControlPrefix+"migrate", s.handleMigrate)
	return s
}

// Migrate sets maintenance_event to live_migrate after in and, when
// lasting is positive, back to blank that long later.
func (s *Server) Migrate(in, lasting time.Duration) {
	s.After(in, func() { s.Set(PathMaintenanceEvent, EventLiveMigrate) })
	if lasting > 0 {
		s.After(in+lasting, func() { s.Set(PathMaintenanceEvent, "") })
	}
}

// MigrateRequest is the body of POST /lifeboat/migrate.
type MigrateRequest struct {
	// In is when the event appears (now if zero).
	In emulate.Duration `json:"in"`
	// For is how long it stays (0: until reset).
	For emulate.Duration `json:"for"`
}

func (s *Server) handleMigrate(w http.ResponseWriter, r *http.Request) {
	var b MigrateRequest
	if !keyserver.Decode(w, r, &b) {
		return
	}
	if b.In < 0 || b.For < 0 {
		keyserver.BadRequest(w, &emulate.ValidationError{Field: "in/for", Problem: "must not be negative"})
		return
	}
	s.Migrate(b.In.D(), b.For.D())
	w.WriteHeader(http.StatusNoContent)
}
