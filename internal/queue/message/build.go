package message

import (
	"encoding/json"
	"fmt"
	"time"
)

// Builders of message bodies in the documented shapes. Tests use them, and
// `lifeboat queue send` uses them to put a realistic event on a queue.

// Envelope returns an EventBridge event body.
func Envelope(id, detailType, source string, t time.Time, resources []string, detail any) []byte {
	d, _ := json.Marshal(detail)
	env := envelope{
		Version: "0", ID: id, DetailType: detailType, Source: source, Account: "123456789012",
		Time: t.UTC().Format(time.RFC3339), Region: "us-east-1", Resources: resources, Detail: d,
	}
	if env.Resources == nil {
		env.Resources = []string{}
	}
	b, _ := json.Marshal(env)
	return b
}

func instanceARN(instance string) []string {
	return []string{"arn:aws:ec2:us-east-1:123456789012:instance/" + instance}
}

// SpotInterruption returns an "EC2 Spot Instance Interruption Warning".
func SpotInterruption(id, instance string, t time.Time) []byte {
	return Envelope(id, DetailSpotInterruption, "aws.ec2", t, instanceARN(instance),
		map[string]string{"instance-id": instance, "instance-action": "terminate"})
}

// Rebalance returns an "EC2 Instance Rebalance Recommendation".
func Rebalance(id, instance string, t time.Time) []byte {
	return Envelope(id, DetailRebalance, "aws.ec2", t, instanceARN(instance),
		map[string]string{"instance-id": instance})
}

// StateChange returns an "EC2 Instance State-change Notification".
func StateChange(id, instance, state string, t time.Time) []byte {
	return Envelope(id, DetailStateChange, "aws.ec2", t, instanceARN(instance),
		map[string]string{"instance-id": instance, "state": state})
}

// HealthScheduledChange returns an "AWS Health Event" of category
// scheduledChange for EC2 affecting the given instances.
func HealthScheduledChange(id, eventTypeCode string, start time.Time, instances ...string) []byte {
	entities := make([]map[string]string, len(instances))
	for i, in := range instances {
		entities[i] = map[string]string{"entityValue": in}
	}
	detail := map[string]any{
		"eventArn":          fmt.Sprintf("arn:aws:health:us-east-1::event/EC2/%s/%s", eventTypeCode, id),
		"service":           "EC2",
		"eventTypeCode":     eventTypeCode,
		"eventTypeCategory": "scheduledChange",
		"statusCode":        "upcoming",
		"startTime":         start.UTC().Format(time.RFC1123),
		"endTime":           start.Add(2 * time.Hour).UTC().Format(time.RFC1123),
		"eventDescription":  []map[string]string{{"language": "en_US", "latestDescription": "scheduled"}},
		"affectedEntities":  entities,
	}
	return Envelope(id, DetailHealth, "aws.health", start.Add(-14*24*time.Hour), instanceARN(instances[0]), detail)
}

// LifecycleAction returns an EventBridge "EC2 Instance-terminate Lifecycle
// Action" (or the launch variant, depending on h.Transition).
func LifecycleAction(id string, h Hook, t time.Time) []byte {
	dt := DetailTerminateAction
	if h.Transition == TransitionLaunching {
		dt = DetailLaunchAction
	}
	return Envelope(id, dt, "aws.autoscaling", t,
		[]string{"arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/" + h.Group}, h)
}

// DirectLifecycle returns a lifecycle notification as Auto Scaling sends it
// straight to an SQS queue.
func DirectLifecycle(requestID string, h Hook, t time.Time) []byte {
	b, _ := json.Marshal(directASG{
		Hook: h, Service: "AWS Auto Scaling", Time: t.UTC().Format(time.RFC3339Nano),
		RequestID: requestID, AccountID: "123456789012",
	})
	return b
}

// TestNotification returns the autoscaling:TEST_NOTIFICATION Auto Scaling
// sends when a notification target is configured.
func TestNotification(group string, t time.Time) []byte {
	b, _ := json.Marshal(map[string]string{
		"AccountId": "123456789012", "RequestId": "test-" + group, "Service": "AWS Auto Scaling",
		"AutoScalingGroupName": group, "Event": "autoscaling:TEST_NOTIFICATION",
		"AutoScalingGroupARN": "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/" + group,
		"Time":                t.UTC().Format(time.RFC3339Nano),
	})
	return b
}
