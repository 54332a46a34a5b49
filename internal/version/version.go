// Package version holds lifeboat's build version, stamped at link time with
// -ldflags "-X github.com/lifeboat-dev/lifeboat/internal/version.Version=v1.2.3".
package version

import "runtime"

// Version is the release version; "dev" for local builds.
var Version = "dev"

// GoVersion is the Go toolchain the binary was built with.
func GoVersion() string { return runtime.Version() }
