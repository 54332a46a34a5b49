// Package cli holds lifeboat's cobra commands. Each command has one options
// struct with AddFlags and Validate; every flag can also be set from the
// environment as LIFEBOAT_<FLAG>, and the command line wins.
package cli

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dev/lifeboat/internal/envflag"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

// Globals is what every command shares: output streams, the logger built
// from the global flags, and how the environment is read.
type Globals struct {
	// Stdout and Stderr are the command's output streams.
	Stdout, Stderr io.Writer
	// LookupEnv reads the environment (os.LookupEnv unless a test replaces it).
	LookupEnv func(string) (string, bool)
	// Logging holds --log-format and --log-level.
	Logging logging.Options
	// Log is built from Logging before a command runs.
	Log *slog.Logger
}

// commandFactories are the sub-commands; each file adds its own in init so
// commands can be developed independently.
var commandFactories []func(*Globals) *cobra.Command

func addCommand(f func(*Globals) *cobra.Command) { commandFactories = append(commandFactories, f) }

// NewRootCommand builds the lifeboat command tree.
func NewRootCommand(g *Globals) *cobra.Command {
	if g.LookupEnv == nil {
		g.LookupEnv = os.LookupEnv
	}
	if g.Stdout == nil {
		g.Stdout = os.Stdout
	}
	if g.Stderr == nil {
		g.Stderr = os.Stderr
	}
	g.Logging = logging.DefaultOptions()
	root := &cobra.Command{
		Use:   "lifeboat",
		Short: "Drain Kubernetes nodes gracefully before they disappear",
		Long: "lifeboat notices that a node is going away (spot interruption, scale-in, maintenance, host shutdown)\n" +
			"and empties it before the deadline, respecting PodDisruptionBudgets, then tells people what happened.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := envflag.Apply(cmd.Flags(), g.LookupEnv); err != nil {
				return err
			}
			if err := g.Logging.Validate(); err != nil {
				return err
			}
			g.Log = g.Logging.New(g.Stderr)
			return nil
		},
	}
	root.SetOut(g.Stdout)
	root.SetErr(g.Stderr)
	g.Logging.AddFlags(root.PersistentFlags())
	for _, f := range commandFactories {
		root.AddCommand(f(g))
	}
	return root
}

// Execute runs lifeboat with args (without the program name).
func Execute(ctx context.Context, args []string, g *Globals) error {
	root := NewRootCommand(g)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}
