package slack

import (
	"errors"

	"github.com/slack-go/slack"

	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
)

// retryableAPIErrors are Slack API error codes that may succeed later.
var retryableAPIErrors = map[string]bool{
	"ratelimited":         true,
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
}

// classify turns a slack-go error into a redacted *notifier.DeliveryError
// that says whether a retry can help.
func classify(name string, r *notifier.Redactor, err error) error {
	if err == nil {
		return nil
	}
	out := r.Err(name, err)
	var de *notifier.DeliveryError
	if !errors.As(out, &de) {
		return out
	}
	var (
		rl  *slack.RateLimitedError
		sc  slack.StatusCodeError
		api slack.SlackErrorResponse
	)
	switch {
	case errors.As(err, &rl):
		de.StatusCode, de.RetryAfter = 429, rl.RetryAfter
	case errors.As(err, &sc):
		de.StatusCode, de.Permanent = sc.Code, !notifier.RetryableStatus(sc.Code)
	case errors.As(err, &api):
		de.Permanent = !retryableAPIErrors[api.Err]
	}
	return de
}
