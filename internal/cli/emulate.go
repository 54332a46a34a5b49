//go:build !lifeboat_agent

package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lifeboat-dev/lifeboat/internal/emulate"
)

func init() { addCommand(newEmulateCommand) }

// emulateCommands are the `lifeboat emulate <cloud>` sub-commands; each cloud's
// file adds its own in init (emulate_aws.go, emulate_azure.go, emulate_gcp.go).
var emulateCommands []func(*Globals) *cobra.Command

// addEmulateCommand registers a `lifeboat emulate` sub-command. Call it from
// an init function.
func addEmulateCommand(f func(*Globals) *cobra.Command) {
	emulateCommands = append(emulateCommands, f)
}

// newEmulateCommand builds `lifeboat emulate`, the parent of the cloud
// metadata emulators. It has no behaviour of its own.
func newEmulateCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "emulate",
		Short: "Serve a local cloud metadata endpoint that can announce interruptions on demand",
		Long: "emulate runs a local instance-metadata server for one cloud, speaking the documented wire format,\n" +
			"so lifeboat (or any other tool) can be tried without waiting for a real interruption.\n" +
			"Events are scheduled with flags or through the JSON control endpoints under /lifeboat/\n" +
			"(see docs/EMULATORS.md).",
		Args: cobra.NoArgs,
	}
	for _, f := range emulateCommands {
		cmd.AddCommand(f(g))
	}
	return cmd
}

// emulatorOptions are the options of one `lifeboat emulate <cloud>` command.
type emulatorOptions interface {
	// AddFlags registers the options' flags.
	AddFlags(fs *pflag.FlagSet)
	// Validate checks the flags; the command calls it from PreRunE.
	Validate() error
}

// newEmulatorCommand builds an emulator sub-command: o's flags, o.Validate
// before run, no arguments.
func newEmulatorCommand(use, short, example string, o emulatorOptions, run func(*cobra.Command) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: example,
		Args:    cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error { return o.Validate() },
		RunE:    func(cmd *cobra.Command, _ []string) error { return run(cmd) },
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// addAddressFlag registers --address, where an emulator listens.
func addAddressFlag(fs *pflag.FlagSet, address *string) {
	fs.StringVar(address, "address", *address, "Address to listen on (host:port; port 0 picks a free one).")
}

// validateAddress checks the value of --address.
func validateAddress(address string) error {
	if _, _, err := net.SplitHostPort(address); err != nil {
		return fmt.Errorf("--address must be host:port: %w", err)
	}
	return nil
}

// serveEmulator listens on address, writes banner(url, host) to out (url is
// "http://" + host, host the listener's host:port) and serves h until ctx
// ends.
func serveEmulator(ctx context.Context, out io.Writer, address string, h http.Handler, banner func(url, host string) string) error {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", address)
	if err != nil {
		return fmt.Errorf("--address %s: %w", address, err)
	}
	host := l.Addr().String()
	_, _ = io.WriteString(out, banner("http://"+host, host))
	return emulate.Serve(ctx, l, h)
}

// optionalDuration parses a "when" flag: empty is nil (not scheduled),
// anything else a non-negative duration.
func optionalDuration(flag, v string) (*time.Duration, error) {
	if v == "" {
		return nil, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return nil, fmt.Errorf("--%s must be a non-negative duration such as 30s, got %q", flag, v)
	}
	return &d, nil
}
