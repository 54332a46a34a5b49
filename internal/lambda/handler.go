// Package lambda is lifeboat's AWS Lambda mode: the same binary, started as
// `lifeboat lambda` by the function's runtime, handles the EventBridge
// events (above all Auto Scaling terminate lifecycle actions) one invocation
// at a time. It reaches the cluster with an STS-presigned EKS token (or a
// kubeconfig from S3), drains with a deadline of the invocation's remaining
// time minus a margin, completes the lifecycle hook, and is idempotent when
// AWS invokes it again for the same event.
package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/queue"
	"github.com/lifeboat-dev/lifeboat/internal/queue/message"
)

// Session is what one invocation works with: a processor wired to the
// cluster, and a function that releases it (stops the node informer).
type Session struct {
	// Processor carries out message.
	Processor *queue.Processor
	// Close releases the session's resources.
	Close func()
}

// Handler handles one Lambda invocation.
type Handler struct {
	// Open connects to the cluster for one invocation.
	Open func(ctx context.Context) (*Session, error)
	// Margin is kept free before the invocation's deadline: the drain's
	// deadline is the remaining time minus Margin, so the hook is completed
	// and the function returns before Lambda stops it.
	Margin time.Duration
	// Clock tells time.
	Clock clock.Clock
	// Log receives one line per decision.
	Log *slog.Logger
}

// Result is what the function returns to its caller (and logs).
type Result struct {
	// Outcomes has one entry per event: "<notice id> <instance>: <outcome>".
	Outcomes []string `json:"outcomes"`
	// Ignored says why a well-formed event asked for nothing.
	Ignored string `json:"ignored,omitempty"`
}

// Handle processes one EventBridge event (or SQS-style lifecycle
// notification). Unparseable events are logged and dropped (an error would
// only make Lambda retry what can never parse); transient failures return an
// error so Lambda invokes again, and the retry is recognised through the
// Node's handled-notices annotation.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (Result, error) {
	now := h.Clock.Now()
	parsed, err := message.Parse(raw, now)
	if err != nil {
		h.Log.Error("dropping unparseable event", "error", err)
		return Result{Ignored: err.Error()}, nil
	}
	if len(parsed.Events) == 0 {
		h.Log.Info("event asks for nothing", "why", parsed.Ignored)
		return Result{Ignored: parsed.Ignored}, nil
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		return Result{}, errors.New("invocation has no deadline: not running under the Lambda runtime")
	}
	deadline = deadline.Add(-h.Margin)
	if !deadline.After(now) {
		return Result{}, fmt.Errorf("invocation has %s left, less than the %s margin", deadline.Add(h.Margin).Sub(now).Round(time.Millisecond), h.Margin)
	}
	sess, err := h.Open(ctx)
	if err != nil {
		return Result{}, err
	}
	defer sess.Close()
	sess.Processor.Policy.NotAfter = deadline
	var res Result
	var errs []error
	for _, ev := range parsed.Events {
		ev.Notice.Source = "lambda"
		h.Log.Info("notice received", logging.KeyEvent, ev.Notice.ID, "kind", string(ev.Notice.Kind),
			"instance", ev.Notice.InstanceID, "deadline", ev.Notice.Deadline, "drainBy", deadline, logging.KeySource, "lambda")
		o, err := sess.Processor.Process(ctx, ev, 1)
		if err != nil {
			errs = append(errs, fmt.Errorf("event %s for %s: %w", ev.Notice.ID, ev.Notice.InstanceID, err))
			continue
		}
		res.Outcomes = append(res.Outcomes, fmt.Sprintf("%s %s: %s", ev.Notice.ID, ev.Notice.InstanceID, o))
	}
	return res, errors.Join(errs...)
}
