package cli

import (
	"github.com/spf13/cobra"
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
