//go:build !lifeboat_agent

package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/asgdetach"
	"github.com/lifeboat-dev/lifeboat/internal/awsconfig"
	"github.com/lifeboat-dev/lifeboat/internal/decide"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/kube/clientset"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/metrics"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notice/nodecondition"
	"github.com/lifeboat-dev/lifeboat/internal/queue"
	"github.com/lifeboat-dev/lifeboat/internal/queue/message"
	"github.com/lifeboat-dev/lifeboat/internal/queue/nodeindex"
)

func init() { addCommand(newQueueCommand) }

// AWSOptions are the flags that reach AWS.
type AWSOptions struct {
	// Region is the AWS region (default: AWS_REGION / the shared config).
	Region string
	// Endpoint replaces every AWS service endpoint (private endpoints, tests).
	Endpoint string
}

// AddFlags registers --aws-region and --aws-endpoint.
func (o *AWSOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Region, "aws-region", o.Region, "AWS region (default: AWS_REGION or the shared AWS config).")
	fs.StringVar(&o.Endpoint, "aws-endpoint", o.Endpoint, "Endpoint URL for every AWS API (SQS, Auto Scaling, EC2, S3, STS): private endpoints, or a local emulator in tests.")
}

// QueueOptions are the flags of `lifeboat queue`.
type QueueOptions struct {
	// Kube holds the Kubernetes client flags.
	Kube kube.Options
	// AWS holds the AWS flags.
	AWS AWSOptions
	// Consumer holds the SQS consumer settings (--queue-url, --workers, ...).
	Consumer queue.Config
	// Drain holds the shared drain-engine flags.
	Drain DrainFlags
	// Reporting holds metrics and notification flags.
	Reporting ReportingOptions
	// Policy holds what to do per event; filled from the flags below.
	Policy queue.Policy
	// OnRebalance, OnDrainFailure and OnLaunchTimeout are the lower-case flag values.
	OnRebalance, OnDrainFailure, OnLaunchTimeout string
	// Actions overrides the action per notice kind ("kind=action").
	Actions []string
	// DryRun detects, decides and reports, and writes nothing.
	DryRun bool
	// OnCondition are --on-condition rules (TYPE[=STATUS]=ACTION) for every Node.
	OnCondition []string
	// DetachFromASG detaches spot-interrupted instances from their Auto
	// Scaling groups without decrementing the desired capacity.
	DetachFromASG bool
	// LeaderElect runs under a Lease so one replica of several consumes.
	LeaderElect bool
	// Leader configures the election.
	Leader queue.LeaderConfig

	podName string // $POD_NAME, read by Complete
}

// NewQueueOptions returns the defaults.
func NewQueueOptions() *QueueOptions {
	o := &QueueOptions{
		Kube: kube.ClusterWideOptions(), Consumer: queue.DefaultConfig(), Drain: DefaultDrainFlags(),
		Reporting: DefaultReportingOptions(), Policy: queue.DefaultPolicy(),
		OnRebalance: "taint", OnDrainFailure: "continue", OnLaunchTimeout: "abandon",
		LeaderElect: true, Leader: queue.DefaultLeaderConfig(),
	}
	// The machine is going away: pods without a controller or with emptyDir
	// data are lost either way, so they are evicted gracefully by default.
	o.Drain.Force, o.Drain.DeleteEmptyDirData = true, true
	return o
}

// Complete fills what the flags leave to the environment, read through
// lookup: the pod name (POD_NAME), the Lease namespace when
// --leader-elect-namespace is empty, and the replica's identity (leader
// election, drain-budget Leases); only leader election requires one.
func (o *QueueOptions) Complete(lookup func(string) (string, bool), hostname func() (string, error)) error {
	o.podName, _ = lookup("POD_NAME")
	if o.Leader.Namespace == "" {
		o.Leader.Namespace = inClusterNamespace(lookup)
	}
	id, err := leaderIdentity(o.podName, hostname)
	if err != nil && o.LeaderElect {
		return err
	}
	o.Leader.Identity = id // also names this replica's drain-budget Leases
	return nil
}

// leaderIdentity is the pod name, else the host name plus a random suffix
// (as kube-controller-manager does), so two replicas on one host never share
// an identity: with one identity both would think they hold the Lease.
func leaderIdentity(podName string, hostname func() (string, error)) (string, error) {
	if podName != "" {
		return podName, nil
	}
	h, err := hostname()
	if err != nil || h == "" {
		return "", fmt.Errorf("leader election needs an identity: POD_NAME is empty and the host name is unknown: %w", err)
	}
	return h + "_" + string(uuid.NewUUID()), nil
}

