// Package logging builds lifeboat's one structured logger (log/slog) and
// names the stable keys every package logs with.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/pflag"
)

// The stable log keys: every package names these facts with these keys,
// so one query finds a node's, a notice's or a pod's whole story. Other
// keys describe details local to one log line.
const (
	// KeyNode is the Kubernetes node name.
	KeyNode = "node"
	// KeyPod is a pod as "namespace/name".
	KeyPod = "pod"
	// KeyPDB is a PodDisruptionBudget as "namespace/name".
	KeyPDB = "pdb"
	// KeyNotice is a notice ID (notice.Notice.ID, drain.Options.NoticeID).
	KeyNotice = "notice"
	// KeyKind is a notice kind ("spot-interruption").
	KeyKind = "kind"
	// KeySource is the notice source ("aws", "sqs", "lambda").
	KeySource = "source"
	// KeyStep is a lifecycle step (a drain.StepType: "Cordoned", "Drained").
	KeyStep = "step"
	// KeyError is an error. "err" is not used.
	KeyError = "error"
)

// KeyEvent was the key of a drain step, a notice ID, a notice kind and a
// metadata path alike. Use KeyNotice for a notice ID, KeyStep for a step,
// KeyKind for a kind; KeyEvent goes once internal/queue and internal/lambda
// stop using it (.golangci.yml forbids the literal "event").
const KeyEvent = "event"

// Keys lists the stable keys.
var Keys = []string{KeyNode, KeyPod, KeyPDB, KeyNotice, KeyKind, KeySource, KeyStep, KeyError}

// Options select the log format and level.
type Options struct {
	// Format is "text" or "json".
	Format string
	// Level is "debug", "info", "warn" or "error".
	Level string
}

// DefaultOptions logs text at info level.
func DefaultOptions() Options { return Options{Format: "text", Level: "info"} }

// AddFlags registers --log-format and --log-level.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Format, "log-format", o.Format, "Log format: text or json.")
	fs.StringVar(&o.Level, "log-level", o.Level, "Log level: debug, info, warn or error.")
}

// Validate checks the options.
func (o *Options) Validate() error {
	if o.Format != "text" && o.Format != "json" {
		return fmt.Errorf("--log-format must be text or json, got %q", o.Format)
	}
	if _, err := parseLevel(o.Level); err != nil {
		return err
	}
	return nil
}

// New returns a logger writing to w.
func (o *Options) New(w io.Writer) *slog.Logger {
	lvl, _ := parseLevel(o.Level)
	ho := &slog.HandlerOptions{Level: lvl}
	if o.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("--log-level must be debug, info, warn or error, got %q", s)
	}
	return l, nil
}

// Discard is a logger that drops everything, for tests.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
