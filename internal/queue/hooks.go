package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/smithy-go"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/queue/message"
)

// HookError reports that a lifecycle action could not be completed.
type HookError struct {
	// Hook is the lifecycle action.
	Hook message.Hook
	// Err is the last error from Auto Scaling.
	Err error
}

func (e *HookError) Error() string {
	return fmt.Sprintf("completing lifecycle action %s/%s for %s: %v", e.Hook.Group, e.Hook.Name, e.Hook.InstanceID, e.Err)
}

func (e *HookError) Unwrap() error { return e.Err }

// hooks heartbeats and completes lifecycle actions.
type hooks struct {
	api   AutoScalingAPI
	clock clock.WithTicker
	log   *slog.Logger
	stats *Stats
}

// inactive reports Auto Scaling's answer for an action that already ended
// (completed by an earlier delivery, or timed out): nothing is left to do.
func inactive(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationError" &&
		strings.Contains(apiErr.ErrorMessage(), "No active Lifecycle Action")
}

// complete ends the lifecycle action with result, retrying transient
// failures a few times. An action that already ended counts as completed.
func (h *hooks) complete(ctx context.Context, hook *message.Hook, result string) error {
	if h.api == nil {
		return &HookError{Hook: *hook, Err: errors.New("no Auto Scaling client configured")}
	}
	in := &autoscaling.CompleteLifecycleActionInput{
		AutoScalingGroupName:  aws.String(hook.Group),
		LifecycleHookName:     aws.String(hook.Name),
		InstanceId:            aws.String(hook.InstanceID),
		LifecycleActionResult: aws.String(result),
	}
	if hook.Token != "" {
		in.LifecycleActionToken = aws.String(hook.Token)
	}
	var err error
	for attempt, wait := 0, time.Second; attempt < 4; attempt, wait = attempt+1, wait*2 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return &HookError{Hook: *hook, Err: ctx.Err()}
			case <-h.clock.After(wait):
			}
		}
		_, err = h.api.CompleteLifecycleAction(ctx, in)
		if err == nil || inactive(err) {
			h.stats.completed.Add(1)
			h.log.Info("lifecycle action completed", "instance", hook.InstanceID, "asg", hook.Group,
				"hook", hook.Name, "result", result, "alreadyEnded", err != nil)
			return nil
		}
		h.stats.completeErrors.Add(1)
		h.log.Warn("completing lifecycle action failed", "instance", hook.InstanceID, "asg", hook.Group, "error", err)
	}
	return &HookError{Hook: *hook, Err: err}
}

// keepAlive heartbeats the action at once (its timeout may have started long
// before this delivery) and then every interval, until the returned stop is
// called or ctx ends. It stops early if Auto Scaling says the action ended.
func (h *hooks) keepAlive(ctx context.Context, hook *message.Hook, interval time.Duration, node string) (stop func()) {
	if h.api == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := h.clock.NewTicker(interval)
		defer t.Stop()
		for {
			_, err := h.api.RecordLifecycleActionHeartbeat(ctx, &autoscaling.RecordLifecycleActionHeartbeatInput{
				AutoScalingGroupName: aws.String(hook.Group),
				LifecycleHookName:    aws.String(hook.Name),
				InstanceId:           aws.String(hook.InstanceID),
				LifecycleActionToken: aws.String(hook.Token),
			})
			switch {
			case err == nil:
				h.stats.heartbeats.Add(1)
			case ctx.Err() != nil:
				return
			case inactive(err):
				h.log.Warn("lifecycle action ended while lifeboat was working on it", logging.KeyNode, node,
					"instance", hook.InstanceID, "asg", hook.Group, "error", err)
				return
			default:
				h.stats.heartbeatErrors.Add(1)
				h.log.Warn("lifecycle heartbeat failed", logging.KeyNode, node, "instance", hook.InstanceID, "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C():
			}
		}
	}()
	return func() { cancel(); <-done }
}
