package metrics

import (
	"fmt"
	"net"

	"github.com/spf13/pflag"
)

// DefaultAddress is where the metrics server listens unless told otherwise.
const DefaultAddress = ":9101"

// Options configure the metrics and health HTTP server.
type Options struct {
	// Address is the listen address of /metrics, /healthz and /readyz
	// ("host:port", ":port"); empty disables the server.
	Address string
	// EnablePprof also serves net/http/pprof under /debug/pprof/.
	EnablePprof bool
}

// DefaultOptions listens on DefaultAddress without pprof.
func DefaultOptions() Options { return Options{Address: DefaultAddress} }

// AddFlags registers --metrics-address and --enable-pprof.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Address, "metrics-address", o.Address,
		"Listen address for /metrics, /healthz and /readyz; empty disables the server.")
	fs.BoolVar(&o.EnablePprof, "enable-pprof", o.EnablePprof,
		"Also serve Go profiling endpoints under /debug/pprof/ on the metrics address.")
}

// Validate checks the options.
func (o *Options) Validate() error {
	if o.Address == "" {
		if o.EnablePprof {
			return fmt.Errorf("--enable-pprof needs --metrics-address")
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(o.Address); err != nil {
		return fmt.Errorf("--metrics-address must be host:port or :port, got %q: %w", o.Address, err)
	}
	return nil
}
