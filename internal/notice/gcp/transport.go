package gcp

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/metadatahttp"
)

// metadataPrefix starts every path the client library requests.
const metadataPrefix = "/computeMetadata/v1/"

// waitGrace is added to WaitTimeout (at most doubling it) for the
// client-side bound of a hanging request, so the server's timeout_sec
// answer normally comes first.
const waitGrace = 10 * time.Second

// transport sits under the client library's http.Client. It
//   - points requests at MetadataURL (when set) instead of the host the
//     library chose, without touching GCE_METADATA_HOST;
//   - bounds every attempt: RequestTimeout, or for wait_for_change requests
//     timeout_sec=WaitTimeout (added when missing) plus waitGrace;
//   - retries failed attempts (transport errors, statuses other than
//     200/404) with bounded, context-aware backoff on the injected clock,
//     reporting each failure, so the library never falls into its fixed,
//     uncancelable 5 s retry sleep and failures are counted;
//   - remembers the ETag of each key's last 200 answer, which the library
//     does not hand to Subscribe callbacks.
type transport struct {
	base        *url.URL // nil: keep the library's host
	next        http.RoundTripper
	clock       clock.Clock
	reqTimeout  time.Duration
	waitTimeout time.Duration
	backoff     func(failures int) time.Duration
	report      func(key string, err error, failures int)
	failedTotal atomic.Int64 // failed attempts so far, all keys

	mu       sync.Mutex
	etags    map[string]string // key -> ETag of its last 200 answer
	failures map[string]int    // key -> consecutive failed attempts
}

// RoundTrip sends req, retrying failed attempts until one gets a 200 or 404
// answer or req's context ends.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	key := strings.TrimPrefix(req.URL.Path, metadataPrefix)
	for {
		resp, err := t.attempt(req)
		if err == nil && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNotFound) {
			t.succeeded(key, resp)
			return resp, nil
		}
		if ctxErr := req.Context().Err(); ctxErr != nil {
			closeBody(resp)
			return nil, ctxErr
		}
		if err == nil {
			err = statusError(resp)
		}
		failures := t.fail(key)
		t.report(key, err, failures)
		if err := metadatahttp.Sleep(req.Context(), t.clock, t.backoff(failures)); err != nil {
			return nil, err
		}
	}
}

// attempt sends one try of req with its own timeout; the timeout's context
// lives until the response body is closed.
func (t *transport) attempt(req *http.Request) (*http.Response, error) {
	timeout := t.reqTimeout
	u := *req.URL
	q := u.Query()
	if q.Get("wait_for_change") == "true" {
		if q.Get("timeout_sec") == "" {
			q.Set("timeout_sec", strconv.Itoa(int(max(t.waitTimeout.Round(time.Second), time.Second)/time.Second)))
			u.RawQuery = q.Encode()
		}
		timeout = t.waitTimeout + min(waitGrace, t.waitTimeout)
	}
	if t.base != nil {
		u.Scheme, u.Host = t.base.Scheme, t.base.Host
		u.Path = t.base.Path + u.Path
		u.RawPath = ""
	}
	ctx, cancel := context.WithTimeout(req.Context(), timeout)
	r := req.Clone(ctx)
	r.URL, r.Host = &u, ""
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// succeeded records a 200 answer's ETag and ends key's failure streak.
func (t *transport) succeeded(key string, resp *http.Response) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if resp.StatusCode == http.StatusOK {
		t.etags[key] = resp.Header.Get("ETag")
	}
	delete(t.failures, key)
}

// fail counts a failed attempt and returns key's consecutive failures, so
// backoff keeps growing across the library's re-subscriptions.
func (t *transport) fail(key string) int {
	t.failedTotal.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failures[key]++
	return t.failures[key]
}

// etag returns the ETag of key's last 200 answer.
func (t *transport) etag(key string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.etags[key]
}

func statusError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	closeBody(resp)
	return &HTTPStatusError{URL: resp.Request.URL.String(), StatusCode: resp.StatusCode, Body: string(b)}
}

func closeBody(resp *http.Response) {
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
}

// cancelOnClose releases an attempt's timeout context with its body.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
