// Package gcp emulates the parts of the Google Compute Engine metadata
// server that announce a VM's end: instance/preempted and
// instance/maintenance-event with ETags and wait_for_change long-polls, plus
// the instance identity keys (id, name, zone, machine-type). Values change
// through Go methods or the JSON control endpoints under /lifeboat/, on an
// injected clock, and faults (garbage, 500, hang) can be injected. It backs
// `lifeboat emulate gcp` and the tests of the GCP notice source.
package gcp

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/emulate"
)

// Wire constants of the GCE metadata server.
const (
	// MetadataPrefix starts every metadata path.
	MetadataPrefix = "/computeMetadata/v1/"
	// FlavorHeader must be "Google" on every request; responses carry it too.
	FlavorHeader = "Metadata-Flavor"
	// PreemptedKey is TRUE once a spot/preemptible VM is being preempted.
	PreemptedKey = "instance/preempted"
	// MaintenanceKey is NONE, MIGRATE_ON_HOST_MAINTENANCE or
	// TERMINATE_ON_HOST_MAINTENANCE.
	MaintenanceKey = "instance/maintenance-event"
	// controlPrefix starts the emulator's own JSON control endpoints.
	controlPrefix = emulate.ControlPrefix
)

// Values of PreemptedKey and MaintenanceKey.
const (
	PreemptedFalse        = "FALSE"
	PreemptedTrue         = "TRUE"
	MaintenanceNone       = "NONE"
	MaintenanceMigrate    = "MIGRATE_ON_HOST_MAINTENANCE"
	MaintenanceTerminate  = "TERMINATE_ON_HOST_MAINTENANCE"
	defaultProjectNumber  = "123456789012"
	defaultProjectID      = "lifeboat-emulated"
	defaultRequestLogSize = 1000
)

// Defaults for Options fields left empty.
const (
	DefaultInstanceID   = "4520031799277581759"
	DefaultInstanceName = "gke-pool-1-node-abcd"
	DefaultZone         = "us-central1-a"
	DefaultMachineType  = "e2-standard-4"
	// DefaultWaitTimeout is how long a wait_for_change request without
	// timeout_sec hangs before answering with the unchanged value.
	DefaultWaitTimeout = 5 * time.Minute
)

// Options configure an emulated instance.
type Options struct {
	// InstanceID is served at instance/id (DefaultInstanceID if empty).
	InstanceID string
	// InstanceName is served at instance/name and in instance/hostname
	// (DefaultInstanceName if empty).
	InstanceName string
	// Zone is the zone name; instance/zone serves
	// projects/<number>/zones/<Zone> (DefaultZone if empty).
	Zone string
	// MachineType is the machine type name; instance/machine-type serves
	// projects/<number>/machineTypes/<MachineType> (DefaultMachineType if empty).
	MachineType string
	// DefaultWaitTimeout bounds wait_for_change requests without timeout_sec
	// (DefaultWaitTimeout if zero).
	DefaultWaitTimeout time.Duration
	// Clock times scheduled changes and long-poll timeouts
	// (clock.RealClock if nil).
	Clock clock.WithDelayedExecution
	// Log receives one line per control request and value change
	// (slog.Default if nil).
	Log *slog.Logger
}

// Server is an emulated GCE metadata server. It is an http.Handler and safe
// for concurrent use.
type Server struct {
	opts Options
	mux  *http.ServeMux

	mu       sync.Mutex
	values   map[string]*value
	changed  chan struct{}   // closed and replaced whenever a value changes
	faults   *emulate.Faults // injected failures (has its own lock)
	requests []*Request
	waiting  map[string]int // key -> wait_for_change requests hanging now
	version  int
}

// value is one metadata key: its content and the ETag of this version.
type value struct {
	v    string
	etag string
}

// New returns an emulator of a running instance: not preempted, no
// maintenance pending.
func New(o Options) *Server {
	o = withDefaults(o)
	s := &Server{
		opts:    o,
		values:  map[string]*value{},
		changed: make(chan struct{}),
		faults:  emulate.NewFaults(),
		waiting: map[string]int{},
	}
	for k, v := range map[string]string{
		"instance/id":                             o.InstanceID,
		"instance/name":                           o.InstanceName,
		"instance/hostname":                       o.InstanceName + "." + o.Zone + ".c." + defaultProjectID + ".internal",
		"instance/zone":                           "projects/" + defaultProjectNumber + "/zones/" + o.Zone,
		"instance/machine-type":                   "projects/" + defaultProjectNumber + "/machineTypes/" + o.MachineType,
		"project/project-id":                      defaultProjectID,
		"project/numeric-project-id":              defaultProjectNumber,
		PreemptedKey:                              PreemptedFalse,
		MaintenanceKey:                            MaintenanceNone,
		"instance/scheduling/preemptible":         "TRUE",
		"instance/scheduling/on-host-maintenance": "TERMINATE",
	} {
		s.setLocked(k, v)
	}
	s.mux = s.routes()
	return s
}

func withDefaults(o Options) Options {
	def := func(p *string, d string) {
		if *p == "" {
			*p = d
		}
	}
	def(&o.InstanceID, DefaultInstanceID)
	def(&o.InstanceName, DefaultInstanceName)
	def(&o.Zone, DefaultZone)
	def(&o.MachineType, DefaultMachineType)
	if o.DefaultWaitTimeout <= 0 {
		o.DefaultWaitTimeout = DefaultWaitTimeout
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// Options returns the effective options (defaults filled in).
func (s *Server) Options() Options { return s.opts }

// ServeHTTP serves the metadata paths and the /lifeboat/ control endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, controlPrefix) {
		s.mux.ServeHTTP(w, r)
		return
	}
	w.Header().Set(FlavorHeader, "Google")
	w.Header().Set("Server", "Metadata Server for VM")
	if r.URL.Path == "/" {
		// The root answers anyone: clients probe it for the Metadata-Flavor
		// response header to detect GCE.
		writeText(w, "computeMetadata/\n", "")
		return
	}
	if r.Header.Get(FlavorHeader) != "Google" || r.Header.Get("X-Forwarded-For") != "" {
		// GCE refuses requests without the header, and relayed ones.
		http.Error(w, "Missing required header \"Metadata-Flavor\": \"Google\"", http.StatusForbidden)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET "+MetadataPrefix+"{key...}", s.handleMetadata)
	s.controlRoutes(m)
	return m
}

func writeText(w http.ResponseWriter, body, etag string) {
	w.Header().Set("Content-Type", "application/text")
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	_, _ = w.Write([]byte(body))
}
