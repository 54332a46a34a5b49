// Package alibaba is lifeboat's notice source for Alibaba Cloud ECS
// preemptible (spot) instances: it polls the instance metadata key
// instance/spot/termination-time, which answers 404 until the instance is
// reclaimed and then the UTC time at which it is released (about five
// minutes later), and turns it into a spot-interruption notice. Requests
// carry a hardened-mode session token (PUT /latest/api/token) when the
// metadata service hands one out, and go without one when it does not.
package alibaba

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/keypoll"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/metadatahttp"
)

// Name is the source name in notices, logs and metrics.
const Name = "alibaba"

// Wire constants of the ECS metadata service.
const (
	// DefaultMetadataURL is the ECS metadata service.
	DefaultMetadataURL = "http://100.100.100.200"
	// PathTerminationTime answers 404 until the spot instance is reclaimed.
	PathTerminationTime = "/latest/meta-data/instance/spot/termination-time"
	// PathInstanceID is the instance ID.
	PathInstanceID = "/latest/meta-data/instance-id"
	// PathToken hands out hardened-mode session tokens (PUT).
	PathToken = "/latest/api/token" //nolint:gosec // G101: a URL path, not a credential
	// HeaderTokenTTL asks for a token lifetime in seconds (1-21600).
	HeaderTokenTTL = "X-aliyun-ecs-metadata-token-ttl-seconds" //nolint:gosec // G101: a header name, not a credential
	// HeaderToken carries the token on metadata requests.
	HeaderToken = "X-aliyun-ecs-metadata-token" //nolint:gosec // G101: a header name, not a credential
)

// Reasons passed to Config.OnError.
const (
	ReasonUnreachable = keypoll.ReasonUnreachable
	ReasonTimeout     = keypoll.ReasonTimeout
	ReasonHTTPStatus  = keypoll.ReasonHTTPStatus
	ReasonMalformed   = keypoll.ReasonMalformed
	ReasonToken       = keypoll.ReasonToken
)

// Defaults for Config fields left zero.
const (
	// SpotWarning is how long before the release ECS writes the key
	// ("released 5 minutes later"); Issued is the deadline minus it.
	SpotWarning           = 5 * time.Minute
	DefaultInterval       = 2 * time.Second
	DefaultRequestTimeout = 2 * time.Second
	DefaultMinBackoff     = 500 * time.Millisecond
	DefaultMaxBackoff     = 10 * time.Second
	// DefaultTokenTTL is the session token lifetime asked for.
	DefaultTokenTTL = 6 * time.Hour
)

// Error types shared with the other polling sources.
type (
	// HTTPStatusError is an answer other than 200 or 404.
	HTTPStatusError = keypoll.HTTPStatusError
	// MalformedValueError is a termination time that does not parse.
	MalformedValueError = keypoll.MalformedValueError
	// ConfigError is an invalid Config field.
	ConfigError = metadatahttp.ConfigError
)

// Config configures the source.
type Config struct {
	// MetadataURL is the metadata service's base URL (DefaultMetadataURL if empty).
	MetadataURL string
	// Node is the Kubernetes node name written into notices.
	Node string
	// InstanceID is written into notices and IDs; read from the metadata
	// service when Run starts if empty (the node name if that fails).
	InstanceID string
	// Interval is the wait between polls (DefaultInterval if zero).
	Interval time.Duration
	// RequestTimeout bounds one request (DefaultRequestTimeout if zero).
	RequestTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait after failures.
	MinBackoff, MaxBackoff time.Duration
	// HTTPClient's Transport carries requests (a proxy-free one if nil).
	HTTPClient *http.Client
	// Clock times polls, tokens and Detected (clock.RealClock if nil).
	Clock clock.Clock
	// Log receives failures (slog.Default if nil).
	Log *slog.Logger
	// OnError is called once per failure with a Reason constant; it must not block.
	OnError func(reason string)
}

// Source is the Alibaba Cloud notice source.
type Source struct {
	cfg    Config
	base   string
	poll   *keypoll.Poller
	tokens *tokens
	sent   keypoll.Dedup
	read   notice.FirstRead
}

