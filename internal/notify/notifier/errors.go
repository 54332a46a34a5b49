package notifier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Redacted replaces secrets in error text.
const Redacted = "REDACTED"

// DeliveryError is a failed delivery attempt. Its text never contains a
// secret: notifiers build it with a Redactor.
type DeliveryError struct {
	// Notifier is the name of the notifier that failed.
	Notifier string
	// StatusCode is the HTTP status, 0 when no response arrived.
	StatusCode int
	// Permanent is set when retrying cannot help: the endpoint refused
	// the message (4xx other than 408/429, or an API error).
	Permanent bool
	// RetryAfter is how long the endpoint asked to wait; 0 if it did not.
	RetryAfter time.Duration
	// Detail is the redacted description.
	Detail string
	// cause is only context.Canceled or context.DeadlineExceeded, so that
	// errors.Is works without exposing an unredacted error.
	cause error
}

// Error returns "notifier: detail".
func (e *DeliveryError) Error() string { return e.Notifier + ": " + e.Detail }

// Unwrap returns the context error that ended the attempt, if any.
func (e *DeliveryError) Unwrap() error { return e.cause }

// Redactor scrubs secrets (tokens, webhook URLs) from error text.
type Redactor struct {
	secrets []string
}

// minSecretLen avoids "redacting" trivial strings like "/" from every message.
const minSecretLen = 4

// NewRedactor returns a redactor for the given secrets.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	for _, s := range secrets {
		r.Add(s)
	}
	return r
}

// Add registers a secret string.
func (r *Redactor) Add(s string) {
	if len(s) >= minSecretLen && !slices.Contains(r.secrets, s) {
		r.secrets = append(r.secrets, s)
		// Longest first, so a URL is replaced before its path.
		slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
	}
}

// AddURL registers a secret URL in every spelling an error may use: as
// given, as re-encoded by net/url, its path, its query and its password.
func (r *Redactor) AddURL(raw string) {
	r.Add(raw)
	u, err := url.Parse(raw)
	if err != nil {
		return
	}
	r.Add(u.String())
	r.Add(u.Redacted())
	if len(u.Path) > 1 {
		r.Add(u.Path)
		r.Add(u.EscapedPath())
	}
	r.Add(u.RawQuery)
	if p, ok := u.User.Password(); ok {
		r.Add(p)
	}
	if n := u.User.Username(); n != "" {
		r.Add(n)
	}
}

// String returns s with every secret replaced by REDACTED.
func (r *Redactor) String(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, Redacted)
	}
	return s
}

// Err turns err into a *DeliveryError of notifier whose text has every URL
// of a *url.Error reduced to scheme://host/REDACTED and every registered
// secret replaced. A *DeliveryError keeps its status and retry facts.
func (r *Redactor) Err(notifier string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var ue *url.Error
	for e := err; errors.As(e, &ue); e = ue.Err {
		if ue.URL != "" {
			msg = strings.ReplaceAll(msg, ue.URL, redactURL(ue.URL))
		}
	}
	out := &DeliveryError{Notifier: notifier, Detail: r.String(msg)}
	var de *DeliveryError
	if errors.As(err, &de) {
		out.StatusCode, out.Permanent, out.RetryAfter = de.StatusCode, de.Permanent, de.RetryAfter
		out.Detail = r.String(de.Detail)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		out.cause = context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		out.cause = context.Canceled
	}
	return out
}

// redactURL keeps only the scheme and host of a URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return Redacted
	}
	return u.Scheme + "://" + u.Host + "/" + Redacted
}

// maxErrorBody bounds how much of an error response is quoted.
const maxErrorBody = 256

// StatusError describes an unsuccessful HTTP response: 408, 429 and 5xx are
// retryable (honouring Retry-After), any other status is permanent. It
// quotes the start of the body; pass the result through a Redactor.
func StatusError(resp *http.Response) *DeliveryError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	detail := "HTTP " + resp.Status
	if b := strings.TrimSpace(string(body)); b != "" {
		detail += ": " + b
	}
	return &DeliveryError{
		StatusCode: resp.StatusCode,
		Permanent:  !RetryableStatus(resp.StatusCode),
		RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		Detail:     detail,
	}
}

// RetryableStatus reports whether an HTTP status may succeed when retried.
func RetryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// ParseRetryAfter reads a Retry-After header (seconds or an HTTP date).
func ParseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Permanent wraps a non-HTTP refusal (an API answering ok:false) so it is
// not retried.
func Permanent(format string, args ...any) *DeliveryError {
	return &DeliveryError{Permanent: true, Detail: fmt.Sprintf(format, args...)}
}
