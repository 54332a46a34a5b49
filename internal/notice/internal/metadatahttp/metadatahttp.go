// Package metadatahttp holds what the notice sources that read a cloud
// metadata server over plain HTTP (notice/azure, notice/gcp) share: the
// proxy-free transport, base-URL checks, backoff and sleeping on an
// injected clock, the common failure reasons and the Config error type.
package metadatahttp

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"k8s.io/utils/clock"
)

// DefaultHost is the link-local metadata address of Azure and GCE.
const DefaultHost = "http://169.254.169.254"

// NewTransport returns a transport for a metadata server: no proxy (the
// server must be reached directly, also where HTTP(S)_PROXY is set, as on
// many Windows nodes), short connect timeout, kept-alive connections.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:           nil,
		DialContext:     (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:    4,
		IdleConnTimeout: 90 * time.Second,
	}
}

// ParseBaseURL parses a metadata server's base URL: http(s), with a host,
// without query or fragment.
func ParseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("want an http(s) URL such as %s, got %q", DefaultHost, raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("must not have a query or fragment, got %q", raw)
	}
	return u, nil
}

// Backoff returns base doubled the given number of times, capped at limit.
func Backoff(base, limit time.Duration, doublings int) time.Duration {
	d := base
	for i := 0; i < doublings && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// Sleep waits d on c, or until ctx ends (returning ctx.Err()).
func Sleep(ctx context.Context, c clock.Clock, d time.Duration) error {
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// Truncate shortens s to n bytes, marking the cut with "...".
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
