// Package aws emulates the parts of the Amazon EC2 instance metadata service
// (IMDS) that announce an instance's end: spot instance-action, rebalance
// recommendations, scheduled maintenance events and the Auto Scaling target
// lifecycle state, behind IMDSv2 session tokens. Events are scheduled through
// Go methods or the JSON control endpoints under /lifeboat/, and faults
// (garbage, error statuses, hangs) can be injected per path. It backs
// `lifeboat emulate aws` and the tests of the AWS notice source.
package aws

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/emulate"
)

// Defaults for Options fields left empty.
const (
	DefaultInstanceID   = "i-0123456789abcdef0"
	DefaultInstanceType = "m5.large"
	DefaultZone         = "us-east-1a"
	// MaxTokenTTL is the longest IMDSv2 session AWS grants (6 hours).
	MaxTokenTTL = 21600 * time.Second
	// DefaultSpotWarning is AWS's fixed notice period: instance-action appears
	// two minutes before the interruption.
	DefaultSpotWarning = 2 * time.Minute
)

// Options configure an emulated instance.
type Options struct {
	// InstanceID is served at instance-id (DefaultInstanceID if empty).
	InstanceID string
	// InstanceType is served at instance-type (DefaultInstanceType if empty).
	InstanceType string
	// Zone is served at placement/availability-zone (DefaultZone if empty).
	Zone string
	// Region is served at placement/region; derived from Zone if empty.
	Region string
	// IMDSv1 also answers GETs without a session token (IMDSv2 "optional").
	// By default a token is required, as on IMDSv2-only instances.
	IMDSv1 bool
	// TokenTTLMax caps the TTL granted to session tokens (the granted TTL is
	// returned in the response header, as AWS does), so token expiry can be
	// exercised quickly. Zero means MaxTokenTTL.
	TokenTTLMax time.Duration
	// Clock decides when scheduled events become visible and tokens expire
	// (clock.RealClock if nil).
	Clock clock.PassiveClock
	// Log receives one line per control request (slog.Default if nil).
	Log *slog.Logger
}

// Server is an emulated instance metadata service. It is an http.Handler and
// safe for concurrent use.
type Server struct {
	opts Options
	mux  *http.ServeMux

	mu     sync.Mutex
	tokens map[string]time.Time // session token -> expiry
	spot   *spotState
	rebal  *time.Time // when the recommendation appears (its noticeTime)
	maint  []*maintState
	asg    asgState
	faults *emulate.Faults // injected failures (has its own lock)
}

// New returns an emulator with no events scheduled.
func New(o Options) *Server {
	if o.InstanceID == "" {
		o.InstanceID = DefaultInstanceID
	}
	if o.InstanceType == "" {
		o.InstanceType = DefaultInstanceType
	}
	if o.Zone == "" {
		o.Zone = DefaultZone
	}
	if o.Region == "" {
		o.Region = strings.TrimRight(o.Zone, "abcdefghijklmnopqrstuvwxyz")
	}
	if o.TokenTTLMax <= 0 || o.TokenTTLMax > MaxTokenTTL {
		o.TokenTTLMax = MaxTokenTTL
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &Server{
		opts:   o,
		tokens: map[string]time.Time{},
		asg:    asgState{base: LifecycleInService},
		faults: emulate.NewFaults(),
	}
	s.mux = s.routes()
	return s
}

// ServeHTTP serves the metadata paths and the /lifeboat/ control endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, controlPrefix) && s.faults.Apply(w, r, answers) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Options returns the effective options (defaults filled in).
func (s *Server) Options() Options { return s.opts }

func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("PUT "+TokenPath, s.handleToken)
	m.Handle("GET "+MetadataPrefix+"{path...}", s.requireToken(http.HandlerFunc(s.handleMetadata)))
	s.controlRoutes(m)
	return m
}

func (s *Server) now() time.Time { return s.opts.Clock.Now().UTC() }
