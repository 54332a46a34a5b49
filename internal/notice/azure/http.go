package azure

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/metadatahttp"
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
		return nil, &HTTPStatusError{Method: method, URL: u, StatusCode: resp.StatusCode, Body: metadatahttp.Truncate(string(b), 200)}
	}
	return b, nil
}

// normalizeBaseURL checks raw (DefaultMetadataURL if empty) and drops
// trailing slashes.
func normalizeBaseURL(raw string) (string, error) {
	if raw == "" {
		raw = DefaultMetadataURL
	}
	u, err := metadatahttp.ParseBaseURL(raw)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(u.String(), "/"), nil
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
