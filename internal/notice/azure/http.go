package azure

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// getJSON GETs u with the IMDS header and decodes a 200 JSON answer into v.
func (s *Source) getJSON(ctx context.Context, u string, v any) error {
	body, err := s.do(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &MalformedError{URL: u, Err: err}
	}
	return nil
}

// do sends one IMDS request bounded by the request timeout and returns the
// body of a 2xx answer.
func (s *Source) do(ctx context.Context, method, u string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := newRequest(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &HTTPStatusError{Method: method, URL: u, StatusCode: resp.StatusCode, Body: truncate(string(b), 200)}
	}
	return b, nil
}

func normalizeBaseURL(raw string) (string, error) {
	if raw == "" {
		raw = DefaultMetadataURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("want an http(s) URL such as %s, got %q", DefaultMetadataURL, raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("must not have a query or fragment, got %q", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// newHTTPClient returns a client for IMDS: no proxy (IMDS must be reached
// directly, also where HTTP(S)_PROXY is set, as on many Windows nodes),
// short connect timeout, kept-alive connections.
func newHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:           nil,
		DialContext:     (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:    4,
		IdleConnTimeout: 90 * time.Second,
	}}
}

// newRequest builds an IMDS request with the Metadata: true header and, if
// body is not nil, a JSON body.
func newRequest(ctx context.Context, method, url string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Metadata", "true")
	return req, nil
}
