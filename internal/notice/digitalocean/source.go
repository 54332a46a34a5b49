// Package digitalocean is lifeboat's notice source for DigitalOcean
// Droplets: it polls the metadata key /v1/maintenance_event, which answers
// "live_migrate" at least ten minutes before a scheduled live migration and
// a blank string otherwise, and turns it into a live-migration notice (and
// a canceled one when the value goes blank again). The Droplet keeps
// running through a live migration, so the agent's default action for the
// kind is none: the notice is reported (Event, notification, metric), and
// --action live-migration=taint (or cordon, drain) acts on it.
package digitalocean

import (
	"context"
	"errors"
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
const Name = "digitalocean"

// Wire constants of the Droplet metadata service.
const (
	// DefaultMetadataURL is the Droplet metadata service.
	DefaultMetadataURL = metadatahttp.DefaultHost
	// PathMaintenanceEvent is "live_migrate" ahead of a live migration.
	PathMaintenanceEvent = "/v1/maintenance_event"
	// PathDropletID is the numeric Droplet ID.
	PathDropletID = "/metadata/v1/id"
	// EventLiveMigrate is the only documented maintenance event.
	EventLiveMigrate = "live_migrate"
)

// Reasons passed to Config.OnError.
const (
	ReasonUnreachable = keypoll.ReasonUnreachable
	ReasonTimeout     = keypoll.ReasonTimeout
	ReasonHTTPStatus  = keypoll.ReasonHTTPStatus
	ReasonMalformed   = keypoll.ReasonMalformed
)

// Defaults for Config fields left zero.
const (
	// MigrationWarning is the documented least lead time of live_migrate;
	// a notice's deadline is its detection plus this.
	MigrationWarning      = 10 * time.Minute
	DefaultInterval       = 10 * time.Second
	DefaultRequestTimeout = 2 * time.Second
	DefaultMinBackoff     = 500 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
)

// Error types shared with the other polling sources.
type (
	// HTTPStatusError is an answer other than 200 or 404.
	HTTPStatusError = keypoll.HTTPStatusError
	// MalformedValueError is a maintenance event this source does not know.
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
	// DropletID is written into notices and IDs; read from the metadata
	// service when Run starts if empty (the node name if that fails).
	DropletID string
	// Interval is the wait between polls (DefaultInterval if zero).
	Interval time.Duration
	// RequestTimeout bounds one request (DefaultRequestTimeout if zero).
	RequestTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait after failures.
	MinBackoff, MaxBackoff time.Duration
	// HTTPClient's Transport carries requests (a proxy-free one if nil).
	HTTPClient *http.Client
	// Clock times polls, deadlines and Detected (clock.RealClock if nil).
	Clock clock.Clock
	// Log receives failures (slog.Default if nil).
	Log *slog.Logger
	// OnError is called once per failure with a Reason constant; it must not block.
	OnError func(reason string)
}

// Source is the DigitalOcean notice source.
type Source struct {
	cfg    Config
	base   string
	poll   *keypoll.Poller
	sent   keypoll.Dedup
	read   notice.FirstRead
	active *notice.Notice // the migration in force; owned by Run's goroutine
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
		Source: Name, URL: base + PathMaintenanceEvent,
		Interval: cfg.Interval, RequestTimeout: cfg.RequestTimeout, MinBackoff: cfg.MinBackoff, MaxBackoff: cfg.MaxBackoff,
		Transport: transport, Clock: cfg.Clock, Log: cfg.Log, OnError: cfg.OnError,
	})
	return s, nil
}

// Name returns "digitalocean".
func (s *Source) Name() string { return Name }

// ReadOnce is closed after the first answer was read.
func (s *Source) ReadOnce() <-chan struct{} { return s.read.ReadOnce() }

// Run polls the maintenance event until ctx ends; it returns nil.
func (s *Source) Run(ctx context.Context, out chan<- notice.Notice) error {
	id := s.poll.Identity(ctx, s.base+PathDropletID, s.cfg.DropletID, s.cfg.Node)
	s.cfg.Log.Info("watching digitalocean metadata", logging.KeySource, Name, "droplet", id,
		"url", s.base+PathMaintenanceEvent)
	s.poll.Run(ctx, func(ctx context.Context, a keypoll.Answer) error {
		event, err := ParseMaintenanceEvent(a.Body)
		if err != nil {
			return &MalformedValueError{Source: Name, Key: PathMaintenanceEvent, Value: metadatahttp.Truncate(a.Body, 64), Err: err}
		}
		s.read.Done()
		n, ok := s.transition(id, event, s.cfg.Clock.Now())
		if !ok {
			return nil
		}
		sent, err := s.sent.Send(ctx, out, n)
		if sent {
			s.cfg.Log.Info("notice", logging.KeySource, Name, logging.KeyNotice, n.ID, "kind", n.Kind,
				"canceled", n.Canceled, "deadline", n.Deadline)
		}
		return err
	})
	return nil
}

// transition returns the notice a (known) event value causes, if any: a
// new live-migration notice when one starts, a canceled one when the value
// goes blank again.
func (s *Source) transition(dropletID, event string, now time.Time) (notice.Notice, bool) {
	switch {
	case event == EventLiveMigrate && s.active == nil:
		n := migrationNotice(dropletID, s.cfg.Node, now)
		s.active = &n
		return n, true
	case event == "" && s.active != nil:
		c := *s.active
		c.Canceled, c.Detected = true, now
		c.Reason = "DigitalOcean maintenance_event is blank again: the live migration is over"
		s.active = nil
		return c, true
	}
	return notice.Notice{}, false
}

// errUnknownEvent is a maintenance event other than live_migrate.
var errUnknownEvent = errors.New("unknown maintenance event (want live_migrate or blank)")

// ParseMaintenanceEvent reads /v1/maintenance_event: "" (blank, or a 404)
// when nothing is scheduled, EventLiveMigrate ahead of a live migration.
// Anything else is an error: an event this source does not know is
// reported, never guessed at.
func ParseMaintenanceEvent(body string) (string, error) {
	switch v := strings.TrimSpace(body); v {
	case "", EventLiveMigrate:
		return v, nil
	default:
		return "", fmt.Errorf("%w: %q", errUnknownEvent, metadatahttp.Truncate(v, 32))
	}
}

// migrationNotice is the notice for a live migration seen at now. DO gives
// no event ID, so the detection time names the occurrence.
func migrationNotice(dropletID, node string, now time.Time) notice.Notice {
	return notice.Notice{
		ID:         "digitalocean-live-migrate/" + dropletID + "/" + now.UTC().Format("20060102T150405Z"),
		Source:     Name,
		Kind:       notice.KindMigration,
		Node:       node,
		InstanceID: dropletID,
		Deadline:   now.Add(MigrationWarning),
		Detected:   now,
		Reason:     "DigitalOcean schedules a live migration of the Droplet (at least 10 minutes ahead)",
		Attributes: map[string]string{"event-type": EventLiveMigrate},
	}
}
