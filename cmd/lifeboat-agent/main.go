// Command lifeboat-agent is lifeboat built for nodes: the same command line
// (`lifeboat-agent agent` is `lifeboat agent`), without the cluster-wide
// queue and Lambda modes and their AWS SDK clients, so that the process that
// runs on every node maps and touches less. Build it with the lifeboat_agent
// tag (Makefile: build-agent; .ko.yaml; Dockerfile.agent); without the tag it
// links every command, like cmd/lifeboat.
package main

import (
	"os"

	"github.com/lifeboat-dev/lifeboat/internal/cli"
)

func main() { os.Exit(cli.Main("lifeboat-agent")) }
