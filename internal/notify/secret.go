package notify

import (
	"log/slog"
	"strings"

	"github.com/spf13/pflag"
)

// Secret is a credential (token, webhook URL). It prints and logs as
// REDACTED, so an options struct can be logged or formatted with %v
// without leaking it; Reveal returns the value.
type Secret string

// String returns "REDACTED" for a non-empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "REDACTED"
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps encoders (encoding/json, slog's JSON handler) from
// printing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

// secretFlag is the pflag.Value of a Secret; its String never reveals it.
type secretFlag struct{ p *Secret }

var _ pflag.Value = secretFlag{}

func (f secretFlag) Set(v string) error { *f.p = Secret(v); return nil }
func (f secretFlag) String() string {
	if f.p == nil {
		return ""
	}
	return f.p.String()
}
func (f secretFlag) Type() string { return "string" }

// Headers are "Name: value" lines whose values are secrets (they often carry
// credentials): they print and log as "Name: REDACTED".
type Headers []string

// String shows the header names only.
func (h Headers) String() string {
	names := make([]string, len(h))
	for i, l := range h {
		name, _, _ := strings.Cut(l, ":")
		names[i] = strings.TrimSpace(name) + ": REDACTED"
	}
	return "[" + strings.Join(names, ", ") + "]"
}

// GoString keeps %#v from printing the values.
func (h Headers) GoString() string { return h.String() }

// LogValue keeps slog from printing the values.
func (h Headers) LogValue() slog.Value { return slog.StringValue(h.String()) }

// MarshalText keeps encoders from printing the values.
func (h Headers) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// headersFlag is a repeatable flag (and pflag.SliceValue, so the
// environment can set the whole list) that never prints the values.
type headersFlag struct{ p *Headers }

var _ pflag.SliceValue = headersFlag{}

func (f headersFlag) Set(v string) error        { *f.p = append(*f.p, v); return nil }
func (f headersFlag) Append(v string) error     { return f.Set(v) }
func (f headersFlag) Replace(vs []string) error { *f.p = append(Headers(nil), vs...); return nil }
func (f headersFlag) GetSlice() []string        { return append([]string(nil), *f.p...) }
func (f headersFlag) Type() string              { return "stringArray" }
func (f headersFlag) String() string {
	if f.p == nil || len(*f.p) == 0 {
		return "[]"
	}
	return f.p.String()
}
