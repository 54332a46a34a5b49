// Package gcp is lifeboat's notice source for Google Compute Engine: it
// long-polls the metadata server's instance/preempted and
// instance/maintenance-event keys (wait_for_change with ETags, through
// cloud.google.com/go/compute/metadata), so a preemption is seen as soon as
// the value flips, without polling, and turns them into preemption,
// host-maintenance and live-migration notices, with canceled notices when a
// maintenance event ends. It also polls instance/upcoming-maintenance and
// plans a maintenance from its window: a notice with the window start as
// deadline (the agent's --maintenance-lead decides when the drain starts).
package gcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/compute/metadata"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/metadatahttp"
)

// Name is the source name in notices, logs and metrics.
const Name = "gcp"

// Watched metadata keys.
const (
	KeyPreempted   = "instance/preempted"
	KeyMaintenance = "instance/maintenance-event"
)

// Defaults for Config fields left zero.
const (
	// DefaultPreemptionNotice: GCE stops a preempted VM about 30 s after
	// instance/preempted turns TRUE. A Spot VM created with
	// scheduling.preemptionNoticeDuration (120 s) gets that long instead;
	// the metadata server does not expose the setting, so it is configured
	// (Config.PreemptionNotice, the agent's --gcp-preemption-window).
	DefaultPreemptionNotice = 30 * time.Second
	// DefaultMaintenanceNotice: maintenance-event changes 60 s before the
	// maintenance starts.
	DefaultMaintenanceNotice = 60 * time.Second
	// DefaultWaitTimeout is the timeout_sec of hanging requests: an idle
	// source makes one request per key per WaitTimeout.
	DefaultWaitTimeout = 5 * time.Minute
	// DefaultRequestTimeout bounds requests that do not hang.
	DefaultRequestTimeout = 5 * time.Second
	// DefaultMinBackoff and DefaultMaxBackoff bound the wait between retries.
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
)

// Config configures the GCP metadata source.
type Config struct {
	// MetadataURL is the metadata server's base URL, e.g. the agent's
	// --metadata-url ("http://127.0.0.1:8171"); requests go to
	// <MetadataURL>/computeMetadata/v1/... If empty, the client library
	// decides: GCE_METADATA_HOST if set, else 169.254.169.254.
	MetadataURL string
	// Node is the Kubernetes node name written into notices.
	Node string
	// InstanceID is the numeric instance id used in notice IDs; read from
	// instance/id when Run starts if empty.
	InstanceID string
	// PreemptionNotice is the deadline of a preemption notice after its
	// detection (DefaultPreemptionNotice if zero).
	PreemptionNotice time.Duration
	// MaintenanceNotice is the deadline of a maintenance notice after its
	// detection (DefaultMaintenanceNotice if zero).
	MaintenanceNotice time.Duration
	// UpcomingInterval is the wait between reads of
	// instance/upcoming-maintenance (DefaultUpcomingInterval if zero).
	UpcomingInterval time.Duration
	// MaintenanceLead, if positive, holds a planned maintenance back until
	// that long before its window; zero announces it as soon as it is
	// known (the agent's --maintenance-lead then decides when to drain).
	MaintenanceLead time.Duration
	// WaitTimeout is the timeout_sec of hanging requests, at least 1 s
	// (DefaultWaitTimeout if zero).
	WaitTimeout time.Duration
	// RequestTimeout bounds requests that do not hang
	// (DefaultRequestTimeout if zero).
	RequestTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries after
	// failures; it doubles per consecutive failure (defaults if zero).
	MinBackoff, MaxBackoff time.Duration
	// HTTPClient's Transport carries the requests (a proxy-free transport
	// if nil). Its Timeout is ignored: hanging requests are bounded per
	// request instead.
	HTTPClient *http.Client
	// Clock times backoff, deadlines and Detected (clock.RealClock if nil).
	Clock clock.Clock
	// Log receives warnings about failures (slog.Default if nil); lines
	// carry source=gcp and, per notice, event=<notice ID>.
	Log *slog.Logger
	// OnError, if set, is called once per failed request or malformed value
	// with one of the Reason constants, for metrics. It must not block.
	OnError func(reason string)
}

// Source is the GCP metadata notice source; it implements notice.Source.
type Source struct {
	cfg       Config
	client    *metadata.Client
	transport *transport
	clock     clock.Clock
	log       *slog.Logger
	onError   func(string)

	readOnce notice.FirstRead
	readMu   sync.Mutex
	readKeys map[string]bool // keys answered with a known value
}

var (
	_ notice.Source  = (*Source)(nil)
	_ notice.Readier = (*Source)(nil)
)

// ReadOnce is closed once every watched key has been read with a value this
// source understands; see notice.Readier.
func (s *Source) ReadOnce() <-chan struct{} { return s.readOnce.ReadOnce() }

// keyRead records that key was read with a known value.
func (s *Source) keyRead(key string) {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	if s.readKeys == nil {
		s.readKeys = map[string]bool{}
	}
	s.readKeys[key] = true
	if len(s.readKeys) >= len(s.specs()) {
		s.readOnce.Done()
	}
}

