package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// PoisonPolicy says what happens to a message lifeboat cannot parse. Either
// way it is logged and counted (lifeboat_queue_messages_total{result="poison"}).
type PoisonPolicy string

// The poison message policies.
const (
	// PoisonAuto keeps unparseable messages when the queue has a dead-letter
	// queue (a RedrivePolicy), so they end there for a person to read, and
	// deletes them otherwise. While the RedrivePolicy cannot be read it keeps
	// them: a notice is never lost to a failed call.
	PoisonAuto PoisonPolicy = "auto"
	// PoisonDelete deletes them at once.
	PoisonDelete PoisonPolicy = "delete"
	// PoisonKeep leaves them to the queue's redrive policy.
	PoisonKeep PoisonPolicy = "keep"
)

// RedrivePolicyError reports a RedrivePolicy attribute that is not the JSON
// SQS documents.
type RedrivePolicyError struct {
	// Policy is the attribute's value.
	Policy string
	// Err is the decoding error.
	Err error
}

func (e *RedrivePolicyError) Error() string {
	return fmt.Sprintf("malformed RedrivePolicy %q: %v", e.Policy, e.Err)
}

func (e *RedrivePolicyError) Unwrap() error { return e.Err }

// DeadLetterTarget returns the dead-letter queue ARN named by an SQS
// RedrivePolicy attribute ({"deadLetterTargetArn": "...", "maxReceiveCount":
// N}); "" for an empty policy.
func DeadLetterTarget(policy string) (string, error) {
	if policy == "" {
		return "", nil
	}
	var rp struct {
		Target string `json:"deadLetterTargetArn"`
	}
	if err := json.Unmarshal([]byte(policy), &rp); err != nil {
		return "", &RedrivePolicyError{Policy: policy, Err: err}
	}
	return rp.Target, nil
}

// poisonDecision is what the consumer does with unparseable messages.
type poisonDecision struct {
	keep  bool
	known bool // false: auto, and the queue's RedrivePolicy could not be read yet
}

// resolvePoison turns the configured policy into a decision; for auto it
// reads the queue's RedrivePolicy.
func (c *Consumer) resolvePoison(ctx context.Context) poisonDecision {
	switch c.Config.Poison {
	case PoisonDelete:
		return poisonDecision{known: true}
	case PoisonKeep:
		return poisonDecision{keep: true, known: true}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := c.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(c.Config.QueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameRedrivePolicy,
		},
	})
	if err == nil {
		var dlq string
		dlq, err = DeadLetterTarget(out.Attributes[string(sqstypes.QueueAttributeNameRedrivePolicy)])
		if err == nil {
			c.Log.Info("unparseable messages: "+poisonVerb(dlq != ""), "deadLetterQueue", dlq, "policy", string(PoisonAuto))
			return poisonDecision{keep: dlq != "", known: true}
		}
	}
	c.Log.Warn("reading the queue's RedrivePolicy failed; unparseable messages are kept until it can be read (needs sqs:GetQueueAttributes)",
		"error", err)
	return poisonDecision{keep: true}
}

func poisonVerb(keep bool) string {
	if keep {
		return "kept for the dead-letter queue"
	}
	return "deleted (the queue has no dead-letter queue)"
}
