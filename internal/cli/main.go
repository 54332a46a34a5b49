package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/exetrim"
)

// Start-up is over well within trimDelay (start to ready takes ~50 ms);
// trimInterval lets pages used once since (a drain, a reconnect) go too.
const (
	trimDelay    = 5 * time.Second
	trimInterval = 10 * time.Minute
)

// Main runs the command line of the binary called name (lifeboat,
// lifeboat-agent) until it ends or SIGINT/SIGTERM, and returns the exit code.
func Main(name string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go exetrim.Every(ctx, trimDelay, trimInterval)
	if err := Execute(ctx, os.Args[1:], &Globals{}); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		return ExitCode(err)
	}
	return 0
}
