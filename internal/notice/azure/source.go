// Package azure is lifeboat's notice source for Azure Scheduled Events: it
// polls the instance metadata service (IMDS) for events that name this VM,
// turns Preempt, Terminate, Reboot, Redeploy and Freeze into notices (once
// per EventId), reports events that vanish as canceled, and acknowledges
// events (StartRequests) once the agent is done with them.
package azure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/metadatahttp"
)

// Name is the source name in notices, logs and metrics.
const Name = "azure"

// Defaults for Config fields left zero.
const (
	// DefaultMetadataURL is Azure IMDS.
	DefaultMetadataURL = metadatahttp.DefaultHost
	// DefaultPollInterval keeps detection under a second.
	DefaultPollInterval = 500 * time.Millisecond
	// DefaultRequestTimeout bounds each IMDS request.
	DefaultRequestTimeout = 5 * time.Second
	// DefaultMaxBackoff caps the wait between polls while IMDS fails.
	DefaultMaxBackoff = 5 * time.Second
)

// scheduledEventsAPIVersion is the Scheduled Events api-version spoken.
const scheduledEventsAPIVersion = "2020-07-01"

// maxBody bounds how much of an IMDS response is read.
const maxBody = 1 << 20

// Config configures the Azure Scheduled Events source.
type Config struct {
	// MetadataURL is the IMDS base URL, e.g. the agent's --metadata-url
	// (DefaultMetadataURL if empty). A path prefix is kept.
	MetadataURL string
	// VMName is this VM's name as events list it in Resources. If empty it
	// is derived from ProviderID, and failing that read from IMDS
	// (/metadata/instance/compute "name") when Run starts.
	VMName string
	// ProviderID is the Node's spec.providerID, used when VMName is empty.
	ProviderID string
	// Node is the Kubernetes node name written into notices.
	Node string
	// PollInterval is the time between polls (DefaultPollInterval if zero).
	PollInterval time.Duration
	// RequestTimeout bounds each request (DefaultRequestTimeout if zero).
	RequestTimeout time.Duration
	// MaxBackoff caps the wait between polls while IMDS keeps failing; the
	// wait doubles from PollInterval per failure (DefaultMaxBackoff if zero).
	MaxBackoff time.Duration
	// HTTPClient sends the requests. If nil, a client that never uses a
	// proxy is used (IMDS must not be reached through one). Its Timeout, if
	// any, applies on top of RequestTimeout.
	HTTPClient *http.Client
	// Clock times polls, backoff and Detected (clock.RealClock if nil).
	Clock clock.Clock
	// Log receives warnings about failures (slog.Default if nil); lines
	// carry source=azure and, per event, event=<EventId>.
	Log *slog.Logger
	// OnError, if set, is called once per failed request with one of the
	// Reason constants, for metrics. It must not block.
	OnError func(reason string)
	// PeersHandled, if set, is asked before acknowledging an event that also
	// lists other VMs: it returns those of vms that have not finished with
	// event id (their Nodes do not record it as handled). Without it such
	// events are never acknowledged.
	PeersHandled func(ctx context.Context, id string, vms []string) (waiting []string, err error)
}

// Source is the Azure Scheduled Events notice source. It implements
// notice.Source and notice.Acknowledger; Ack may be called concurrently
// with Run.
type Source struct {
	base     string
	vmName   string
	node     string
	interval time.Duration
	timeout  time.Duration
	maxWait  time.Duration
	hc       *http.Client
	clock    clock.Clock
	log      *slog.Logger
	onError  func(string)
	reached  bool // IMDS answered once (only Run's goroutine uses it)
	readOnce notice.FirstRead

	peersHandled func(ctx context.Context, id string, vms []string) ([]string, error)

	mu      sync.Mutex
	tracker tracker
}

var (
	_ notice.Source       = (*Source)(nil)
	_ notice.Acknowledger = (*Source)(nil)
	_ notice.Readier      = (*Source)(nil)
)