// AddFlags registers the flags.
func (o *QueueOptions) AddFlags(fs *pflag.FlagSet) {
	o.Kube.AddFlags(fs)
	o.AWS.AddFlags(fs)
	o.Drain.AddFlags(fs)
	o.Reporting.AddFlags(fs)
	c, p, l := &o.Consumer, &o.Policy, &o.Leader
	fs.StringVar(&c.QueueURL, "queue-url", c.QueueURL, "URL of the SQS queue EventBridge rules and Auto Scaling lifecycle hooks deliver to.")
	fs.IntVar(&c.Workers, "workers", c.Workers, "Nodes drained at once (cordons are not limited by this: every affected node is cordoned at once).")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", c.MaxInFlight, "Messages received and not yet finished, at most.")
	fs.DurationVar(&c.VisibilityTimeout, "visibility-timeout", c.VisibilityTimeout, "Visibility timeout requested for received messages; re-applied every third of it while their work runs. A crashed consumer's messages reappear after it.")
	fs.DurationVar(&c.WaitTime, "wait-time", c.WaitTime, "Long-poll wait of each receive (0s to 20s).")
	fs.StringVar((*string)(&c.Poison), "poison-messages", string(c.Poison), "Unparseable messages (always logged and counted): auto (keep them for the dead-letter queue when the queue's RedrivePolicy names one, read with sqs:GetQueueAttributes at start; delete them otherwise), delete, or keep (leave them to the queue's redrive policy).")
	fs.BoolVar(&p.DeleteNode, "delete-node", p.DeleteNode, "Delete the Node object after draining an instance that is terminated for good (never for stop, hibernate or reboot).")
	fs.BoolVar(&p.Taint, "going-away-taint", p.Taint, "Add the taint "+queue.TaintGoingAway+"=<notice kind>:NoSchedule on cordon (unless --taint names another).")
	fs.StringVar(&o.OnRebalance, "on-rebalance", o.OnRebalance, "Rebalance recommendations: taint ("+queue.TaintRebalance+":PreferNoSchedule only), cordon, drain or ignore.")
	fs.StringArrayVar(&o.Actions, "action", o.Actions, actionFlagUsage)
	addOnConditionFlag(fs, &o.OnCondition)
	fs.BoolVar(&o.DetachFromASG, "detach-from-asg", o.DetachFromASG, "On a spot interruption, detach the instance from its Auto Scaling group without decrementing the desired capacity, "+
		"so the group launches the replacement at once (autoscaling:DescribeAutoScalingInstances, autoscaling:DetachInstances).")
	fs.BoolVar(&o.DryRun, "dry-run", o.DryRun, "Observe mode: decide and report what lifeboat would do (Events, metrics, notifications) and change nothing: "+
		"no cordon, eviction, handled record, lifecycle heartbeat or completion. Messages are still deleted: give it its own queue.")
	fs.StringVar(&o.OnDrainFailure, "on-drain-failure", o.OnDrainFailure, "Lifecycle hook result when a drain ends incomplete: continue or abandon.")
	fs.DurationVar(&p.HookDrainTimeout, "hook-drain-timeout", p.HookDrainTimeout, "Deadline, from detection, of a drain whose notice gives no time (a terminate lifecycle hook).")
	fs.DurationVar(&p.VoluntaryDrainTimeout, "voluntary-drain-timeout", p.VoluntaryDrainTimeout, "Bound, from detection, of a drain whose notice has no deadline (--on-rebalance=drain); at it the drain gives up rather than delete pods.")
	fs.DurationVar(&p.MaintenanceLead, "maintenance-lead", p.MaintenanceLead, "Start draining a reboot-type scheduled maintenance this long before it; until then only taint the node at risk "+
		"(retirements and other terminations drain at once). 0 drains at once.")
	fs.DurationVar(&p.AtRiskTTL, "at-risk-ttl", p.AtRiskTTL, "Remove a rebalance recommendation's at-risk taint after this long if no interruption followed; 0 keeps it.")
	fs.DurationVar(&p.NodeWait, "node-wait", p.NodeWait, "How long after a notice with a deadline was issued a Node not found for its instance is looked for again before the message is finished.")
	fs.DurationVar(&p.HeartbeatInterval, "heartbeat-interval", p.HeartbeatInterval, "Interval of RecordLifecycleActionHeartbeat while a hooked instance waits. Set it well below the hook's HeartbeatTimeout.")
	fs.DurationVar(&p.LaunchTimeout, "launch-timeout", p.LaunchTimeout, "How long a launch lifecycle hook waits for the instance's Node to be Ready.")
	fs.StringVar(&o.OnLaunchTimeout, "on-launch-timeout", o.OnLaunchTimeout, "Launch hook result when --launch-timeout passes: abandon (Auto Scaling replaces the instance) or continue.")
	fs.BoolVar(&p.PrivateDNSFallback, "private-dns-fallback", p.PrivateDNSFallback, "When no Node has the instance's providerID, find it by the instance's private DNS name (ec2:DescribeInstances).")
	fs.StringVar(&p.ManagedTag, "managed-tag", p.ManagedTag, `Only act on instances with this EC2 tag, "key" or "key=value" (ec2:DescribeInstances). Hooks of other instances are completed with CONTINUE.`)
	fs.IntVar(&p.MaxAttempts, "max-attempts", p.MaxAttempts, "Deliveries of a message that may fail with transient errors before its drain is given up as failed; 0 for no limit.")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "Run under a Lease leader election so exactly one of several replicas consumes the queue.")
	fs.StringVar(&l.Namespace, "leader-elect-namespace", l.Namespace, "Namespace of the leader election Lease (default: the pod's namespace).")
	fs.StringVar(&l.Name, "leader-elect-lease-name", l.Name, "Name of the leader election Lease.")
	fs.DurationVar(&l.LeaseDuration, "leader-elect-lease-duration", l.LeaseDuration, "How long followers wait before taking over an unrenewed lease.")
	fs.DurationVar(&l.RenewDeadline, "leader-elect-renew-deadline", l.RenewDeadline, "How long the leader tries to renew before it stops leading.")
	fs.DurationVar(&l.RetryPeriod, "leader-elect-retry-period", l.RetryPeriod, "Interval between leader election attempts.")
}

