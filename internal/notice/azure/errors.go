package azure

import (
	"errors"
	"fmt"

	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/metadatahttp"
)

// Reasons passed to Config.OnError (stable, low-cardinality metric labels).
const (
	// ReasonUnreachable: IMDS refused or dropped the connection.
	ReasonUnreachable = metadatahttp.ReasonUnreachable
	// ReasonTimeout: a request took longer than Config.RequestTimeout.
	ReasonTimeout = metadatahttp.ReasonTimeout
	// ReasonHTTPStatus: IMDS answered with a status other than 200.
	ReasonHTTPStatus = metadatahttp.ReasonHTTPStatus
	// ReasonMalformed: the body was not a valid document (or an event in it
	// could not be understood).
	ReasonMalformed = metadatahttp.ReasonMalformed
)

// HTTPStatusError is an IMDS answer with an unexpected status.
type HTTPStatusError struct {
	// Method and URL identify the request.
	Method, URL string
	// StatusCode is the HTTP status received.
	StatusCode int
	// Body is the start of the response body.
	Body string
}

func (e *HTTPStatusError) Error() string {
	return fmt.Sprintf("azure imds %s %s: status %d: %s", e.Method, e.URL, e.StatusCode, e.Body)
}

// MalformedError is a response body that could not be understood.
type MalformedError struct {
	// URL is where the body came from.
	URL string
	// Err says what was wrong with it.
	Err error
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("azure imds %s: malformed body: %v", e.URL, e.Err)
}

func (e *MalformedError) Unwrap() error { return e.Err }

// ProviderIDError is a Node providerID this package cannot turn into a VM name.
type ProviderIDError struct {
	// ProviderID is the offending value.
	ProviderID string
	// Reason says what is wrong with it.
	Reason string
}

func (e *ProviderIDError) Error() string {
	return fmt.Sprintf("azure providerID %q: %s", e.ProviderID, e.Reason)
}

// UnknownEventError is returned by Ack for an event this source has not
// emitted, or whose event is no longer listed.
type UnknownEventError struct {
	// EventID is the notice ID Ack was given.
	EventID string
	// Gone is true when the source did emit the event but it has since
	// vanished (canceled or completed), so there is nothing to start.
	Gone bool
}

func (e *UnknownEventError) Error() string {
	if e.Gone {
		return fmt.Sprintf("azure scheduled event %q is no longer listed; nothing to acknowledge", e.EventID)
	}
	return fmt.Sprintf("azure scheduled event %q was not emitted by this source; refusing to acknowledge it", e.EventID)
}

// SharedEventError is returned by Ack for an event that also lists other VMs
// when not all of them have finished with it: nothing was sent, and the
// platform starts the event at its NotBefore.
type SharedEventError struct {
	// EventID is the event.
	EventID string
	// Others are the other VMs the event lists.
	Others []string
	// Waiting are the VMs not known to have finished (all of Others when
	// no check could be made).
	Waiting []string
	// Err is why the peers could not be checked, if they could not.
	Err error
}

func (e *SharedEventError) Error() string {
	switch {
	case e.Err != nil:
		return fmt.Sprintf("azure scheduled event %q also lists %v; cannot tell whether they are done (%v): not acknowledging", e.EventID, e.Others, e.Err)
	case len(e.Waiting) > 0:
		return fmt.Sprintf("azure scheduled event %q also lists %v; still waiting for %v: not acknowledging", e.EventID, e.Others, e.Waiting)
	}
	return fmt.Sprintf("azure scheduled event %q also lists %v: not acknowledging (approving it would start it for them too)", e.EventID, e.Others)
}

func (e *SharedEventError) Unwrap() error { return e.Err }

// SharedEvent marks the error as "not acknowledged on purpose" for callers
// that must not import this package to tell it from a failure.
func (e *SharedEventError) SharedEvent() bool { return true }

// ConfigError is an invalid Config field; its Source is Name.
type ConfigError = metadatahttp.ConfigError

// reasonOf classifies a request error as one of the Reason constants.
func reasonOf(err error) string {
	var se *HTTPStatusError
	var me *MalformedError
	switch {
	case errors.As(err, &se):
		return ReasonHTTPStatus
	case errors.As(err, &me):
		return ReasonMalformed
	default:
		return metadatahttp.TransportReason(err)
	}
}
