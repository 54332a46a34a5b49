//go:build linux

package deploytest

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/lifeboat-dev/lifeboat/internal/cli"
	"github.com/lifeboat-dev/lifeboat/internal/envflag"
)

// newRoot builds lifeboat's real command tree, reading env from the map.
func newRoot(env map[string]string) *cobra.Command {
	return cli.NewRootCommand(&cli.Globals{
		Stdout: io.Discard, Stderr: io.Discard,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
}

// podSpecOf returns the pod template of a DaemonSet or Deployment.
func podSpecOf(t testing.TB, o *unstructured.Unstructured) corev1.PodSpec {
	t.Helper()
	switch o.GetKind() {
	case "DaemonSet":
		return typed[appsv1.DaemonSet](t, o).Spec.Template.Spec
	case "Deployment":
		return typed[appsv1.Deployment](t, o).Spec.Template.Spec
	}
	t.Fatalf("%s has no pod template", o.GetKind())
	return corev1.PodSpec{}
}

// validateContainer parses a rendered container's arguments and LIFEBOAT_*
// environment with the real lifeboat command and runs its validation, as
// the binary would at start-up: an unknown flag, a bad value or a flag
// combination lifeboat refuses fails the test. Every LIFEBOAT_ variable must
// name a flag of that command (envflag ignores unknown ones silently).
func validateContainer(t testing.TB, c corev1.Container) {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	root := newRoot(env)
	cmd, rest, err := root.Find(c.Args)
	if err != nil || cmd == root {
		t.Fatalf("container %s: args %q name no lifeboat command: %v", c.Name, c.Args, err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatalf("container %s: lifeboat %s rejects its arguments: %v\nargs: %q", c.Name, cmd.Name(), err, c.Args)
	}
	if extra := cmd.Flags().Args(); len(extra) > 0 {
		t.Fatalf("container %s: stray positional arguments %q", c.Name, extra)
	}
	if err := root.PersistentPreRunE(cmd, nil); err != nil {
		t.Fatalf("container %s: lifeboat %s rejects its environment: %v", c.Name, cmd.Name(), err)
	}
	if cmd.PreRunE != nil {
		if err := cmd.PreRunE(cmd, nil); err != nil {
			t.Fatalf("container %s: lifeboat %s refuses its configuration: %v\nargs: %q", c.Name, cmd.Name(), err, c.Args)
		}
	}
	known := map[string]bool{}
	cmd.Flags().VisitAll(func(f *pflag.Flag) { known[envflag.Name(f.Name)] = true })
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, envflag.Prefix) && !known[e.Name] {
			t.Errorf("container %s: environment %s names no flag of lifeboat %s", c.Name, e.Name, cmd.Name())
		}
	}
}
