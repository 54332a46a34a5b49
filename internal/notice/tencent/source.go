// Package tencent is lifeboat's notice source for Tencent Cloud CVM spot
// instances: it polls the metadata key spot/termination-time, which answers
// 404 until the instance is reclaimed and then the reclaim time as
// "2018-08-18 12:05:33" — with no zone marker, in UTC+8 (China Standard
// Time, the documented OS time of the instance) — and turns it into a
// spot-interruption notice.
package tencent

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
const Name = "tencent"

// Wire constants of the CVM metadata service.
const (
	// DefaultMetadataURL is the CVM metadata service.
	DefaultMetadataURL = "http://metadata.tencentyun.com"
	// PathTerminationTime answers 404 until the spot instance is reclaimed.
	PathTerminationTime = "/latest/meta-data/spot/termination-time"
	// PathInstanceID is the instance ID.
	PathInstanceID = "/latest/meta-data/instance-id"
	// TimeLayout is the termination time's format (no zone: UTC+8).
	TimeLayout = "2006-01-02 15:04:05"
)

// UTC8 is the zone of the termination time.
var UTC8 = time.FixedZone("UTC+8", 8*60*60)

// Reasons passed to Config.OnError.
const (
	ReasonUnreachable = keypoll.ReasonUnreachable
	ReasonTimeout     = keypoll.ReasonTimeout
	ReasonHTTPStatus  = keypoll.ReasonHTTPStatus
	ReasonMalformed   = keypoll.ReasonMalformed
)

// Defaults for Config fields left zero.
const (
	DefaultInterval       = 2 * time.Second
	DefaultRequestTimeout = 2 * time.Second
	DefaultMinBackoff     = 500 * time.Millisecond
	DefaultMaxBackoff     = 10 * time.Second
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
	// Clock times polls and Detected (clock.RealClock if nil).
	Clock clock.Clock
	// Log receives failures (slog.Default if nil).
	Log *slog.Logger
	// OnError is called once per failure with a Reason constant; it must not block.
	OnError func(reason string)
}

// Source is the Tencent Cloud notice source.
type Source struct {
	cfg  Config
	base string
	poll *keypoll.Poller
	sent keypoll.Dedup
	read notice.FirstRead
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
	s := &Source{cfg: cfg, base: base}
	s.poll = keypoll.New(keypoll.Config{
		Source: Name, URL: base + PathTerminationTime,
		Interval: cfg.Interval, RequestTimeout: cfg.RequestTimeout, MinBackoff: cfg.MinBackoff, MaxBackoff: cfg.MaxBackoff,
		Transport: transport, Clock: cfg.Clock, Log: cfg.Log, OnError: cfg.OnError,
	})
	return s, nil
}

// Name returns "tencent".
func (s *Source) Name() string { return Name }

// ReadOnce is closed after the first answer (404 or a time) was read.
func (s *Source) ReadOnce() <-chan struct{} { return s.read.ReadOnce() }

// Run polls the termination time until ctx ends; it returns nil.
func (s *Source) Run(ctx context.Context, out chan<- notice.Notice) error {
	inst := s.poll.Identity(ctx, s.base+PathInstanceID, s.cfg.InstanceID, s.cfg.Node)
	s.cfg.Log.Info("watching tencent metadata", logging.KeySource, Name, "instance", inst,
		"url", s.base+PathTerminationTime)
	s.poll.RunDeadlines(ctx, PathTerminationTime, out, &s.sent, s.read.Done, ParseTerminationTime,
		func(deadline, now time.Time) notice.Notice { return spotNotice(inst, s.cfg.Node, deadline, now) })
	return nil
}

// ParseTerminationTime parses the value of spot/termination-time,
// "2018-08-18 12:05:33" in UTC+8, and returns it in UTC. An RFC 3339 time
// (which names its zone) is accepted too; the zero time is refused.
func ParseTerminationTime(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	t, err := time.ParseInLocation(TimeLayout, v, UTC8)
	if err != nil {
		var rerr error
		if t, rerr = time.Parse(time.RFC3339, v); rerr != nil {
			return time.Time{}, err
		}
	}
	if t.Year() < 2000 {
		return time.Time{}, fmt.Errorf("termination time %q is before 2000", v)
	}
	return t.UTC(), nil
}

// spotNotice is the notice for a reclaim at deadline.
func spotNotice(instanceID, node string, deadline, now time.Time) notice.Notice {
	return notice.Notice{
		ID:         "tencent-spot/" + instanceID + "/" + deadline.Format(time.RFC3339),
		Source:     Name,
		Kind:       notice.KindSpotInterruption,
		Node:       node,
		InstanceID: instanceID,
		Deadline:   deadline,
		Detected:   now,
		Reason:     "Tencent Cloud reclaims the spot instance at " + deadline.Format(time.RFC3339),
		Attributes: map[string]string{"action": "terminate"},
	}
}
