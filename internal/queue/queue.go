// Package queue is lifeboat's queue mode: it long-polls an SQS queue fed by
// EventBridge rules (and Auto Scaling lifecycle notifications), maps each
// event's instance to its Node through an informer index, and acts on it
// through the drain engine: drains on bounded workers, earliest deadline
// first; one action per node at a time, a more urgent notice superseding the
// one in progress; duplicates folded. It heartbeats and completes Auto Scaling
// lifecycle hooks, deletes a message only once its work is done (extending
// its visibility meanwhile), records handled notice ids on the Node so a
// redelivered notice is recognised, and runs under a Lease leader election
// so exactly one replica consumes. The per-event logic (Processor) is shared
// with the Lambda mode.
package queue

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	corev1 "k8s.io/api/core/v1"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
)

// Drainer is the part of the drain engine (internal/drain) queue mode uses.
type Drainer interface {
	// Cordon cordons (and taints, per o.Taint) the node, recording lifeboat's
	// ownership; it reports whether anything changed.
	Cordon(ctx context.Context, node string, o drain.Options) (bool, error)
	// Taint adds only o.Taint (no cordon), recording it as lifeboat's.
	Taint(ctx context.Context, node string, o drain.Options) (bool, error)
	// Drain cordons and empties the node; *drain.IncompleteError,
	// *drain.ConsentError and *drain.NodeNotFoundError are final.
	Drain(ctx context.Context, node string, o drain.Options) (*drain.Result, error)
	// Release removes notice id from lifeboat's mark, undoing lifeboat's
	// cordon and taints once no notice holds the node.
	Release(ctx context.Context, node, id string) (*drain.Mark, error)
}

var _ Drainer = (*drain.Drainer)(nil)

// SQSAPI is the part of the SQS client the consumer uses.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// AutoScalingAPI is the part of the Auto Scaling client used for lifecycle hooks.
type AutoScalingAPI interface {
	CompleteLifecycleAction(ctx context.Context, in *autoscaling.CompleteLifecycleActionInput, opts ...func(*autoscaling.Options)) (*autoscaling.CompleteLifecycleActionOutput, error)
	RecordLifecycleActionHeartbeat(ctx context.Context, in *autoscaling.RecordLifecycleActionHeartbeatInput, opts ...func(*autoscaling.Options)) (*autoscaling.RecordLifecycleActionHeartbeatOutput, error)
}

// EC2API is the part of the EC2 client used for the private-DNS fallback and
// the managed-tag check.
type EC2API interface {
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, opts ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
}

// NodeFinder finds Nodes in a cache (see internal/queue/nodeindex).
type NodeFinder interface {
	// ByInstanceID returns the Node whose providerID names the instance.
	ByInstanceID(id string) (*corev1.Node, bool)
	// ByDNSName returns the Node with that name or DNS address.
	ByDNSName(name string) (*corev1.Node, bool)
	// Changed returns a channel closed at the next change of any Node.
	Changed() <-chan struct{}
}
