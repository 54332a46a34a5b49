// Package keypoll is what the notice sources that poll one plain-text
// metadata key share (notice/alibaba, notice/tencent, notice/digitalocean):
// a Poller that GETs the key on an interval through a proxy-free transport,
// treats 200 as a value and 404 as "nothing announced", and logs, counts
// (through OnError) and backs off on every other outcome, and a Dedup that
// sends each notice once (again when its deadline moves).
package keypoll

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// Failure reasons passed to Config.OnError (stable metric labels).
const (
	ReasonUnreachable = metadatahttp.ReasonUnreachable
	ReasonTimeout     = metadatahttp.ReasonTimeout
	ReasonHTTPStatus  = metadatahttp.ReasonHTTPStatus
	ReasonMalformed   = metadatahttp.ReasonMalformed
	// ReasonToken: a metadata session token could not be had.
	ReasonToken = "token"
)

// maxBody bounds how much of an answer is read: the values are a few bytes.
const maxBody = 4096

// HTTPStatusError is an answer with a status other than 200 or 404.
type HTTPStatusError struct {
	// Source is the notice source ("alibaba").
	Source string
	// URL is the request URL.
	URL string
	// StatusCode is the HTTP status received.
	StatusCode int
	// Body is the start of the response body.
	Body string
}

func (e *HTTPStatusError) Error() string {
	return fmt.Sprintf("%s metadata %s: status %d: %s", e.Source, e.URL, e.StatusCode, e.Body)
}

// MalformedValueError is a value a source does not understand.
type MalformedValueError struct {
	// Source is the notice source.
	Source string
	// Key is the metadata path.
	Key string
	// Value is what the server sent (truncated).
	Value string
	// Err says what is wrong with it.
	Err error
}

func (e *MalformedValueError) Error() string {
	return fmt.Sprintf("%s metadata %s: unexpected value %q: %v", e.Source, e.Key, e.Value, e.Err)
}

// Unwrap returns Err.
func (e *MalformedValueError) Unwrap() error { return e.Err }

// Answer is what the server said about the key.
type Answer struct {
	// Found is false for a 404: nothing is announced.
	Found bool
	// Body is the value (at most 4 KiB), when Found.
	Body string
}

// Config configures a Poller.
type Config struct {
	// Source names the notice source in logs and errors.
	Source string
	// URL is the key's full URL.
	URL string
	// Interval is the wait between successful polls.
	Interval time.Duration
	// RequestTimeout bounds one request.
	RequestTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait after failures; it doubles
	// per consecutive failure.
	MinBackoff, MaxBackoff time.Duration
	// Authorize, if set, prepares every request (a session token header).
	// An error is counted as ReasonToken and the request sent as it is.
	Authorize func(ctx context.Context, req *http.Request) error
	// Unauthorized, if set, is called after a 401 or 403 answer (to drop a
	// cached token).
	Unauthorized func()
	// Transport carries the requests (metadatahttp.NewTransport if nil).
	Transport http.RoundTripper
	// Clock times polls and backoff.
	Clock clock.Clock
	// Log receives failures.
	Log *slog.Logger
	// OnError is called once per failure with a Reason constant.
	OnError func(reason string)
}

// Poller polls one key. Create it with New.
type Poller struct {
	cfg    Config
	client *http.Client
}

