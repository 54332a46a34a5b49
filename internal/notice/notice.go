// Package notice defines what lifeboat reacts to: a Notice that a node is
// going away (or that an earlier notice is withdrawn), and the Source
// interface every trigger (systemd shutdown, cloud metadata, a queue)
// implements.
package notice

import (
	"context"
	"sync"
	"time"
)

// Kind classifies a notice independently of the cloud that sent it. The
// agent maps each Kind to an Action through its policy table.
type Kind string

// The notice kinds lifeboat understands.
const (
	// KindSpotInterruption: AWS spot instance-action (terminate, stop, hibernate).
	KindSpotInterruption Kind = "spot-interruption"
	// KindRebalance: AWS rebalance recommendation (elevated risk, no deadline).
	KindRebalance Kind = "rebalance-recommendation"
	// KindScheduledReboot: maintenance after which the same node comes back
	// (AWS instance-reboot/system-reboot/system-maintenance, Azure Reboot/Redeploy).
	KindScheduledReboot Kind = "scheduled-reboot"
	// KindScheduledTermination: maintenance that ends the instance
	// (AWS instance-retirement/instance-stop).
	KindScheduledTermination Kind = "scheduled-termination"
	// KindASGTermination: the Auto Scaling group scales the instance in.
	KindASGTermination Kind = "asg-termination"
	// KindPreemption: Azure Preempt or GCP preempted (spot VMs, ~30 s).
	KindPreemption Kind = "preemption"
	// KindTermination: Azure Terminate, EC2 state change to stopping/terminated.
	KindTermination Kind = "termination"
	// KindHostMaintenance: GCP TERMINATE_ON_HOST_MAINTENANCE.
	KindHostMaintenance Kind = "host-maintenance"
	// KindMigration: GCP MIGRATE_ON_HOST_MAINTENANCE (live migration).
	KindMigration Kind = "live-migration"
	// KindFreeze: Azure Freeze (a pause of a few seconds).
	KindFreeze Kind = "freeze"
	// KindShutdown: the host itself is shutting down or rebooting (systemd).
	KindShutdown Kind = "host-shutdown"
	// KindManual: `lifeboat drain` or another explicit request.
	KindManual Kind = "manual"
	// KindNodeCondition: a Node condition matched an --on-condition rule;
	// the rule's action travels in Attributes["action"].
	KindNodeCondition Kind = "node-condition"
)

// Notice is one observation that a node is going away, or, when Canceled is
// set, that an earlier notice with the same ID no longer applies.
type Notice struct {
	// ID identifies the underlying cloud event so it is acted on once, also
	// across restarts (e.g. the AWS maintenance EventId, the Azure EventId,
	// "spot/<time>"). Never empty.
	ID string
	// Source names the trigger that produced it: "aws", "azure", "gcp",
	// "systemd", "sqs", "lambda", "manual".
	Source string
	// Kind classifies the notice.
	Kind Kind
	// Node is the Kubernetes node name, when the source knows it.
	Node string
	// InstanceID is the cloud instance (or VM / scale-set instance) name, when known.
	InstanceID string
	// Deadline is when the node disappears; zero when the source gives none.
	Deadline time.Time
	// Issued is when the cloud says the notice was issued; zero if unknown.
	// Detected minus Issued is the detection delay.
	Issued time.Time
	// Detected is when lifeboat saw the notice.
	Detected time.Time
	// Reason is a short human-readable explanation, recorded on the node.
	Reason string
	// Canceled reports that the event was canceled or completed, so
	// lifeboat's own cordon for it may be undone.
	Canceled bool
	// Attributes carries optional context for notifications: "instance-type",
	// "region", "zone", "action", "event-type", ...
	Attributes map[string]string
}

// Source produces notices. Run blocks until ctx is done (returning nil) or the
// source fails for good; it must survive malformed or failing endpoints by
// logging and counting, never by returning.
type Source interface {
	// Name is a short stable name used in logs and metrics ("aws", "gcp"...).
	Name() string
	// Run sends notices to out until ctx is canceled.
	Run(ctx context.Context, out chan<- Notice) error
}

// Acknowledger is implemented by sources whose platform wants to hear that
// lifeboat is done with a notice (Azure Scheduled Events StartRequests).
// The agent calls Ack only after it acted on the notice and the node is empty.
type Acknowledger interface {
	Ack(ctx context.Context, n Notice) error
}

// Readier is implemented by sources that can tell when they have read their
// platform's metadata successfully once. The agent reports ready only after
// every such source has, so a node whose metadata cannot be reached (an
// IMDSv2 hop limit, a firewall) is visibly not protected.
type Readier interface {
	// ReadOnce is closed after the source's first complete successful read.
	ReadOnce() <-chan struct{}
}

// FirstRead is a latch that implements Readier; its zero value is ready to
// use. Sources call Done after their first complete successful read.
type FirstRead struct {
	init sync.Once
	once sync.Once
	ch   chan struct{}
}

func (f *FirstRead) lazy() { f.init.Do(func() { f.ch = make(chan struct{}) }) }

// Done marks the first successful read; later calls do nothing.
func (f *FirstRead) Done() {
	f.lazy()
	f.once.Do(func() { close(f.ch) })
}

// ReadOnce is closed once Done was called.
func (f *FirstRead) ReadOnce() <-chan struct{} {
	f.lazy()
	return f.ch
}
