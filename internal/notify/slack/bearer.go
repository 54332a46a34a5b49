package slack

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// bearer sends the bot token as "Authorization: Bearer" and removes the
// "token" field slack-go puts into form bodies, so the token never travels
// in a request body (where proxies and debug logs may keep it).
type bearer struct {
	token string
	next  http.RoundTripper
}

func transportOf(c *http.Client) http.RoundTripper {
	if c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}

// RoundTrip implements http.RoundTripper.
func (b *bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	if err := stripFormToken(r); err != nil {
		return nil, err
	}
	return b.next.RoundTrip(r)
}

// stripFormToken removes the token field from a form-encoded body.
func stripFormToken(r *http.Request) error {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Body == nil || ct != "application/x-www-form-urlencoded" {
		return nil
	}
	raw, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return err
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return err
	}
	form.Del("token")
	body := []byte(form.Encode())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	return nil
}
