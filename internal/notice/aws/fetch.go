package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

// Reasons passed to Config.OnError. The set is small and fixed so it can be
// a metrics label.
const (
	// ReasonTimeout: no answer within the request or response-header timeout.
	ReasonTimeout = "timeout"
	// ReasonUnreachable: the connection failed (nothing listening, reset).
	ReasonUnreachable = "unreachable"
	// ReasonToken: no IMDSv2 session token could be obtained (and IMDSv1
	// fallback is not allowed), e.g. PUT /latest/api/token answered 403.
	ReasonToken = "token"
	// ReasonHTTPStatus: an unexpected status code such as 500 (404 is not an
	// error: it means "nothing announced").
	ReasonHTTPStatus = "http-status"
	// ReasonMalformed: the body could not be understood.
	ReasonMalformed = "malformed"
	// ReasonOther: anything else.
	ReasonOther = "other"
)

// maxBody bounds what is read from one metadata path.
const maxBody = 1 << 20

// MetadataError is a failed read of one metadata path.
type MetadataError struct {
	// Path is below /latest/meta-data/, e.g. "spot/instance-action".
	Path string
	// Reason is one of the Reason constants.
	Reason string
	// Err is the underlying error.
	Err error
}

func (e *MetadataError) Error() string {
	return fmt.Sprintf("instance metadata %s: %s: %v", e.Path, e.Reason, e.Err)
}

func (e *MetadataError) Unwrap() error { return e.Err }

// retryDelay is the pause before a read's one retry (e.g. with a new token
// after a 401).
const retryDelay = 50 * time.Millisecond

// newClient builds the SDK client: session tokens are cached and renewed by
// the client (before IMDS expires them, see earlyRenewal, and on a 401), one retry per read without a retry
// quota (a long outage must not leave the client refusing to retry after
// recovery), no HTTP proxy (IMDS is link-local), and the SDK's fail-fast
// dial (250 ms) and response-header (500 ms) timeouts.
func newClient(cfg Config) *imds.Client {
	fallback := awssdk.FalseTernary
	if cfg.AllowIMDSv1 {
		fallback = awssdk.TrueTernary
	}
	return imds.New(imds.Options{
		Endpoint:          cfg.Endpoint,
		ClientEnableState: imds.ClientEnabled,
		EnableFallback:    fallback,
		HTTPClient: earlyRenewal{next: awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.Proxy = nil
		})},
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 2
			o.MaxBackoff = retryDelay
			o.RateLimiter = ratelimit.None
		}),
		DisableDefaultMaxBackoff: true, // it would replace retryDelay with up to 1 s
	})
}

// get reads one metadata path. found is false on 404 (a success). Failures
// are reported (logged and counted) here, once per read, and returned. A
// 200 is not yet a success: the caller calls succeeded once the body makes
// sense, or reports it as malformed; getJSON and getText do that.
func (s *Source) get(ctx context.Context, path string) (body []byte, found bool, err error) {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	out, err := s.client.GetMetadata(rctx, &imds.GetMetadataInput{Path: path})
	if err == nil {
		defer func() { _ = out.Content.Close() }()
		body, err = io.ReadAll(io.LimitReader(out.Content, maxBody))
	}
	switch {
	case ctx.Err() != nil:
		return nil, false, errCanceled
	case err == nil:
		return body, true, nil
	case statusCode(err) == http.StatusNotFound && !isTokenError(err):
		s.succeeded(path)
		return nil, false, nil
	}
	return nil, false, s.report(ctx, path, classify(err), err)
}

// getJSON reads path into v. A body that does not decode, or that check
// (if set) rejects, is reported as malformed.
func (s *Source) getJSON(ctx context.Context, path string, v any, check func() error) (found bool, err error) {
	body, found, err := s.get(ctx, path)
	if err != nil || !found {
		return false, err
	}
	err = json.Unmarshal(body, v)
	if err == nil && check != nil {
		err = check()
	}
	if err != nil {
		return false, s.report(ctx, path, ReasonMalformed, err)
	}
	s.succeeded(path)
	return true, nil
}

// getText reads path as a trimmed string; one that valid rejects is
// reported as malformed.
func (s *Source) getText(ctx context.Context, path string, valid func(string) bool) (string, bool, error) {
	body, found, err := s.get(ctx, path)
	if err != nil || !found {
		return "", false, err
	}
	v := strings.TrimSpace(string(body))
	if !valid(v) {
		return "", false, s.report(ctx, path, ReasonMalformed, fmt.Errorf("unexpected value %.40q", v))
	}
	s.succeeded(path)
	return v, true, nil
}

// report logs and counts a failed read and returns it as a *MetadataError.
// The first failure of a path in a row is a warning, repeats are debug.
func (s *Source) report(ctx context.Context, path, reason string, err error) error {
	me := &MetadataError{Path: path, Reason: reason, Err: err}
	s.failMu.Lock()
	s.failures[path]++
	n := s.failures[path]
	s.failMu.Unlock()
	lvl := slog.LevelDebug
	if n == 1 {
		lvl = slog.LevelWarn
	}
	s.log.Log(ctx, lvl, "instance metadata read failed",
		"path", path, "reason", reason, "consecutiveFailures", n, logging.KeyError, err)
	if s.cfg.OnError != nil {
		s.cfg.OnError(reason)
	}
	return me
}

// succeeded resets a path's failure count, logging the recovery.
func (s *Source) succeeded(path string) {
	s.failMu.Lock()
	n := s.failures[path]
	delete(s.failures, path)
	s.failMu.Unlock()
	if n > 0 {
		s.log.Info("instance metadata read recovered", "path", path, "failedReads", n)
	}
}

// classify maps an SDK error to a Reason.
func classify(err error) string {
	var ne net.Error
	var send *smithyhttp.RequestSendError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ReasonTimeout
	case errors.As(err, &send):
		return ReasonUnreachable
	case isTokenError(err):
		return ReasonToken
	case statusCode(err) != 0:
		return ReasonHTTPStatus
	}
	return ReasonOther
}

// isTokenError reports whether err came from fetching the session token.
// The SDK wraps the token operation's error in a type without Unwrap, so
// errors.As cannot reach it; its message prefix is all there is.
func isTokenError(err error) bool {
	return strings.Contains(err.Error(), "failed to get API token")
}

// statusCode returns the HTTP status of a failed read, or 0.
func statusCode(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
