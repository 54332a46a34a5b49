package notifier

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"time"
)

// HTTPConfig configures the HTTP client of a notifier.
type HTTPConfig struct {
	// Timeout bounds one request, response body included.
	Timeout time.Duration
	// InsecureSkipVerify disables TLS certificate verification.
	InsecureSkipVerify bool
	// Proxy, when set, is used for every request; when nil the proxy comes
	// from HTTPS_PROXY, HTTP_PROXY and NO_PROXY.
	Proxy *url.URL
}

// NewHTTPClient returns a client with its own transport configured from c.
func NewHTTPClient(c HTTPConfig) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = http.ProxyFromEnvironment
	if c.Proxy != nil {
		t.Proxy = http.ProxyURL(c.Proxy)
	}
	t.TLSClientConfig = &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // only with --notify-insecure-skip-tls-verify
	}
	return &http.Client{Transport: t, Timeout: c.Timeout}
}
