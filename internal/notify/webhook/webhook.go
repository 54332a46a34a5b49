// Package webhook sends lifeboat's notifications to any HTTP endpoint: the
// method, headers, content type and a text/template body are configurable,
// so the same notifier feeds Microsoft Teams, a Prometheus Pushgateway,
// Slack blocks or a home-grown receiver.
package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/template"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
)

// Config configures a Notifier.
type Config struct {
	// URL is the endpoint, a secret (it often embeds a token).
	URL string
	// Method is the HTTP method; empty means POST.
	Method string
	// Header is added to every request.
	Header http.Header
	// ContentType of the body; empty means application/json.
	ContentType string
	// Template renders the body from a notifier.Message; nil means
	// DefaultTemplate.
	Template *template.Template
	// HTTP is the client (timeout, proxy, TLS); nil means a default client.
	HTTP *http.Client
	// Redact lists more secrets to keep out of errors, such as a proxy URL
	// with credentials.
	Redact []string
}

// Notifier sends one request per step.
type Notifier struct {
	c      Config
	redact *notifier.Redactor
}

var _ notifier.Notifier = (*Notifier)(nil)

// New returns a webhook notifier. Header values are treated as secrets in
// error text, like the URL.
func New(c Config) *Notifier {
	if c.Method == "" {
		c.Method = http.MethodPost
	}
	if c.ContentType == "" {
		c.ContentType = "application/json"
	}
	if c.Template == nil {
		c.Template = template.Must(template.New("default").Funcs(Funcs).Parse(DefaultTemplate))
	}
	if c.HTTP == nil {
		c.HTTP = notifier.NewHTTPClient(notifier.HTTPConfig{Timeout: 10 * time.Second})
	}
	r := notifier.NewRedactor()
	r.AddURL(c.URL)
	for _, s := range c.Redact {
		r.AddURL(s)
	}
	for _, vs := range c.Header {
		for _, v := range vs {
			r.Add(v)
		}
	}
	return &Notifier{c: c, redact: r}
}

// Name is "webhook".
func (n *Notifier) Name() string { return "webhook" }

// Notify renders the body and sends it. A body of only white space is not
// sent (notifier.ErrSkipped): templates can filter steps with {{ if }}.
// 2xx is success; 408, 429 and 5xx are retryable; other statuses are not.
func (n *Notifier) Notify(ctx context.Context, m notifier.Message) error {
	body, err := render(n.c.Template, m)
	if err != nil {
		return n.redact.Err(n.Name(), notifier.Permanent("%v", err))
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return notifier.ErrSkipped
	}
	req, err := http.NewRequestWithContext(ctx, n.c.Method, n.c.URL, bytes.NewReader(body))
	if err != nil {
		return n.redact.Err(n.Name(), notifier.Permanent("building request: %v", err))
	}
	for k, vs := range n.c.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", n.c.ContentType)
	resp, err := n.c.HTTP.Do(req)
	if err != nil {
		return n.redact.Err(n.Name(), err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return n.redact.Err(n.Name(), notifier.StatusError(resp))
}

// ParseHeaders parses "Name: value" strings into a header. Errors name the
// entry by position only: its value may be a credential.
func ParseHeaders(lines []string) (http.Header, error) {
	h := http.Header{}
	for i, l := range lines {
		k, v, ok := strings.Cut(l, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("header #%d must look like \"Name: value\"", i+1)
		}
		h.Add(k, v)
	}
	return h, nil
}