// Validate checks the flags.
func (o *QueueOptions) Validate() error {
	if err := o.Kube.Validate(); err != nil {
		return err
	}
	if err := o.Consumer.Validate(); err != nil {
		return err
	}
	if err := o.Drain.Validate(); err != nil {
		return err
	}
	if err := o.Reporting.Validate(); err != nil {
		return err
	}
	if o.Drain.PodSelector != "" {
		return errors.New("--pod-selector is not supported by queue mode: a node that goes away must be emptied")
	}
	if err := validateOnCondition(o.OnCondition); err != nil {
		return err
	}
	pol := o.Policy
	pol.Drain = o.Drain.Options()
	var err error
	if pol.Actions, err = queueActions(o.OnRebalance, o.Actions); err != nil {
		return err
	}
	pol.OnDrainFailure, pol.OnLaunchTimeout = strings.ToUpper(o.OnDrainFailure), strings.ToUpper(o.OnLaunchTimeout)
	if err := pol.Validate(); err != nil {
		return err
	}
	o.Policy = pol
	if o.LeaderElect {
		return o.Leader.Validate()
	}
	return nil
}

func inClusterNamespace(lookup func(string) (string, bool)) string {
	if ns, _ := lookup("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		return strings.TrimSpace(string(b))
	}
	return "default"
}