// New returns a poller; cfg's zero fields must have been defaulted by the
// source (Clock, Log, OnError must be set).
func New(cfg Config) *Poller {
	t := cfg.Transport
	if t == nil {
		t = metadatahttp.NewTransport()
	}
	return &Poller{cfg: cfg, client: &http.Client{
		Transport: t,
		// Metadata servers do not redirect; following one could leave the host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Get does one request for url (the key, or an identity path) with the
// configured timeout and authorization.
func (p *Poller) Get(ctx context.Context, url string) (Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Answer{}, err
	}
	if p.cfg.Authorize != nil {
		if err := p.cfg.Authorize(ctx, req); err != nil {
			p.cfg.OnError(ReasonToken)
			p.cfg.Log.Warn("no metadata session token; asking without one", logging.KeySource, p.cfg.Source, logging.KeyError, err)
		}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return Answer{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	switch {
	case err != nil:
		return Answer{}, err
	case resp.StatusCode == http.StatusOK:
		return Answer{Found: true, Body: string(body)}, nil
	case resp.StatusCode == http.StatusNotFound:
		return Answer{}, nil
	}
	if (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) && p.cfg.Unauthorized != nil {
		p.cfg.Unauthorized()
	}
	return Answer{}, &HTTPStatusError{
		Source: p.cfg.Source, URL: url, StatusCode: resp.StatusCode,
		Body: metadatahttp.Truncate(strings.TrimSpace(string(body)), 128),
	}
}

// Run polls the key until ctx ends, handing every 200 or 404 answer to
// handle. A handle error (a *MalformedValueError) and every failed request
// are logged and counted; failures back off. Run returns when ctx ends.
func (p *Poller) Run(ctx context.Context, handle func(context.Context, Answer) error) {
	for failures := 0; ctx.Err() == nil; {
		a, err := p.Get(ctx, p.cfg.URL)
		if err == nil {
			err = handle(ctx, a)
		}
		wait := p.cfg.Interval
		if err != nil && ctx.Err() == nil {
			failures++
			reason := Reason(err)
			p.cfg.OnError(reason)
			wait = metadatahttp.Backoff(p.cfg.MinBackoff, p.cfg.MaxBackoff, failures-1)
			p.cfg.Log.Warn("metadata poll failed", logging.KeySource, p.cfg.Source, "reason", reason,
				"failures", failures, "retryIn", wait, logging.KeyError, err)
		} else {
			failures = 0
		}
		if metadatahttp.Sleep(ctx, p.cfg.Clock, wait) != nil {
			return
		}
	}
}

// Reason classifies a failure as one of the Reason constants.
func Reason(err error) string {
	var se *HTTPStatusError
	var me *MalformedValueError
	switch {
	case errors.As(err, &se):
		return ReasonHTTPStatus
	case errors.As(err, &me):
		return ReasonMalformed
	}
	return metadatahttp.TransportReason(err)
}

// Dedup sends each notice once, and again when its deadline moves or it is
// canceled. It is safe for concurrent use; the zero value is ready.
type Dedup struct {
	mu   sync.Mutex
	sent map[string]notice.Notice
}

// Send sends n to out unless an identical notice went out before. It
// returns ctx.Err() if ctx ends first.
func (d *Dedup) Send(ctx context.Context, out chan<- notice.Notice, n notice.Notice) (bool, error) {
	d.mu.Lock()
	was, ok := d.sent[n.ID]
	d.mu.Unlock()
	if ok && was.Canceled == n.Canceled && was.Deadline.Equal(n.Deadline) {
		return false, nil
	}
	select {
	case out <- n:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	d.mu.Lock()
	if d.sent == nil {
		d.sent = map[string]notice.Notice{}
	}
	d.sent[n.ID] = n
	d.mu.Unlock()
	return true, nil
}

// Defaults fills zero durations of a source's config: interval, request
// timeout, min and max backoff, in that order, rejecting negative values
// with the field's name.
func Defaults(fields []Field) error {
	for _, f := range fields {
		if *f.V < 0 {
			return &metadatahttp.ConfigError{Source: f.Source, Field: f.Name, Err: fmt.Errorf("must not be negative, got %s", *f.V)}
		}
		if *f.V == 0 {
			*f.V = f.Default
		}
	}
	return nil
}

// Field is one duration of a source's Config, for Defaults.
type Field struct {
	Source, Name string
	V            *time.Duration
	Default      time.Duration
}

// BaseURL is raw parsed as a metadata base URL without a trailing slash,
// or def when raw is empty; an invalid URL is a *metadatahttp.ConfigError
// on the source's MetadataURL.
func BaseURL(source, raw, def string) (string, error) {
	if raw == "" {
		return def, nil
	}
	u, err := metadatahttp.ParseBaseURL(raw)
	if err != nil {
		return "", &metadatahttp.ConfigError{Source: source, Field: "MetadataURL", Err: err}
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// Identity is configured, else the metadata's answer at url (an instance
// or droplet ID), else fallback (the node name), logged. One try: a source
// must not wait on its identity before it polls.
func (p *Poller) Identity(ctx context.Context, url, configured, fallback string) string {
	if configured != "" {
		return configured
	}
	a, err := p.Get(ctx, url)
	if id := strings.TrimSpace(a.Body); err == nil && a.Found && id != "" && len(id) < 128 {
		return id
	}
	p.cfg.Log.Warn("cannot read the instance's ID from metadata; using the node name in notice IDs",
		logging.KeySource, p.cfg.Source, "url", url, logging.KeyNode, fallback, logging.KeyError, err)
	return fallback
}

// RunDeadlines polls key (the path of the poller's URL), whose value is a
// termination time, until ctx ends: read is called on every 200 or 404
// answer; a time that parse refuses is a *MalformedValueError (logged and
// counted by Run); a time it accepts becomes build(deadline, now), sent
// once through sent.
func (p *Poller) RunDeadlines(ctx context.Context, key string, out chan<- notice.Notice, sent *Dedup, read func(),
	parse func(string) (time.Time, error), build func(deadline, now time.Time) notice.Notice,
) {
	p.Run(ctx, func(ctx context.Context, a Answer) error {
		read()
		if !a.Found {
			return nil
		}
		deadline, err := parse(a.Body)
		if err != nil {
			return &MalformedValueError{Source: p.cfg.Source, Key: key, Value: metadatahttp.Truncate(a.Body, 64), Err: err}
		}
		n := build(deadline, p.cfg.Clock.Now())
		ok, err := sent.Send(ctx, out, n)
		if ok {
			p.cfg.Log.Info("notice", logging.KeySource, p.cfg.Source, logging.KeyNotice, n.ID, logging.KeyKind, n.Kind, "deadline", n.Deadline)
		}
		return err
	})
}
