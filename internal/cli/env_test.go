package cli

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lifeboat-dev/lifeboat/internal/envflag"
)

func allCommands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		out = append(out, allCommands(sub)...)
	}
	return out
}

// TestEveryFlagIsSettableFromTheEnvironment walks every command's flags:
// LIFEBOAT_<FLAG> reaches each one, and a flag on the command line wins.
func TestEveryFlagIsSettableFromTheEnvironment(t *testing.T) {
	root := NewRootCommand(&Globals{})
	seen := 0
	for _, c := range allCommands(root) {
		c.InheritedFlags() // merges the root's persistent flags into c.Flags()
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Name == "help" {
				return
			}
			seen++
			env := map[string]string{envflag.Name(f.Name): envValue(f)}
			lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

			fs := pflag.NewFlagSet(c.Name(), pflag.ContinueOnError)
			fs.AddFlag(clone(f))
			if err := envflag.Apply(fs, lookup); err != nil {
				t.Errorf("%s --%s from %s=%q: %v", c.CommandPath(), f.Name, envflag.Name(f.Name), envValue(f), err)
				return
			}
			if !fs.Lookup(f.Name).Changed {
				t.Errorf("%s --%s not set from %s", c.CommandPath(), f.Name, envflag.Name(f.Name))
			}

			fs = pflag.NewFlagSet(c.Name(), pflag.ContinueOnError)
			fs.AddFlag(clone(f))
			if err := fs.Parse([]string{"--" + f.Name + "=" + envValue(f)}); err != nil {
				t.Fatalf("%s --%s: %v", c.CommandPath(), f.Name, err)
			}
			env[envflag.Name(f.Name)] = "\x00not a valid value"
			if err := envflag.Apply(fs, lookup); err != nil {
				t.Errorf("%s --%s given on the command line, yet the environment was read: %v", c.CommandPath(), f.Name, err)
			}
		})
	}
	if seen < 50 {
		t.Fatalf("only %d flags walked; the command tree is not being built", seen)
	}
}

// envValue is a valid value for a flag: its default, or a sample for list
// flags whose default renders as "[]".
func envValue(f *pflag.Flag) string {
	if strings.HasSuffix(f.Value.Type(), "Slice") || strings.HasSuffix(f.Value.Type(), "Array") {
		if f.Name == "action" {
			return "freeze=none"
		}
		if f.Value.Type() == "durationSlice" {
			return "30s,2m"
		}
		return "a=b"
	}
	return f.DefValue
}

// clone copies a flag definition as not yet given. The value is shared with
// the command (its tree is built for this test only); list values are emptied.
func clone(f *pflag.Flag) *pflag.Flag {
	c := *f
	c.Changed = false
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		_ = sv.Replace(nil)
	}
	return &c
}
