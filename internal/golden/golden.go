// Package golden helps tests that compare generated files (the flags
// reference, manifests rendered from the chart) with their checked-in copies.
package golden

import (
	"os"
	"strconv"
	"strings"
)

// UpdateEnv names the variable that, set to "1", asks golden tests to rewrite the checked-in files.
const UpdateEnv = "LIFEBOAT_UPDATE_GOLDEN"

// Update reports whether golden files should be rewritten.
func Update() bool { return os.Getenv(UpdateEnv) == "1" }

// FirstDiff describes the first line where two texts differ.
func FirstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl
		}
	}
	return "(none)"
}
