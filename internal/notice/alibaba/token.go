package alibaba

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// tokenRetry is how long after a refused or failed token request the source
// asks without a token before trying again.
const tokenRetry = time.Minute

// tokens caches a hardened-mode session token. A metadata service in normal
// mode also answers requests without one, so a token that cannot be had is
// reported (ReasonToken) and the request goes out without it.
type tokens struct {
	url     string
	ttl     time.Duration
	timeout time.Duration
	clock   clock.PassiveClock
	client  *http.Client

	mu      sync.Mutex
	token   string
	expires time.Time
	retry   time.Time // no new attempt before this after a failure
}

// authorize sets the token header on req, fetching a token when none is
// cached. An error means req goes without a token.
func (t *tokens) authorize(ctx context.Context, req *http.Request) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock.Now()
	if t.token != "" && now.Before(t.expires) {
		req.Header.Set(HeaderToken, t.token)
		return nil
	}
	if now.Before(t.retry) {
		return nil // failed recently; already reported
	}
	tok, err := t.fetch(ctx)
	if err != nil {
		t.token, t.retry = "", now.Add(tokenRetry)
		return err
	}
	// Renew a minute early so a request never carries an expired token.
	t.token, t.expires = tok, now.Add(t.ttl-time.Minute)
	req.Header.Set(HeaderToken, tok)
	return nil
}

// drop forgets the token after a 401/403, so the next request gets a new one.
func (t *tokens) drop() {
	t.mu.Lock()
	t.token, t.retry = "", time.Time{}
	t.mu.Unlock()
}

// fetch asks for a token: PUT /latest/api/token with the TTL header.
func (t *tokens) fetch(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, t.url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set(HeaderTokenTTL, strconv.Itoa(int(t.ttl/time.Second)))
	resp, err := t.client.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(body))
	switch {
	case resp.StatusCode != http.StatusOK:
		return "", &HTTPStatusError{Source: Name, URL: t.url, StatusCode: resp.StatusCode}
	case tok == "" || strings.ContainsAny(tok, "\r\n") || len(tok) > 512:
		return "", fmt.Errorf("alibaba metadata %s: unusable token (%d bytes)", t.url, len(body))
	}
	return tok, nil
}
