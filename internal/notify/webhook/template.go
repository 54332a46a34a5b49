package webhook

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
)

// DefaultTemplate renders the whole message as JSON.
const DefaultTemplate = "{{ json . }}\n"

// Funcs are the functions available in webhook templates besides the
// text/template built-ins.
var Funcs = template.FuncMap{
	// json encodes any value as JSON: {{ json .Node }} gives "ip-10-0-0-1"
	// with quotes and escaping, safe inside a JSON body.
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	// rfc3339 formats a time in UTC, "" for the zero time.
	"rfc3339": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	// unix is a time in Unix seconds, 0 for the zero time.
	"unix": func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.Unix()
	},
	// seconds is a duration in seconds.
	"seconds": func(d time.Duration) float64 { return d.Seconds() },
	// default returns def when v is empty: {{ default "n/a" .Zone }}.
	"default": func(def string, v string) string {
		if v == "" {
			return def
		}
		return v
	},
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
}

// ParseTemplate parses a webhook body template (text/template, not
// html/template: the body is JSON, YAML or text, never HTML) and checks it
// by rendering a sample message, so a typo fails at start-up.
func ParseTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Funcs(Funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	if _, err := render(t, SampleMessage()); err != nil {
		return nil, err
	}
	return t, nil
}

// SampleMessage is a filled-in message used to check templates.
func SampleMessage() notifier.Message {
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return notifier.Message{
		Lifecycle: "ip-10-0-1-23/spot/2026-01-02T03:04:05Z", Step: string(drain.StepDrained), Time: t,
		Cluster: "prod", Node: "ip-10-0-1-23", Trigger: "aws", Kind: "spot-interruption",
		NoticeID: "spot/2026-01-02T03:04:05Z", Reason: "spot interruption: terminate",
		Deadline: t.Add(2 * time.Minute), InstanceID: "i-0123456789abcdef0", InstanceType: "m7g.large",
		Region: "eu-west-1", Zone: "eu-west-1a", PodsTotal: 12, PodsEvicted: 11, PodsDeleted: 1,
		Result: "succeeded", Duration: 47 * time.Second, Text: "drained in 47s: 11 evicted, 1 deleted",
	}
}

// render executes t for m.
func render(t *template.Template, m notifier.Message) ([]byte, error) {
	var b strings.Builder
	if err := t.Execute(&b, m); err != nil {
		return nil, fmt.Errorf("rendering template: %w", err)
	}
	return []byte(b.String()), nil
}
