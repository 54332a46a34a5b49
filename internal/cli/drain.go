package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/kube"
)

func init() {
	addCommand(newDrainCommand)
	addCommand(newUncordonCommand)
}

// Exit codes of `lifeboat drain`.
const (
	// ExitIncomplete: the drain ended with pods still on the node.
	ExitIncomplete = 2
	// ExitConsent: pods need --force or --delete-emptydir-data; nothing was evicted.
	ExitConsent = 3
)

// DrainOptions are the flags of `lifeboat drain`.
type DrainOptions struct {
	// Kube selects the cluster.
	Kube kube.Options
	// Drain tunes the engine.
	Drain DrainFlags
	// Timeout bounds the drain (0: none); combined with Deadline, the earlier wins.
	Timeout time.Duration
	// Deadline is an RFC 3339 time by which the node must be empty.
	Deadline string
	// DeleteNode deletes the Node object once it is empty.
	DeleteNode bool
	// DryRun prints what would happen and writes nothing.
	DryRun bool
	// IgnoreMissing makes a node that does not exist a success.
	IgnoreMissing bool
	// Reason is recorded on the node with the cordon.
	Reason string
	// Progress is auto, always or never: the live terminal view.
	Progress string

	deadline time.Time
}

// NewDrainOptions returns the defaults.
func NewDrainOptions() *DrainOptions {
	return &DrainOptions{Kube: kube.DefaultOptions(), Drain: DefaultDrainFlags(), Reason: "lifeboat drain", Progress: "auto"}
}

// AddFlags registers the flags.
func (o *DrainOptions) AddFlags(fs *pflag.FlagSet) {
	o.Kube.AddFlags(fs)
	o.Drain.AddFlags(fs)
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "Give up after this long (0: no limit). Treated as a deadline: PDB-blocked pods fall back per --on-deadline.")
	fs.StringVar(&o.Deadline, "deadline", o.Deadline, "RFC 3339 time by which the node must be empty (e.g. a spot interruption time).")
	fs.BoolVar(&o.DeleteNode, "delete-node", o.DeleteNode, "Delete the Node object once it is empty.")
	fs.BoolVar(&o.DryRun, "dry-run", o.DryRun, "Print exactly what would happen and write nothing.")
	fs.BoolVar(&o.IgnoreMissing, "ignore-missing", o.IgnoreMissing, "Succeed when the node does not exist.")
	fs.StringVar(&o.Reason, "reason", o.Reason, "Why the node is drained; recorded on the node with the cordon.")
	fs.StringVar(&o.Progress, "progress", o.Progress, "Live progress view: auto (on a terminal), always or never.")
}

// Validate checks the flags.
func (o *DrainOptions) Validate(now time.Time) error {
	if err := o.Kube.Validate(); err != nil {
		return err
	}
	if err := o.Drain.Validate(); err != nil {
		return err
	}
	if o.Timeout < 0 {
		return fmt.Errorf("--timeout must not be negative, got %s", o.Timeout)
	}
	o.deadline = time.Time{}
	if o.Deadline != "" {
		t, err := time.Parse(time.RFC3339, o.Deadline)
		if err != nil {
			return fmt.Errorf("--deadline must be an RFC 3339 time like 2026-01-02T15:04:05Z: %w", err)
		}
		o.deadline = t
	}
	if o.Timeout > 0 {
		if t := now.Add(o.Timeout); o.deadline.IsZero() || t.Before(o.deadline) {
			o.deadline = t
		}
	}
	switch o.Progress {
	case "auto", "always", "never":
	default:
		return fmt.Errorf("--progress must be auto, always or never, got %q", o.Progress)
	}
	return nil
}

// EngineOptions returns the drain options for one run.
func (o *DrainOptions) EngineOptions() drain.Options {
	eo := o.Drain.Options()
	eo.Deadline, eo.DeleteNode, eo.DryRun, eo.IgnoreMissing = o.deadline, o.DeleteNode, o.DryRun, o.IgnoreMissing
	eo.Reason, eo.NoticeKind = o.Reason, "manual"
	return eo
}