// New validates cfg and returns a source. It does no I/O.
func New(cfg Config) (*Source, error) {
	base, err := normalizeBaseURL(cfg.MetadataURL)
	if err != nil {
		return nil, &ConfigError{Source: Name, Field: "MetadataURL", Err: err}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"PollInterval", cfg.PollInterval}, {"RequestTimeout", cfg.RequestTimeout}, {"MaxBackoff", cfg.MaxBackoff}} {
		if d.v < 0 {
			return nil, &ConfigError{Source: Name, Field: d.name, Err: fmt.Errorf("must not be negative, got %s", d.v)}
		}
	}
	vm := strings.TrimSpace(cfg.VMName)
	if vm == "" && cfg.ProviderID != "" {
		if vm, err = VMNameFromProviderID(cfg.ProviderID); err != nil {
			return nil, &ConfigError{Source: Name, Field: "ProviderID", Err: err}
		}
	}
	s := &Source{
		base:     base,
		vmName:   vm,
		node:     cfg.Node,
		interval: orDefault(cfg.PollInterval, DefaultPollInterval),
		timeout:  orDefault(cfg.RequestTimeout, DefaultRequestTimeout),
		maxWait:  orDefault(cfg.MaxBackoff, DefaultMaxBackoff),
		hc:       cfg.HTTPClient,
		clock:    cfg.Clock,
		log:      cfg.Log,
		onError:  cfg.OnError,

		peersHandled: cfg.PeersHandled,
	}
	if s.hc == nil {
		s.hc = &http.Client{Transport: metadatahttp.NewTransport()}
	}
	if s.clock == nil {
		s.clock = clock.RealClock{}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With(logging.KeySource, Name)
	if s.onError == nil {
		s.onError = func(string) {}
	}
	s.maxWait = max(s.maxWait, s.interval)
	s.tracker = newTracker()
	return s, nil
}

// ReadOnce is closed once a Scheduled Events document was read; see
// notice.Readier.
func (s *Source) ReadOnce() <-chan struct{} { return s.readOnce.ReadOnce() }

// Name returns "azure".
func (s *Source) Name() string { return Name }

// Run resolves the VM name if needed, then polls Scheduled Events until ctx
// ends, sending notices to out. Failures are logged, counted through
// OnError and retried with backoff; Run returns nil when ctx ends.
func (s *Source) Run(ctx context.Context, out chan<- notice.Notice) error {
	vm, err := s.resolveVMName(ctx)
	if err != nil { // only the end of ctx stops the resolution
		return nil
	}
	s.mu.Lock()
	s.vmName = vm
	s.mu.Unlock()
	s.log.Info("watching azure scheduled events", "vm", vm, "url", s.eventsURL(), "interval", s.interval)
	failures := 0
	for {
		doc, err := s.fetch(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			failures++
			s.failed(err, failures, "polling scheduled events")
		default:
			s.reached = true
			s.readOnce.Done()
			if failures > 0 {
				s.log.Info("azure scheduled events reachable again", "failures", failures)
			}
			failures = 0
			if !s.deliver(ctx, out, s.observe(vm, doc)) {
				return nil
			}
		}
		wait := s.interval
		if failures > 0 {
			wait = s.backoff(failures)
		}
		if s.sleep(ctx, wait) != nil {
			return nil
		}
	}
}

// observe folds a document into the tracker and returns the notices to send.
func (s *Source) observe(vm string, doc *Document) []notice.Notice {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tracker.observe(doc, observation{
		vm: vm, node: s.node, now: s.clock.Now(), log: s.log, onError: s.onError,
	})
}

func (s *Source) deliver(ctx context.Context, out chan<- notice.Notice, ns []notice.Notice) bool {
	for _, n := range ns {
		select {
		case out <- n:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

func (s *Source) eventsURL() string {
	return s.base + "/metadata/scheduledevents?api-version=" + scheduledEventsAPIVersion
}

// fetch GETs and parses the Scheduled Events document.
func (s *Source) fetch(ctx context.Context) (*Document, error) {
	var doc Document
	if err := s.getJSON(ctx, s.eventsURL(), &doc); err != nil {
		return nil, err
	}
	if doc.Events == nil {
		return nil, &MalformedError{URL: s.eventsURL(), Err: errors.New(`no "Events" array`)}
	}
	return &doc, nil
}

// failed logs and counts one failed request.
func (s *Source) failed(err error, failures int, doing string) {
	reason := reasonOf(err)
	s.onError(reason)
	attrs := []any{"doing", doing, "reason", reason, "failures", failures, "retryIn", s.backoff(failures), logging.KeyError, err}
	if !s.reached {
		attrs = append(attrs, "hint", "Azure enables Scheduled Events on the first request, "+
			"which can take up to two minutes to answer")
	}
	s.log.Warn("azure instance metadata request failed", attrs...)
}

// backoff is the wait after the given number of consecutive failures:
// PollInterval doubled per failure, capped at MaxBackoff.
func (s *Source) backoff(failures int) time.Duration {
	return metadatahttp.Backoff(s.interval, s.maxWait, failures)
}

func (s *Source) sleep(ctx context.Context, d time.Duration) error {
	return metadatahttp.Sleep(ctx, s.clock, d)
}

func orDefault(v, d time.Duration) time.Duration {
	if v == 0 {
		return d
	}
	return v
}
