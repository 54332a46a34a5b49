// Package asgdetach detaches an EC2 instance that is about to be
// interrupted from its Auto Scaling group without decrementing the desired
// capacity, so the group launches the replacement at once instead of
// after the instance is gone (kube-spot-termination-notice-handler's
// DETACH_ASG). The instance keeps running until EC2 reclaims it; the drain
// is unaffected. It needs autoscaling:DescribeAutoScalingInstances (when
// the group is not known) and autoscaling:DetachInstances.
package asgdetach

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/smithy-go"
)

// API is the part of the Auto Scaling client Detach uses;
// *autoscaling.Client implements it.
type API interface {
	DescribeAutoScalingInstances(ctx context.Context, in *autoscaling.DescribeAutoScalingInstancesInput,
		opts ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingInstancesOutput, error)
	DetachInstances(ctx context.Context, in *autoscaling.DetachInstancesInput,
		opts ...func(*autoscaling.Options)) (*autoscaling.DetachInstancesOutput, error)
}

var _ API = (*autoscaling.Client)(nil)

// Result is what Detach did.
type Result struct {
	// Group is the instance's Auto Scaling group ("" when it is in none).
	Group string
	// Detached is true when this call detached the instance; false when it
	// was in no group or already detached.
	Detached bool
	// ActivityID is the Auto Scaling activity of the detach.
	ActivityID string
}

// Error is a failed lookup or detach.
type Error struct {
	// Op is "describe" or "detach".
	Op string
	// InstanceID and Group identify the request.
	InstanceID, Group string
	// Err is the SDK error.
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("asg detach: %s %s (group %q): %v", e.Op, e.InstanceID, e.Group, e.Err)
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Detach detaches instanceID from group (looked up with
// DescribeAutoScalingInstances when empty) with
// ShouldDecrementDesiredCapacity=false. An instance in no group, or one
// already detached, is not an error (Result.Detached false): calling it
// again for the same notice is safe.
func Detach(ctx context.Context, api API, instanceID, group string) (Result, error) {
	if instanceID == "" {
		return Result{}, &Error{Op: "detach", Err: errors.New("no instance ID")}
	}
	if group == "" {
		out, err := api.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{
			InstanceIds: []string{instanceID},
		})
		if err != nil {
			return Result{}, &Error{Op: "describe", InstanceID: instanceID, Err: err}
		}
		for _, i := range out.AutoScalingInstances {
			if aws.ToString(i.InstanceId) == instanceID {
				group = aws.ToString(i.AutoScalingGroupName)
			}
		}
		if group == "" {
			return Result{}, nil
		}
	}
	out, err := api.DetachInstances(ctx, &autoscaling.DetachInstancesInput{
		AutoScalingGroupName:           aws.String(group),
		ShouldDecrementDesiredCapacity: aws.Bool(false),
		InstanceIds:                    []string{instanceID},
	})
	if notInGroup(err) {
		return Result{Group: group}, nil
	}
	if err != nil {
		return Result{Group: group}, &Error{Op: "detach", InstanceID: instanceID, Group: group, Err: err}
	}
	r := Result{Group: group, Detached: true}
	if len(out.Activities) > 0 {
		r.ActivityID = aws.ToString(out.Activities[0].ActivityId)
	}
	return r, nil
}

// notInGroup recognises Auto Scaling's answer for an instance that is no
// longer in the group (detached before, or terminated).
func notInGroup(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" && strings.Contains(ae.ErrorMessage(), "is not part of Auto Scaling group")
}