func newDrainCommand(g *Globals) *cobra.Command {
	o := NewDrainOptions()
	cmd := &cobra.Command{
		Use:   "drain NODE",
		Short: "Cordon a node and evict its pods, respecting PodDisruptionBudgets and a deadline",
		Example: `  lifeboat drain node-1 --timeout 2m
  lifeboat drain node-1 --deadline 2026-01-02T15:04:05Z --delete-node
  lifeboat drain node-1 --dry-run --force --delete-emptydir-data`,
		Args:    cobra.ExactArgs(1),
		PreRunE: func(*cobra.Command, []string) error { return o.Validate(time.Now()) },
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDrain(cmd.Context(), g, o, args[0])
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runDrain(ctx context.Context, g *Globals, o *DrainOptions, node string) error {
	client, _, err := o.Kube.Client()
	if err != nil {
		return err
	}
	return drainReporting(ctx, g, client, o, node, clock.RealClock{})
}

// drainReporting runs the drain with what the user sees: the live view on a
// terminal, what it still waits on every waitReportEvery (PDBs, finalizers),
// what it was waiting on when interrupted, and the summary.
func drainReporting(ctx context.Context, g *Globals, client kube.Interface, o *DrainOptions, node string, clk clock.WithTicker) error {
	waits := newDrainWaits()
	rep := &waitReporter{waits: waits, client: client, node: node, clock: clk, every: waitReportEvery, log: g.Log}
	cfg := drain.Config{Log: g.Log, Observer: waits}
	if o.Progress == "always" || (o.Progress == "auto" && isTerminal(g.Stderr)) {
		rep.view = newProgressView(g.Stderr, node)
		defer rep.view.stop()
		cfg.Observer = drain.Observers{rep.view, waits}
		cfg.Log = nil // the view replaces the log lines on a terminal
	}
	rctx, stopReports := context.WithCancel(ctx)
	reported := make(chan struct{})
	go func() { defer close(reported); rep.run(rctx) }()
	eo := o.EngineOptions()
	host, _ := os.Hostname()
	b, err := o.Drain.Budget(client, "drain/"+host, getenv(g, "POD_NAMESPACE"), g.Log)
	if err != nil {
		stopReports()
		<-reported
		return err
	}
	eo.Budget, eo.Voluntary = b, true
	res, err := drain.New(client, cfg).Drain(ctx, node, eo)
	stopReports()
	<-reported
	if rep.view != nil {
		rep.view.stop()
	}
	printSummary(g.Stdout, res, err)
	if ctx.Err() != nil {
		// Interrupted (Ctrl-C): say what it was waiting on.
		w, _, _ := waits.snapshot(context.WithoutCancel(ctx), client, node)
		printWaits(g.Stdout, w)
	}
	return drainExit(err)
}

func drainExit(err error) error {
	var ie *drain.IncompleteError
	var ce *drain.ConsentError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie):
		return &ExitError{Code: ExitIncomplete, Err: err}
	case errors.As(err, &ce):
		return &ExitError{Code: ExitConsent, Err: err}
	default:
		return err
	}
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// UncordonOptions are the flags of `lifeboat uncordon`.
type UncordonOptions struct {
	// Kube selects the cluster.
	Kube kube.Options
}

func newUncordonCommand(g *Globals) *cobra.Command {
	o := &UncordonOptions{Kube: kube.DefaultOptions()}
	cmd := &cobra.Command{
		Use:   "uncordon NODE",
		Short: "Undo lifeboat's own cordon, taint and label; a node an admin cordoned stays cordoned",
		Args:  cobra.ExactArgs(1),
		PreRunE: func(*cobra.Command, []string) error {
			return o.Kube.Validate()
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			client, _, err := o.Kube.Client()
			if err != nil {
				return err
			}
			changed, err := drain.New(client, drain.Config{Log: g.Log}).Uncordon(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if changed {
				fmt.Fprintf(g.Stdout, "node %s: lifeboat's cordon removed\n", args[0])
			} else {
				fmt.Fprintf(g.Stdout, "node %s: not cordoned by lifeboat; nothing to undo\n", args[0])
			}
			return nil
		},
	}
	o.Kube.AddFlags(cmd.Flags())
	return cmd
}

// getenv reads the environment through the test seam.
func getenv(g *Globals, k string) string {
	lookup := g.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, _ := lookup(k)
	return v
}
