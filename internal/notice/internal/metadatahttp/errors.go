package metadatahttp

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// Failure reasons both sources report through Config.OnError (stable,
// low-cardinality metric labels); each source documents them for itself.
const (
	ReasonUnreachable = "unreachable"
	ReasonTimeout     = "timeout"
	ReasonHTTPStatus  = "http-status"
	ReasonMalformed   = "malformed"
)

// TransportReason classifies a request that got no answer: ReasonTimeout
// for a deadline or network timeout, ReasonUnreachable otherwise.
func TransportReason(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return ReasonTimeout
	}
	return ReasonUnreachable
}

// ConfigError is an invalid Config field of a source.
type ConfigError struct {
	// Source is the source's name ("azure", "gcp").
	Source string
	// Field names the Config field.
	Field string
	// Err says what is wrong.
	Err error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s source: %s: %v", e.Source, e.Field, e.Err)
}

// Unwrap returns Err.
func (e *ConfigError) Unwrap() error { return e.Err }
