// Command lifeboat-agent is lifeboat built for nodes: the same command line
// (`lifeboat-agent agent` is `lifeboat agent`), without the cluster-wide
// queue and Lambda modes and their AWS SDK clients, so that the process that
// runs on every node maps and touches less. Build it with the lifeboat_agent
// tag (Makefile: build-agent; .ko.yaml; Dockerfile.agent); without the tag it
// links every command, like cmd/lifeboat.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/cli"
	"github.com/lifeboat-dev/lifeboat/internal/exetrim"
)

// Start-up is over well within trimDelay (start to ready takes ~50 ms);
// trimInterval lets pages used once since (a drain, a reconnect) go too.
const (
	trimDelay    = 5 * time.Second
	trimInterval = 10 * time.Minute
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go exetrim.Every(ctx, trimDelay, trimInterval)
	err := cli.Execute(ctx, os.Args[1:], &cli.Globals{})
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "lifeboat-agent:", err)
		os.Exit(cli.ExitCode(err))
	}
}
