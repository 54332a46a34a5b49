package notifier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestRedactorRemovesSecretsFromURLErrors(t *testing.T) {
	const hook = "https://hooks.example.com/services/T000/B000/XXXXSECRETXXXX?token=qs-secret-1"
	r := NewRedactor("xoxb-not-in-url")
	r.AddURL(hook)
	cases := []struct {
		name string
		err  error
	}{
		{"url.Error", &url.Error{Op: "Post", URL: hook, Err: errors.New("dial tcp: connection refused")}},
		{"wrapped url.Error", fmt.Errorf("failed to post webhook: %w", &url.Error{Op: "Post", URL: hook, Err: io.EOF})},
		{"plain text with the path", errors.New("404 for /services/T000/B000/XXXXSECRETXXXX")},
		{"token", errors.New("invalid_auth for xoxb-not-in-url")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := r.Err("slack-webhook", tc.err).Error()
			for _, secret := range []string{"XXXXSECRETXXXX", "qs-secret-1", "xoxb-not-in-url"} {
				if strings.Contains(got, secret) {
					t.Errorf("error %q contains secret %q", got, secret)
				}
			}
			if !strings.HasPrefix(got, "slack-webhook: ") || !strings.Contains(got, Redacted) {
				t.Errorf("error %q: want the notifier name and %s", got, Redacted)
			}
		})
	}
	if got := r.Err("x", &url.Error{Op: "Post", URL: hook, Err: io.EOF}).Error(); !strings.Contains(got, "https://hooks.example.com/REDACTED") {
		t.Errorf("url.Error text %q should keep scheme and host for debugging", got)
	}
}

func TestRedactorKeepsFacts(t *testing.T) {
	r := NewRedactor("secret-token")
	err := r.Err("telegram", fmt.Errorf("attempt: %w", &DeliveryError{StatusCode: 429, RetryAfter: 7 * time.Second, Detail: "too many secret-token"}))
	var de *DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("Err returned %T, want *DeliveryError", err)
	}
	if de.StatusCode != 429 || de.RetryAfter != 7*time.Second || de.Permanent {
		t.Errorf("DeliveryError = %+v, want status 429, retry after 7s, not permanent", de)
	}
	if strings.Contains(de.Error(), "secret-token") {
		t.Errorf("Detail %q leaks the token", de.Detail)
	}
	timeout := r.Err("telegram", &url.Error{Op: "Post", URL: "https://x/secret-token", Err: context.DeadlineExceeded})
	if !errors.Is(timeout, context.DeadlineExceeded) {
		t.Errorf("errors.Is(%v, DeadlineExceeded) = false, want true", timeout)
	}
	if errors.Unwrap(r.Err("x", errors.New("boom"))) != nil {
		t.Error("a redacted error must not unwrap to the original error")
	}
}

func TestStatusError(t *testing.T) {
	now := time.Now()
	cases := []struct {
		code       int
		retryAfter string
		permanent  bool
		wait       time.Duration
	}{
		{code: 400, permanent: true},
		{code: 401, permanent: true},
		{code: 404, permanent: true},
		{code: 408},
		{code: 429, retryAfter: "12", wait: 12 * time.Second},
		{code: 500},
		{code: 503, retryAfter: now.Add(time.Hour).UTC().Format(http.TimeFormat), wait: time.Hour},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			resp := &http.Response{
				StatusCode: tc.code, Status: fmt.Sprintf("%d %s", tc.code, http.StatusText(tc.code)),
				Header: http.Header{}, Body: io.NopCloser(strings.NewReader(" nope \n")),
			}
			if tc.retryAfter != "" {
				resp.Header.Set("Retry-After", tc.retryAfter)
			}
			e := StatusError(resp)
			if e.Permanent != tc.permanent || e.StatusCode != tc.code {
				t.Errorf("StatusError = %+v, want permanent=%v", e, tc.permanent)
			}
			if d := e.RetryAfter - tc.wait; d < -2*time.Second || d > 2*time.Second {
				t.Errorf("RetryAfter = %v, want about %v", e.RetryAfter, tc.wait)
			}
			if !strings.HasSuffix(e.Detail, ": nope") {
				t.Errorf("Detail = %q, want the trimmed body quoted", e.Detail)
			}
		})
	}
}

func TestMessageSummary(t *testing.T) {
	m := Message{Cluster: "prod", Node: "n1", Text: "cordoned"}
	if got := m.Summary(); got != "[prod] n1: cordoned" {
		t.Errorf("Summary() = %q", got)
	}
	m.Cluster = ""
	if got := m.Summary(); got != "n1: cordoned" {
		t.Errorf("Summary() without cluster = %q", got)
	}
}
