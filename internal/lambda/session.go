package lambda

import (
	"context"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/kube/clientset"
	"github.com/lifeboat-dev/lifeboat/internal/queue"
	"github.com/lifeboat-dev/lifeboat/internal/queue/nodeindex"
	"github.com/lifeboat-dev/lifeboat/internal/report"
)

// Deps are what a session is built from.
type Deps struct {
	// AWS configures the Auto Scaling and EC2 clients.
	AWS aws.Config
	// DetachFromASG detaches a spot-interrupted instance from its Auto
	// Scaling group beside the drain (--detach-from-asg).
	DetachFromASG bool
	// Policy decides the actions; the handler caps every drain at the
	// invocation's deadline (Policy.NotAfter).
	Policy queue.Policy
	// Reporter hears every notice and how it ended; may be nil.
	Reporter report.Reporter
	// Drainer overrides the drain engine (tests); nil uses drain.New.
	Drainer queue.Drainer
	// Observer receives drain events; may be nil.
	Observer drain.Observer
	// Clock and Log as everywhere.
	Clock clock.WithTickerAndDelayedExecution
	Log   *slog.Logger
	// Stats counts outcomes; may be nil.
	Stats *queue.Stats
}

// OpenSession starts a Node index on client (one LIST and a WATCH for the
// invocation) and wires a queue.Processor to it.
func OpenSession(ctx context.Context, client kubernetes.Interface, d Deps) (*Session, error) {
	ix, err := nodeindex.New(client, 0)
	if err != nil {
		return nil, err
	}
	ictx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if err := ix.Start(ictx); err != nil {
		cancel()
		ix.Shutdown()
		return nil, err
	}
	api := clientset.Wrap(client)
	dr := d.Drainer
	if dr == nil {
		dr = drain.New(api, drain.Config{Clock: d.Clock, Log: d.Log, Observer: d.Observer})
	}
	stats := d.Stats
	if stats == nil {
		stats = &queue.Stats{}
	}
	asg := autoscaling.NewFromConfig(d.AWS)
	p := &queue.Processor{
		Client: api, Nodes: ix, Drainer: dr,
		AutoScaling: asg, EC2: ec2.NewFromConfig(d.AWS),
		Policy: d.Policy, Clock: d.Clock, Log: d.Log, Stats: stats, Reporter: d.Reporter, Actor: queue.ActorLambda,
	}
	if d.DetachFromASG {
		p.Detacher = asg
	}
	return &Session{Processor: p, Close: func() { cancel(); ix.Shutdown() }}, nil
}