// New validates cfg and returns a source. It does no I/O.
func New(cfg Config) (*Source, error) {
	base, err := parseBaseURL(cfg.MetadataURL)
	if err != nil {
		return nil, &ConfigError{Source: Name, Field: "MetadataURL", Err: err}
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg, clock: cfg.Clock, log: cfg.Log.With(logging.KeySource, Name), onError: cfg.OnError}
	next := http.RoundTripper(nil)
	if cfg.HTTPClient != nil {
		next = cfg.HTTPClient.Transport
	}
	if next == nil {
		next = metadatahttp.NewTransport()
	}
	s.transport = &transport{
		base: base, next: next, clock: cfg.Clock,
		reqTimeout: cfg.RequestTimeout, waitTimeout: cfg.WaitTimeout,
		backoff: s.backoff, report: s.requestFailed,
		etags: map[string]string{}, failures: map[string]int{},
	}
	s.client = metadata.NewWithOptions(&metadata.Options{Client: &http.Client{Transport: s.transport}})
	return s, nil
}

func (c *Config) defaults() error {
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"PreemptionNotice", &c.PreemptionNotice, DefaultPreemptionNotice},
		{"MaintenanceNotice", &c.MaintenanceNotice, DefaultMaintenanceNotice},
		{"UpcomingInterval", &c.UpcomingInterval, DefaultUpcomingInterval},
		{"WaitTimeout", &c.WaitTimeout, DefaultWaitTimeout},
		{"RequestTimeout", &c.RequestTimeout, DefaultRequestTimeout},
		{"MinBackoff", &c.MinBackoff, DefaultMinBackoff},
		{"MaxBackoff", &c.MaxBackoff, DefaultMaxBackoff},
	} {
		if *d.v < 0 {
			return &ConfigError{Source: Name, Field: d.name, Err: fmt.Errorf("must not be negative, got %s", *d.v)}
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.MaintenanceLead < 0 {
		return &ConfigError{Source: Name, Field: "MaintenanceLead", Err: fmt.Errorf("must not be negative, got %s", c.MaintenanceLead)}
	}
	c.WaitTimeout = max(c.WaitTimeout, time.Second)
	c.MaxBackoff = max(c.MaxBackoff, c.MinBackoff)
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.OnError == nil {
		c.OnError = func(string) {}
	}
	return nil
}

// Name returns "gcp".
func (s *Source) Name() string { return Name }

// Run watches instance/preempted and instance/maintenance-event until ctx
// ends, sending notices to out. Failures are logged, counted through
// OnError and retried with backoff; Run returns nil when ctx ends.
func (s *Source) Run(ctx context.Context, out chan<- notice.Notice) error {
	inst, err := s.instance(ctx)
	if err != nil { // only the end of ctx stops the lookup
		return nil
	}
	s.log.Info("watching gcp metadata", "instance", inst.id, "url", s.describeURL(),
		"keys", []string{KeyPreempted, KeyMaintenance, KeyUpcomingMaintenance})
	var wg sync.WaitGroup
	for _, spec := range s.specs() {
		w := &watcher{spec: spec, src: s, inst: inst, out: out}
		wg.Go(func() { w.run(ctx) })
	}
	up := &upcoming{src: s, inst: inst, out: out}
	wg.Go(func() { up.run(ctx) })
	wg.Wait()
	return nil
}

// instanceInfo is what notices say about this VM.
type instanceInfo struct {
	id, name, zone, machineType string
}

// instance reads the instance id (retrying until it is known or ctx ends;
// a server without instance/id falls back to the node name) and, best
// effort, name, zone and machine type.
func (s *Source) instance(ctx context.Context) (instanceInfo, error) {
	inst := instanceInfo{id: s.cfg.InstanceID}
	for inst.id == "" {
		id, err := s.client.GetWithContext(ctx, "instance/id")
		var nd metadata.NotDefinedError
		switch {
		case err == nil:
			inst.id = strings.TrimSpace(id)
		case ctx.Err() != nil:
			return inst, ctx.Err()
		case errors.As(err, &nd):
			s.onError(ReasonNotDefined)
			s.log.Warn("gcp metadata has no instance/id; using the node name in notice IDs", logging.KeyNode, s.cfg.Node)
			inst.id = s.cfg.Node
		default:
			s.log.Warn("reading gcp instance/id failed", logging.KeyError, err)
		}
		if inst.id == "" && ctx.Err() == nil {
			_ = metadatahttp.Sleep(ctx, s.clock, s.cfg.MinBackoff)
		}
	}
	bctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	get := func(key string) string {
		v, err := s.client.GetWithContext(bctx, key)
		if err != nil {
			return ""
		}
		v = strings.TrimSpace(v)
		return v[strings.LastIndexByte(v, '/')+1:]
	}
	inst.name, inst.zone, inst.machineType = get("instance/name"), get("instance/zone"), get("instance/machine-type")
	return inst, nil
}

// requestFailed logs and counts one failed attempt (called by the transport).
func (s *Source) requestFailed(key string, err error, failures int) {
	reason := reasonOf(err)
	s.onError(reason)
	s.log.Warn("gcp metadata request failed", "key", key, "reason", reason, "failures", failures,
		"retryIn", s.backoff(failures), logging.KeyError, err)
}

// backoff is the wait after the given number of consecutive failures:
// MinBackoff doubled per failure, capped at MaxBackoff.
func (s *Source) backoff(failures int) time.Duration {
	return metadatahttp.Backoff(s.cfg.MinBackoff, s.cfg.MaxBackoff, failures-1)
}

func (s *Source) describeURL() string {
	if s.transport.base != nil {
		return s.transport.base.String()
	}
	return "client library default (GCE_METADATA_HOST or 169.254.169.254)"
}

// parseBaseURL checks raw and drops trailing slashes from its path; empty
// is nil (the client library's default).
func parseBaseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, nil
	}
	u, err := metadatahttp.ParseBaseURL(raw)
	if err != nil {
		return nil, err
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}
