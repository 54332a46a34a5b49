// Package azure emulates the parts of the Azure Instance Metadata Service
// (IMDS) that announce a VM's end: Scheduled Events (GET the document,
// POST StartRequests to acknowledge) and the instance compute metadata that
// names the VM. Events are scheduled through Go methods or the JSON control
// endpoints under /lifeboat/, their lifecycle (appear, Scheduled, Started,
// gone) follows an injected clock, and faults (garbage, 500, hang) can be
// injected. It backs `lifeboat emulate azure` and the tests of the Azure
// notice source.
package azure

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/emulate"
)

// Wire constants of Azure IMDS.
const (
	// ScheduledEventsPath serves the Scheduled Events document (GET) and
	// takes StartRequests (POST).
	ScheduledEventsPath = "/metadata/scheduledevents"
	// ComputePath serves the instance compute metadata (name, location...).
	ComputePath = "/metadata/instance/compute"
	// MetadataHeader must be "true" on every IMDS request.
	MetadataHeader = "Metadata"
	// controlPrefix starts the emulator's own JSON control endpoints.
	controlPrefix = emulate.ControlPrefix
)

// Defaults for Options fields left empty.
const (
	// DefaultVMName is a scale-set VM name, as Azure writes it in Resources.
	DefaultVMName = "aks-pool-12345678-vmss_0"
	// DefaultLocation is served as the compute location.
	DefaultLocation = "westeurope"
	// DefaultStartedFor is how long a Started event stays listed before it
	// disappears (the platform is then done with it).
	DefaultStartedFor = 3 * time.Second
)

// Options configure an emulated VM.
type Options struct {
	// VMName is this VM's name: the compute "name" and the default event
	// resource (DefaultVMName if empty).
	VMName string
	// Location is the compute location (DefaultLocation if empty).
	Location string
	// StartedFor is how long an event stays listed as Started (after its
	// NotBefore passed or it was acknowledged) before it disappears
	// (DefaultStartedFor if zero).
	StartedFor time.Duration
	// Clock decides when scheduled events appear, start and disappear
	// (clock.RealClock if nil).
	Clock clock.PassiveClock
	// Log receives one line per control request and acknowledgement
	// (slog.Default if nil).
	Log *slog.Logger
}

// Server is an emulated Azure IMDS. It is an http.Handler and safe for
// concurrent use.
type Server struct {
	opts Options
	mux  *http.ServeMux

	mu          sync.Mutex
	incarnation int64
	events      []*event // in scheduling order
	acks        []Ack
	faults      *emulate.Faults // injected failures (has its own lock)
	requests    map[string]int  // metadata path -> requests served
}

// New returns an emulator with no events scheduled and DocumentIncarnation 1.
func New(o Options) *Server {
	if o.VMName == "" {
		o.VMName = DefaultVMName
	}
	if o.Location == "" {
		o.Location = DefaultLocation
	}
	if o.StartedFor <= 0 {
		o.StartedFor = DefaultStartedFor
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &Server{
		opts:        o,
		incarnation: 1,
		faults:      emulate.NewFaults(),
		requests:    map[string]int{},
	}
	s.mux = s.routes()
	return s
}

// Options returns the effective options (defaults filled in).
func (s *Server) Options() Options { return s.opts }

// ServeHTTP serves the IMDS paths and the /lifeboat/ control endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, controlPrefix) {
		s.countRequest(r.URL.Path)
		if s.faults.Apply(w, r, answers) {
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.Handle("GET "+ScheduledEventsPath, s.requireIMDS(http.HandlerFunc(s.handleDocument)))
	m.Handle("POST "+ScheduledEventsPath, s.requireIMDS(http.HandlerFunc(s.handleStartRequests)))
	m.Handle("GET "+ComputePath, s.requireIMDS(http.HandlerFunc(s.handleCompute)))
	s.controlRoutes(m)
	return m
}

func (s *Server) now() time.Time { return s.opts.Clock.Now().UTC() }

func (s *Server) countRequest(path string) {
	s.mu.Lock()
	s.requests[path]++
	s.mu.Unlock()
}

// Requests returns how many requests reached a metadata path (faulted ones
// included), e.g. ScheduledEventsPath.
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}
