// Package aws is the notice source for EC2 instances: it polls the instance
// metadata service (IMDSv2 through aws-sdk-go-v2's imds client) for spot
// interruptions, Auto Scaling scale-in, rebalance recommendations and
// scheduled maintenance, and turns what it finds into notice.Notice values,
// each once per process. Failing, slow, dead or garbled metadata endpoints
// are logged and counted, never fatal: polling backs off and recovers.
package aws

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// SourceName is what Name returns and every notice's Source.
const SourceName = "aws"

// Defaults for Config fields left zero.
const (
	DefaultEndpoint       = "http://169.254.169.254"
	DefaultSpotInterval   = 500 * time.Millisecond
	DefaultASGInterval    = time.Second
	DefaultEventsInterval = 5 * time.Second
	DefaultRequestTimeout = 2 * time.Second
	DefaultMaxBackoff     = 5 * time.Second
)

// Config configures the AWS source. The zero value polls the real IMDS with
// the defaults above, IMDSv2 only.
type Config struct {
	// Endpoint is the metadata service base URL, e.g. the agent's
	// --metadata-url (DefaultEndpoint if empty).
	Endpoint string
	// AllowIMDSv1 lets the client fall back to token-less IMDSv1 requests
	// when no session token can be obtained. Off by default: many clusters
	// are IMDSv2-only and a fallback hides misconfiguration.
	AllowIMDSv1 bool
	// NodeName is copied to every notice's Node (the Kubernetes node name).
	NodeName string
	// SpotInterval is how often spot/instance-action is read
	// (DefaultSpotInterval if zero, never if negative).
	SpotInterval time.Duration
	// ASGInterval is how often autoscaling/target-lifecycle-state is read
	// (DefaultASGInterval if zero, never if negative).
	ASGInterval time.Duration
	// EventsInterval is how often the rebalance recommendation and the
	// scheduled maintenance events are read (DefaultEventsInterval if zero,
	// never if negative).
	EventsInterval time.Duration
	// PollTerminationTime also reads the legacy spot/termination-time
	// whenever spot/instance-action answers 404. Off by default: EC2 sets
	// both together, so this only helps with old metadata proxies.
	PollTerminationTime bool
	// RequestTimeout bounds one metadata read, including fetching a session
	// token and the one retry (DefaultRequestTimeout if zero).
	RequestTimeout time.Duration
	// MaxBackoff caps the wait between reads of a path that keeps failing;
	// the wait doubles from the path's interval (DefaultMaxBackoff if zero).
	MaxBackoff time.Duration
	// Clock stamps Detected and paces polling (clock.RealClock if nil).
	Clock clock.Clock
	// Log receives failures and notices (slog.Default if nil).
	Log *slog.Logger
	// OnError, if set, is called once for every failed metadata read with
	// one of the Reason constants (for a metrics counter). It must not block.
	OnError func(reason string)
}

// ConfigError reports an unusable Config field.
type ConfigError struct {
	// Field is the Config field.
	Field string
	// Problem says what is wrong.
	Problem string
}

func (e *ConfigError) Error() string { return "aws notice source: " + e.Field + " " + e.Problem }

// Source polls the EC2 instance metadata service. Create it with New.
type Source struct {
	cfg    Config
	client *imds.Client
	log    *slog.Logger

	failMu   sync.Mutex
	failures map[string]int // metadata path -> consecutive failures, for log levels

	sentMu sync.Mutex
	sent   map[string]sentNotice // notice ID -> what went out last

	idMu sync.Mutex
	id   identity

	maint maintTracker // owned by the events poller

	// readOnce is closed once every poller has read its paths successfully.
	readOnce notice.FirstRead
	readMu   sync.Mutex
	readOK   map[string]bool // poller name -> succeeded once
	pollers  int
}

// ReadOnce is closed once every poller (spot, autoscaling, events) has read
// its metadata successfully once; see notice.Readier.
func (s *Source) ReadOnce() <-chan struct{} { return s.readOnce.ReadOnce() }

