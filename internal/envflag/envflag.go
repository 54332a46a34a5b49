// Package envflag lets every command-line flag also be set from the
// environment as LIFEBOAT_<FLAG> (upper case, dashes as underscores). A flag
// given on the command line always wins over the environment.
package envflag

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// Prefix starts every environment variable name.
const Prefix = "LIFEBOAT_"

// Name returns the environment variable for a flag name: "delete-node" ->
// "LIFEBOAT_DELETE_NODE".
func Name(flag string) string {
	return Prefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Apply sets every flag of fs that was not given on the command line from its
// environment variable, if present. It must run after fs.Parse. lookup is
// os.LookupEnv in production; tests pass their own. An unparsable value is an
// error naming both the variable and the flag.
func Apply(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		v, ok := lookup(Name(f.Name))
		if !ok {
			return
		}
		if sv, isSlice := f.Value.(pflag.SliceValue); isSlice {
			// Slice flags accumulate on Set; replace so env gives the whole list.
			if serr := sv.Replace(splitList(v)); serr != nil {
				err = fmt.Errorf("environment %s (flag --%s): %w", Name(f.Name), f.Name, serr)
			}
			f.Changed = true
			return
		}
		if serr := fs.Set(f.Name, v); serr != nil {
			err = fmt.Errorf("environment %s (flag --%s): %w", Name(f.Name), f.Name, serr)
		}
	})
	return err
}

func splitList(v string) []string {
	if v == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}
