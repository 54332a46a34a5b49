// Command lifeboat drains Kubernetes nodes gracefully before they disappear.
package main

import (
	"os"

	"github.com/lifeboat-dev/lifeboat/internal/cli"
)

func main() { os.Exit(cli.Main("lifeboat")) }
