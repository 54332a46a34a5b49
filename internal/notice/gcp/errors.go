package gcp

import (
	"errors"
	"fmt"

	"cloud.google.com/go/compute/metadata"

	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/metadatahttp"
)

// Reasons passed to Config.OnError (stable, low-cardinality metric labels).
const (
	// ReasonUnreachable: the metadata server refused or dropped the connection.
	ReasonUnreachable = metadatahttp.ReasonUnreachable
	// ReasonTimeout: a request outlived its timeout (RequestTimeout, or
	// WaitTimeout plus a grace period for hanging requests).
	ReasonTimeout = metadatahttp.ReasonTimeout
	// ReasonHTTPStatus: the server answered with a status other than 200/404.
	ReasonHTTPStatus = metadatahttp.ReasonHTTPStatus
	// ReasonMalformed: a value the source does not understand.
	ReasonMalformed = metadatahttp.ReasonMalformed
	// ReasonNotDefined: a watched key answered 404.
	ReasonNotDefined = "not-defined"
)

// HTTPStatusError is a metadata answer with an unexpected status.
type HTTPStatusError struct {
	// URL is the request URL (after MetadataURL was applied).
	URL string
	// StatusCode is the HTTP status received.
	StatusCode int
	// Body is the start of the response body.
	Body string
}

func (e *HTTPStatusError) Error() string {
	return fmt.Sprintf("gcp metadata %s: status %d: %s", e.URL, e.StatusCode, e.Body)
}

// MalformedValueError is a watched key's value the source does not understand.
type MalformedValueError struct {
	// Key is the metadata key (e.g. instance/preempted).
	Key string
	// Value is what the server sent (quoted in messages).
	Value string
}

func (e *MalformedValueError) Error() string {
	return fmt.Sprintf("gcp metadata %s: unexpected value %q", e.Key, e.Value)
}

// ConfigError is an invalid Config field; its Source is Name.
type ConfigError = metadatahttp.ConfigError

// reasonOf classifies a failure as one of the Reason constants.
func reasonOf(err error) string {
	var se *HTTPStatusError
	var me *MalformedValueError
	var nd metadata.NotDefinedError
	switch {
	case errors.As(err, &se):
		return ReasonHTTPStatus
	case errors.As(err, &me):
		return ReasonMalformed
	case errors.As(err, &nd):
		return ReasonNotDefined
	default:
		return metadatahttp.TransportReason(err)
	}
}
