//go:build linux

package queue

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestDeadLetterTarget(t *testing.T) {
	const arn = "arn:aws:sqs:us-east-1:123456789012:lifeboat-dlq"
	for _, tc := range []struct {
		name, policy, want string
		malformed          bool
	}{
		{name: "no policy", policy: "", want: ""},
		{name: "as SQS returns it", policy: `{"deadLetterTargetArn":"` + arn + `","maxReceiveCount":5}`, want: arn},
		{name: "count as a string", policy: `{"deadLetterTargetArn":"` + arn + `","maxReceiveCount":"5"}`, want: arn},
		{name: "no target", policy: `{"maxReceiveCount":5}`, want: ""},
		{name: "not JSON", policy: `deadLetterTargetArn=` + arn, malformed: true},
		{name: "target of the wrong type", policy: `{"deadLetterTargetArn":5}`, malformed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DeadLetterTarget(tc.policy)
			var rp *RedrivePolicyError
			switch {
			case tc.malformed && !errors.As(err, &rp):
				t.Fatalf("error = %v, want a *RedrivePolicyError", err)
			case !tc.malformed && err != nil:
				t.Fatalf("error = %v", err)
			case got != tc.want:
				t.Errorf("target = %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzDeadLetterTarget: any attribute value yields a target or a typed
// error, never a panic, and a target only from valid JSON.
func FuzzDeadLetterTarget(f *testing.F) {
	f.Add(`{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":5}`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, policy string) {
		target, err := DeadLetterTarget(policy)
		var rp *RedrivePolicyError
		if err != nil && !errors.As(err, &rp) {
			t.Fatalf("untyped error %v", err)
		}
		if target != "" && !json.Valid([]byte(policy)) {
			t.Fatalf("target %q from invalid JSON %q", target, policy)
		}
	})
}