// readSucceeded records a poller's successful read.
func (s *Source) readSucceeded(name string) {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	if s.readOK[name] {
		return
	}
	s.readOK[name] = true
	if len(s.readOK) >= s.pollers {
		s.readOnce.Done()
	}
}

var (
	_ notice.Source  = (*Source)(nil)
	_ notice.Readier = (*Source)(nil)
)

// New validates cfg, fills in defaults and builds the IMDS client.
func New(cfg Config) (*Source, error) {
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultEndpoint
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &ConfigError{Field: "Endpoint", Problem: "must be an http(s) URL such as " + DefaultEndpoint}
	}
	cfg.SpotInterval = orDefault(cfg.SpotInterval, DefaultSpotInterval)
	cfg.ASGInterval = orDefault(cfg.ASGInterval, DefaultASGInterval)
	cfg.EventsInterval = orDefault(cfg.EventsInterval, DefaultEventsInterval)
	cfg.RequestTimeout = orDefault(cfg.RequestTimeout, DefaultRequestTimeout)
	cfg.MaxBackoff = orDefault(cfg.MaxBackoff, DefaultMaxBackoff)
	if cfg.RequestTimeout < 0 || cfg.MaxBackoff < 0 {
		return nil, &ConfigError{Field: "RequestTimeout/MaxBackoff", Problem: "must not be negative"}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Source{
		cfg:      cfg,
		client:   newClient(cfg),
		log:      cfg.Log.With(logging.KeySource, SourceName),
		failures: map[string]int{},
		sent:     map[string]sentNotice{},
		maint:    newMaintTracker(),
		readOK:   map[string]bool{},
	}, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Name returns "aws".
func (s *Source) Name() string { return SourceName }

// poller reads some paths and emits what it finds; an error makes the next
// read of the same poller wait longer.
type poller struct {
	name     string
	interval time.Duration
	poll     func(ctx context.Context, out chan<- notice.Notice) error
}

// Run polls until ctx is done and then returns nil. Failures never end it.
func (s *Source) Run(ctx context.Context, out chan<- notice.Notice) error {
	pollers := []poller{
		{"spot", s.cfg.SpotInterval, s.pollSpot},
		{"autoscaling", s.cfg.ASGInterval, s.pollASG},
		{"events", s.cfg.EventsInterval, s.pollEvents},
	}
	var wg sync.WaitGroup
	s.readMu.Lock()
	for _, p := range pollers {
		if p.interval >= 0 {
			s.pollers++
		}
	}
	if s.pollers == 0 {
		s.readOnce.Done()
	}
	s.readMu.Unlock()
	for _, p := range pollers {
		if p.interval < 0 {
			continue
		}
		wg.Go(func() { s.loop(ctx, p, out) })
	}
	s.log.Info("polling instance metadata", "endpoint", s.cfg.Endpoint, "imdsv1Fallback", s.cfg.AllowIMDSv1)
	wg.Wait()
	return nil
}

// loop runs one poller: at once, then every interval, backing off while it fails.
func (s *Source) loop(ctx context.Context, p poller, out chan<- notice.Notice) {
	failures := 0
	for {
		err := p.poll(ctx, out)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
		} else {
			failures = 0
			s.readSucceeded(p.name)
		}
		t := s.cfg.Clock.NewTimer(nextWait(p.interval, s.cfg.MaxBackoff, failures))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// nextWait is the pause before the next read after `failures` consecutive
// failed reads: the interval after a success or a first failure, then
// doubling up to maxBackoff (or the interval, if that is longer).
func nextWait(interval, maxBackoff time.Duration, failures int) time.Duration {
	d := interval
	for i := 1; i < failures && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, max(maxBackoff, interval))
}

// errCanceled is returned by reads abandoned because Run's ctx ended.
var errCanceled = errors.New("aws notice source stopped")