func newQueueCommand(g *Globals) *cobra.Command {
	o := NewQueueOptions()
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Consume AWS interruption, maintenance and Auto Scaling events from SQS and drain the nodes they name",
		Long: "lifeboat queue runs as a Deployment (one per cluster, 2+ replicas with leader election). It long-polls an\n" +
			"SQS queue fed by EventBridge rules (spot interruption warnings, rebalance recommendations, instance state\n" +
			"changes, AWS Health scheduled changes, Auto Scaling lifecycle actions) and Auto Scaling lifecycle\n" +
			"notifications, finds each instance's Node by spec.providerID, and cordons and drains it, heartbeating and\n" +
			"completing lifecycle hooks. A message is deleted only after its work is done. See docs/QUEUE.md.",
		Args: cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			if err := o.Complete(g.LookupEnv, os.Hostname); err != nil {
				return err
			}
			return o.Validate()
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return runQueue(cmd.Context(), g, o) },
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runQueue(ctx context.Context, g *Globals, o *QueueOptions) error {
	client, cfg, err := clientset.ForOptions(&o.Kube)
	if err != nil {
		return err
	}
	awsCfg, err := awsconfig.Load(ctx, o.AWS.Region, o.AWS.Endpoint)
	if err != nil {
		return err
	}
	rep, err := o.Reporting.start(context.WithoutCancel(ctx), g.Log, cfg, o.podName)
	if err != nil {
		return err
	}
	defer rep.close(10 * time.Second)
	ix, err := nodeindex.New(client, 0)
	if err != nil {
		return err
	}
	defer ix.Shutdown()
	if err := ix.Start(ctx); err != nil {
		return err
	}
	api := clientset.Wrap(client)
	if o.Policy.Drain.Budget, err = o.Drain.Budget(api, "queue/"+o.Leader.Identity, o.Leader.Namespace, g.Log); err != nil {
		return err
	}
	qm, err := metrics.NewQueue(rep.metrics)
	if err != nil {
		return err
	}
	stats := queue.NewStats(qm)
	clk := clock.RealClock{}
	c := &queue.Consumer{
		SQS: sqs.NewFromConfig(awsCfg), Config: o.Consumer, Clock: clk, Log: g.Log, Stats: stats,
		Processor: &queue.Processor{
			Client: api, Nodes: ix, Drainer: queueDrainer(drain.New(api, drain.Config{Log: g.Log, Observer: rep.reporter()}), o.DryRun), DryRun: o.DryRun,
			AutoScaling: autoscaling.NewFromConfig(awsCfg), EC2: ec2.NewFromConfig(awsCfg),
			Policy: o.Policy, Clock: clk, Log: g.Log, Stats: stats, Reporter: rep.reporter(),
			Detacher: detacher(o.DetachFromASG, awsCfg),
		},
	}
	rep.setReady(true)
	defer func() { g.Log.Info("queue mode stopped", "stats", fmt.Sprintf("%+v", stats.Snapshot())) }()
	// While leading: consume, and undo queue mode's own cordons of nodes
	// that came back (queue.Processor.TendMarks).
	lead := func(lctx context.Context) error {
		rctx, stop := context.WithCancel(lctx)
		var helpers sync.WaitGroup
		helpers.Go(func() { c.Processor.TendMarks(rctx, ix) })
		if len(o.OnCondition) > 0 {
			helpers.Go(func() { watchConditions(rctx, api, o.OnCondition, c.Processor, g) })
		}
		err := c.Run(lctx)
		stop()
		helpers.Wait()
		return err
	}
	if !o.LeaderElect {
		return lead(ctx)
	}
	return queue.RunLeader(ctx, client, o.Leader, g.Log, func(lctx context.Context) { _ = lead(lctx) })
}

// queueActions is queue and Lambda mode's action table: the defaults,
// --on-rebalance, then every --action override.
func queueActions(onRebalance string, overrides []string) (decide.Table, error) {
	t := decide.DefaultTable()
	a, err := queue.RebalanceAction(onRebalance).Action()
	if err != nil {
		return nil, err
	}
	t[notice.KindRebalance] = a
	return t, t.Set(overrides, decide.ModeQueue)
}

// queueDrainer is the engine, or its dry run (--dry-run).
func queueDrainer(d *drain.Drainer, dryRun bool) queue.Drainer {
	if dryRun {
		return drain.DryRun{Drainer: d}
	}
	return d
}

// detacher is the Auto Scaling client for --detach-from-asg, nil without it.
func detacher(on bool, cfg aws.Config) asgdetach.API {
	if !on {
		return nil
	}
	return autoscaling.NewFromConfig(cfg)
}

// watchConditions runs the node-condition source over every Node
// (--on-condition) while queue mode leads, and acts on each notice through
// the processor like a message's; a withdrawn notice releases the cordon.
func watchConditions(ctx context.Context, client kube.Interface, specs []string, p *queue.Processor, g *Globals) {
	rules, err := nodecondition.ParseRules(specs, validAction)
	if err != nil {
		g.Log.Error("--on-condition", logging.KeyError, err)
		return
	}
	src, err := nodecondition.New(nodecondition.Config{Client: client, Rules: rules, Log: g.Log})
	if err != nil {
		g.Log.Error("--on-condition", logging.KeyError, err)
		return
	}
	notices := make(chan notice.Notice, 16)
	var work sync.WaitGroup
	defer work.Wait()
	go func() {
		if err := src.Run(ctx, notices); err != nil && ctx.Err() == nil {
			g.Log.Error("node-condition source stopped", logging.KeyError, err)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-notices:
			n.Source = nodecondition.Name
			work.Go(func() {
				if _, err := p.Process(ctx, message.Event{Notice: n}, 1); err != nil && ctx.Err() == nil {
					g.Log.Warn("acting on a node condition failed", logging.KeyNotice, n.ID, logging.KeyNode, n.Node, logging.KeyError, err)
				}
			})
		}
	}
}