var (
	_ notice.Source  = (*Source)(nil)
	_ notice.Readier = (*Source)(nil)
)

// New validates cfg and returns a source. It does no I/O.
func New(cfg Config) (*Source, error) {
	base, err := keypoll.BaseURL(Name, cfg.MetadataURL, DefaultMetadataURL)
	if err != nil {
		return nil, err
	}
	if err := keypoll.Defaults([]keypoll.Field{
		{Source: Name, Name: "Interval", V: &cfg.Interval, Default: DefaultInterval},
		{Source: Name, Name: "RequestTimeout", V: &cfg.RequestTimeout, Default: DefaultRequestTimeout},
		{Source: Name, Name: "MinBackoff", V: &cfg.MinBackoff, Default: DefaultMinBackoff},
		{Source: Name, Name: "MaxBackoff", V: &cfg.MaxBackoff, Default: DefaultMaxBackoff},
	}); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.OnError == nil {
		cfg.OnError = func(string) {}
	}
	var transport http.RoundTripper
	if cfg.HTTPClient != nil {
		transport = cfg.HTTPClient.Transport
	}
	if transport == nil {
		transport = metadatahttp.NewTransport()
	}
	s := &Source{cfg: cfg, base: base}
	s.tokens = &tokens{
		url: base + PathToken, ttl: DefaultTokenTTL, clock: cfg.Clock, timeout: cfg.RequestTimeout,
		client: &http.Client{Transport: transport},
	}
	s.poll = keypoll.New(keypoll.Config{
		Source: Name, URL: base + PathTerminationTime,
		Interval: cfg.Interval, RequestTimeout: cfg.RequestTimeout, MinBackoff: cfg.MinBackoff, MaxBackoff: cfg.MaxBackoff,
		Authorize: s.tokens.authorize, Unauthorized: s.tokens.drop,
		Transport: transport, Clock: cfg.Clock, Log: cfg.Log, OnError: cfg.OnError,
	})
	return s, nil
}

// Name returns "alibaba".
func (s *Source) Name() string { return Name }

// ReadOnce is closed after the first answer (404 or a time) was read.
func (s *Source) ReadOnce() <-chan struct{} { return s.read.ReadOnce() }

// Run polls the termination time until ctx ends; it returns nil.
func (s *Source) Run(ctx context.Context, out chan<- notice.Notice) error {
	inst := s.poll.Identity(ctx, s.base+PathInstanceID, s.cfg.InstanceID, s.cfg.Node)
	s.cfg.Log.Info("watching alibaba metadata", logging.KeySource, Name, "instance", inst,
		"url", s.base+PathTerminationTime)
	s.poll.RunDeadlines(ctx, PathTerminationTime, out, &s.sent, s.read.Done, ParseTerminationTime,
		func(deadline, now time.Time) notice.Notice { return spotNotice(inst, s.cfg.Node, deadline, now) })
	return nil
}

// ParseTerminationTime parses the value of instance/spot/termination-time:
// an RFC 3339 UTC time such as 2015-01-05T18:02:00Z. A time without a zone
// or before 2000 (the zero time) is refused (a spot notice always has a deadline).
func ParseTerminationTime(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, err
	}
	if t.Year() < 2000 { // the zero time, or a clock that was never set
		return time.Time{}, fmt.Errorf("termination time %q is before 2000", v)
	}
	return t.UTC(), nil
}

// spotNotice is the notice for a reclaim at deadline. Its ID names the
// instance and the deadline, so a restart recognises it.
func spotNotice(instanceID, node string, deadline, now time.Time) notice.Notice {
	return notice.Notice{
		ID:         "alibaba-spot/" + instanceID + "/" + deadline.Format(time.RFC3339),
		Source:     Name,
		Kind:       notice.KindSpotInterruption,
		Node:       node,
		InstanceID: instanceID,
		Deadline:   deadline,
		Issued:     deadline.Add(-SpotWarning),
		Detected:   now,
		Reason:     "Alibaba Cloud reclaims the preemptible instance at " + deadline.Format(time.RFC3339),
		Attributes: map[string]string{"action": "terminate"},
	}
}
