package aws

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// Metadata paths polled for spot interruptions.
const (
	pathInstanceAction  = "spot/instance-action"
	pathTerminationTime = "spot/termination-time"
)

// SpotWarning is how long before the interruption EC2 publishes
// instance-action. IMDS gives no notice time, so Issued is the interruption
// time minus SpotWarning (the AWS convention).
const SpotWarning = 2 * time.Minute

// instanceAction is the body of spot/instance-action.
type instanceAction struct {
	Action string `json:"action"`
	Time   string `json:"time"`
}

// pollSpot reads spot/instance-action (404: nothing announced) and, if so
// configured, falls back to the legacy spot/termination-time.
func (s *Source) pollSpot(ctx context.Context, out chan<- notice.Notice) error {
	var ia instanceAction
	var deadline time.Time
	found, err := s.getJSON(ctx, pathInstanceAction, &ia, func() (err error) {
		if ia.Action == "" || ia.Time == "" {
			return errors.New(`"action" or "time" missing`)
		}
		deadline, err = parseSpotTime(ia.Time)
		return err
	})
	switch {
	case err != nil:
		return err
	case found:
		return s.emit(ctx, out, spotNotice(ia.Action, ia.Time, deadline))
	case s.cfg.PollTerminationTime:
		return s.pollTerminationTime(ctx, out)
	}
	return nil
}

// pollTerminationTime reads the legacy bare-timestamp path (terminate only).
func (s *Source) pollTerminationTime(ctx context.Context, out chan<- notice.Notice) error {
	var deadline time.Time
	raw, found, err := s.getText(ctx, pathTerminationTime, func(v string) bool {
		var perr error
		deadline, perr = parseSpotTime(v)
		return perr == nil
	})
	if err != nil || !found {
		return err
	}
	return s.emit(ctx, out, spotNotice("terminate", raw, deadline))
}

// parseSpotTime parses an interruption time (RFC 3339). The zero time
// (0001-01-01T00:00:00Z) is refused: a notice with a zero Deadline means
// "no deadline", and a spot interruption always has one.
func parseSpotTime(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err == nil && t.IsZero() {
		return time.Time{}, fmt.Errorf("interruption time %q is the zero time", v)
	}
	return t, err
}

// spotNotice builds the notice for an interruption at rawTime; its ID is
// "aws-spot/<time as IMDS wrote it>", identical from both paths.
func spotNotice(action, rawTime string, deadline time.Time) notice.Notice {
	return notice.Notice{
		ID:         "aws-spot/" + rawTime,
		Kind:       notice.KindSpotInterruption,
		Deadline:   deadline,
		Issued:     deadline.Add(-SpotWarning),
		Reason:     fmt.Sprintf("EC2 spot interruption: %s at %s", action, rawTime),
		Attributes: map[string]string{"action": action},
	}
}
