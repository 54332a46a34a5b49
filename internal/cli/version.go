package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dev/lifeboat/internal/version"
)

func init() { addCommand(newVersionCommand) }

func newVersionCommand(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print lifeboat's version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(g.Stdout, "lifeboat %s (%s)\n", version.Version, version.GoVersion())
			return err
		},
	}
}
