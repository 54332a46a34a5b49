// Command lifeboat drains Kubernetes nodes gracefully before they disappear.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/lifeboat-dev/lifeboat/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Execute(ctx, os.Args[1:], &cli.Globals{})
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "lifeboat:", err)
		os.Exit(cli.ExitCode(err))
	}
}
