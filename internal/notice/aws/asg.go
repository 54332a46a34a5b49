package aws

import (
	"context"
	"regexp"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

const pathTargetLifecycle = "autoscaling/target-lifecycle-state"

// lifecycleTerminated is the target state announcing a scale-in.
const lifecycleTerminated = "Terminated"

// lifecycleStateRE matches values such as InService or Warmed:Stopped.
var lifecycleStateRE = regexp.MustCompile(`^[A-Za-z]+(:[A-Za-z]+)?$`)

// pollASG reads the Auto Scaling target lifecycle state (404: the instance is
// not in a group) and announces Terminated. The notice ID is
// "aws-asg/<instance-id>" ("aws-asg/unknown" if the instance ID cannot be read).
func (s *Source) pollASG(ctx context.Context, out chan<- notice.Notice) error {
	state, found, err := s.getText(ctx, pathTargetLifecycle, lifecycleStateRE.MatchString)
	if err != nil || !found {
		return err
	}
	if state != lifecycleTerminated {
		return nil
	}
	instance := s.identity(ctx).instanceID
	if instance == "" {
		instance = "unknown"
	}
	return s.emit(ctx, out, notice.Notice{
		ID:     "aws-asg/" + instance,
		Kind:   notice.KindASGTermination,
		Reason: "Auto Scaling target lifecycle state is Terminated (scale-in)",
		Attributes: map[string]string{
			"action": "scale-in",
		},
	})
}
