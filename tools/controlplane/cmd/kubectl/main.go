// Command kubectl is the upstream kubectl, built from the same module set as
// the control plane so benchmarks compare lifeboat with a matching drain.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
)

func main() {
	os.Exit(cli.Run(cmd.NewDefaultKubectlCommand()))
}
