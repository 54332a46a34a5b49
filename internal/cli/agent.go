package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lifeboat-dev/lifeboat/internal/agent"
	"github.com/lifeboat-dev/lifeboat/internal/decide"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/exetrim"
	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notice/detect"
)

func init() { addCommand(newAgentCommand) }

// AgentOptions are the flags of `lifeboat agent`.
type AgentOptions struct {
	// Kube selects the cluster.
	Kube kube.Options
	// Drain tunes the engine; the agent evicts emptyDir and controller-less
	// pods by default because the node is going away anyway.
	Drain DrainFlags
	// Reporting configures metrics, health and notifications.
	Reporting ReportingOptions
	// Node is this node's name (default: $NODE_NAME, then the hostname).
	Node string
	// Platform is none, auto or one of detect.Platforms.
	Platform string
	// MetadataURL is the cloud metadata service's base URL.
	MetadataURL string
	// DeleteNode allows deleting the Node after drains for notices that end the machine.
	DeleteNode bool
	// ShutdownTimeout bounds the drain on a host shutdown (keep it below systemd's TimeoutStopSec).
	ShutdownTimeout time.Duration
	// ShutdownDeleteNode is auto (delete only on power-off), always or never.
	ShutdownDeleteNode string
	// ShutdownDrain is what SIGTERM means in host mode: auto (drain only when
	// the host shuts down) or always.
	ShutdownDrain string
	// OnRebalance is the action for an AWS rebalance recommendation.
	OnRebalance string
	// Actions overrides the action per notice kind ("kind=action").
	Actions []string
	// NoticeTimeout is the deadline of drains whose notice gives none.
	NoticeTimeout time.Duration
	// MaintenanceLead defers reboot-type maintenance drains (taint until then).
	MaintenanceLead time.Duration
	// AtRiskTTL expires a rebalance recommendation's taint.
	AtRiskTTL time.Duration
	// DryRun detects, decides and reports, and writes nothing.
	DryRun bool
	// RunMode is host (systemd), pod (DaemonSet) or auto.
	RunMode string
	// PodName and PodNamespace identify the agent's pod in pod mode.
	PodName, PodNamespace string
	// AWSAllowIMDSv1 permits token-less IMDSv1 requests.
	AWSAllowIMDSv1 bool
	// AzureVMName is this VM's name in Scheduled Events (default: derived).
	AzureVMName string
	// GCPPreemptionWindow is the deadline after a GCP preemption is detected.
	GCPPreemptionWindow time.Duration
	// OnCondition are --on-condition rules (TYPE[=STATUS]=ACTION).
	OnCondition []string
	// DetachFromASG detaches a spot-interrupted instance from its Auto
	// Scaling group without decrementing the desired capacity (AWS).
	DetachFromASG bool

	// Set by Complete: the action table, the resolved run mode and a
	// warning to log at start, whether $KUBERNETES_SERVICE_HOST is set.
	actions     decide.Table
	mode        agent.RunMode
	modeWarning string
	inCluster   string
}

// NewAgentOptions returns the defaults.
func NewAgentOptions() *AgentOptions {
	d := DefaultDrainFlags()
	d.Force, d.DeleteEmptyDirData = true, true
	return &AgentOptions{
		Kube: kube.DefaultOptions(), Drain: d, Reporting: DefaultReportingOptions(),
		Platform: "auto", DeleteNode: true, ShutdownTimeout: 150 * time.Second, ShutdownDeleteNode: "auto",
		ShutdownDrain: string(agent.ShutdownDrainAuto), OnRebalance: string(decide.ActionTaint), NoticeTimeout: 5 * time.Minute,
		MaintenanceLead: 15 * time.Minute, AtRiskTTL: 6 * time.Hour,
		RunMode: "auto", GCPPreemptionWindow: 30 * time.Second,
	}
}

// AddFlags registers the flags.
func (o *AgentOptions) AddFlags(fs *pflag.FlagSet) {
	o.Kube.AddFlags(fs)
	o.Drain.AddFlags(fs)
	o.Reporting.AddFlags(fs)
	fs.StringVar(&o.Node, "node", o.Node, "This node's name (default: $NODE_NAME, then the hostname).")
	fs.StringVar(&o.Platform, "platform", o.Platform, "Cloud platform: none, aws, azure, gcp, alibaba, tencent, digitalocean, or auto (from the Node's providerID, then metadata probes).")
	fs.StringVar(&o.MetadataURL, "metadata-url", o.MetadataURL, "Base URL of the cloud metadata service (default: the platform's, http://169.254.169.254).")
	fs.BoolVar(&o.DeleteNode, "delete-node", o.DeleteNode, "Delete the Node object after draining for notices that end the machine (spot, termination, scale-in).")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", o.ShutdownTimeout, "How long a host-shutdown drain may take; keep it below systemd's TimeoutStopSec.")
	fs.StringVar(&o.ShutdownDeleteNode, "shutdown-delete-node", o.ShutdownDeleteNode, "On host shutdown delete the Node: auto (only on power-off, as systemd reports it), always or never.")
	fs.StringVar(&o.ShutdownDrain, "shutdown-drain", o.ShutdownDrain, "What SIGTERM means in host mode: auto (drain only when systemd is shutting down, rebooting or halting the host; "+
		"a restart, stop or upgrade of the service just exits; on Windows every SIGTERM drains) or always (drain on every SIGTERM, for hosts without systemd).")
	fs.StringVar(&o.OnRebalance, "on-rebalance", o.OnRebalance, "Action for an AWS rebalance recommendation: none, taint, cordon or drain.")
	fs.StringArrayVar(&o.Actions, "action", o.Actions, actionFlagUsage)
	fs.DurationVar(&o.NoticeTimeout, "notice-timeout", o.NoticeTimeout, "Deadline for drains whose notice carries none (e.g. an Auto Scaling termination).")
	fs.DurationVar(&o.MaintenanceLead, "maintenance-lead", o.MaintenanceLead, "Start draining a reboot-type scheduled maintenance (AWS reboot/system-maintenance, Azure Reboot/Redeploy, GCP host maintenance) "+
		"this long before it; until then only taint the node at risk with a MaintenancePlanned condition (retirements drain at once). 0 drains at once.")
	fs.BoolVar(&o.DryRun, "dry-run", o.DryRun, "Observe mode: detect, decide and report what lifeboat would do (Events, metrics, notifications: \"would drain node X, N pods, by T\"), "+
		"and change nothing: no cordon, taint, eviction, handled record or acknowledgement. For running beside another handler before switching.")
	fs.DurationVar(&o.AtRiskTTL, "at-risk-ttl", o.AtRiskTTL, "Remove a rebalance recommendation's at-risk taint after this long if no interruption followed; 0 keeps it.")
	fs.StringVar(&o.RunMode, "run-mode", o.RunMode, "host (systemd unit: SIGTERM drains only if the host shuts down, see --shutdown-drain), pod (DaemonSet: SIGTERM drains only if "+
		"the kubelet reports the node shutting down) or auto (pod if $KUBERNETES_SERVICE_HOST or a pod name is set, else host).")
	fs.StringVar(&o.PodName, "pod-name", o.PodName, "The agent's pod name in pod mode (default: $POD_NAME).")
	fs.StringVar(&o.PodNamespace, "pod-namespace", o.PodNamespace, "The agent's pod namespace in pod mode (default: $POD_NAMESPACE).")
	fs.BoolVar(&o.AWSAllowIMDSv1, "aws-allow-imdsv1", o.AWSAllowIMDSv1, "Allow token-less IMDSv1 requests when no IMDSv2 token can be had.")
	fs.StringVar(&o.AzureVMName, "azure-vm-name", o.AzureVMName, "This VM's name in Azure Scheduled Events (default: from the providerID or IMDS).")
	fs.DurationVar(&o.GCPPreemptionWindow, "gcp-preemption-window", o.GCPPreemptionWindow, "Deadline after a GCP preemption is detected: 30s, "+
		"or 120s for Spot VMs created with scheduling.preemptionNoticeDuration=120s (the metadata server does not tell).")
	// Issue 15 additions: node conditions, ASG detach.
	addOnConditionFlag(fs, &o.OnCondition)
	fs.BoolVar(&o.DetachFromASG, "detach-from-asg", o.DetachFromASG, "AWS: on a spot interruption, detach the instance from its Auto Scaling group "+
		"without decrementing the desired capacity, so the replacement launches at once (needs credentials with autoscaling:DetachInstances "+
		"and autoscaling:DescribeAutoScalingInstances, and AWS_REGION).")
}

// Complete fills what the flags left unset from the environment (read
// through g.LookupEnv): the pod identity, the node name, the run mode, and
// the action table. Validate then only checks.
func (o *AgentOptions) Complete(g *Globals) error {
	getenv := func(k string) string { v, _ := g.LookupEnv(k); return v }
	if o.PodName == "" {
		o.PodName = getenv("POD_NAME")
	}
	if o.PodNamespace == "" {
		o.PodNamespace = getenv("POD_NAMESPACE")
	}
	if o.Node == "" {
		o.Node = getenv("NODE_NAME")
	}
	if o.Node == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("--node not set, $NODE_NAME empty and no hostname: %w", err)
		}
		o.Node = h
	}
	o.inCluster = getenv("KUBERNETES_SERVICE_HOST")
	o.actions = decide.DefaultTable()
	o.actions[notice.KindRebalance] = decide.Action(o.OnRebalance)
	return nil
}

// Validate checks the flags (after Complete).
func (o *AgentOptions) Validate() error {
	for _, v := range []func() error{o.Kube.Validate, o.Drain.Validate, o.Reporting.Validate} {
		if err := v(); err != nil {
			return err
		}
	}
	if err := oneOf("--platform", o.Platform, append([]string{"none", "auto"}, detect.Platforms...)...); err != nil {
		return err
	}
	if _, err := agent.ParseShutdownDelete(o.ShutdownDeleteNode); err != nil {
		return fmt.Errorf("--shutdown-delete-node: %w", err)
	}
	if err := oneOf("--on-rebalance", o.OnRebalance, "none", "taint", "cordon", "drain"); err != nil {
		return err
	}
	if err := oneOf("--run-mode", o.RunMode, "auto", "host", "pod"); err != nil {
		return err
	}
	if err := oneOf("--shutdown-drain", o.ShutdownDrain, "auto", "always"); err != nil {
		return err
	}
	if o.ShutdownTimeout <= 0 {
		return fmt.Errorf("--shutdown-timeout must be positive, got %s", o.ShutdownTimeout)
	}
	if o.NoticeTimeout <= 0 {
		return fmt.Errorf("--notice-timeout must be positive, got %s", o.NoticeTimeout)
	}
	if o.MaintenanceLead < 0 {
		return fmt.Errorf("--maintenance-lead must not be negative, got %s", o.MaintenanceLead)
	}
	if o.AtRiskTTL < 0 {
		return fmt.Errorf("--at-risk-ttl must not be negative, got %s", o.AtRiskTTL)
	}
	if o.GCPPreemptionWindow <= 0 {
		return fmt.Errorf("--gcp-preemption-window must be positive, got %s", o.GCPPreemptionWindow)
	}
	if err := validateOnCondition(o.OnCondition); err != nil { // issue 15
		return err
	}
	if err := o.actions.Set(o.Actions, decide.ModeAgent); err != nil {
		return err
	}
	var err error
	o.mode, o.modeWarning, err = agent.ResolveRunMode(agent.RunMode(o.RunMode),
		agent.RunEnv{KubernetesServiceHost: o.inCluster, PodName: o.PodName})
	return err
}

func oneOf(flag, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%s must be one of %v, got %q", flag, allowed, v)
}

func newAgentCommand(g *Globals) *cobra.Command {
	o := NewAgentOptions()
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run on a node: turn termination notices and host shutdowns into graceful drains",
		Long: "lifeboat agent runs on every node, as a systemd unit on the host or as a DaemonSet pod. It watches the\n" +
			"cloud's metadata for spot interruptions, rebalance recommendations, scheduled maintenance and scale-in, and\n" +
			"the host for shutdown, and drains the node before it goes away.\n\n" +
			"To stay small on every node it collects garbage at GOGC=50 unless GOGC is set in its environment, and\n" +
			"maps only the pages of its executable it runs (the kernel's fault-around is switched off).",
		Args: cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			if err := o.Complete(g); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			if o.modeWarning != "" && g.Log != nil {
				g.Log.Warn(o.modeWarning, "node", o.Node, "runMode", string(o.mode))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgent(cmd.Context(), g, o)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// agentGCPercent is the agent's garbage-collection target when GOGC is not
// set: `make bench-agent` measured a 100-pod drain's peak 3 MiB lower at 50
// than at Go's default 100 (20.2–20.7 against 22.1–24.1 MiB), for about
// 50 ms more CPU over the drain and no slower drain.
const agentGCPercent = 50

// gcPercent is the GC target the agent sets, and whether it sets one: GOGC
// in the environment wins.
func gcPercent(lookupEnv func(string) (string, bool)) (int, bool) {
	if _, set := lookupEnv("GOGC"); set {
		return 0, false
	}
	return agentGCPercent, true
}

// keepAgentSmall tunes the agent's memory: it lives on every node.
func keepAgentSmall(g *Globals) {
	if p, ok := gcPercent(g.LookupEnv); ok {
		debug.SetGCPercent(p)
	}
	// Only the executable's pages the agent touches stay mapped (cli.Main
	// trims what start-up touched).
	switch m, err := exetrim.MapOnTouch(); {
	case errors.Is(err, errors.ErrUnsupported):
	case err != nil:
		g.Log.Info("executable pages are mapped with fault-around", logging.KeyError, err)
	default:
		g.Log.Debug("executable pages are mapped on touch", "method", string(m))
	}
}

func runAgent(ctx context.Context, g *Globals, o *AgentOptions) error {
	keepAgentSmall(g)
	client, cfg, err := o.Kube.Client()
	if err != nil {
		return err
	}
	// Work that must outlive the signal (the shutdown drain, flushing
	// notifications) runs on a context that ignores it.
	bg := context.WithoutCancel(ctx)
	rep, err := o.Reporting.start(bg, g.Log, cfg, o.Node)
	if err != nil {
		return err
	}
	defer rep.close(10 * time.Second)
	engine := drain.New(client, drain.Config{Log: g.Log, Observer: rep.reporter()})
	var drainer agent.Drainer = engine
	if o.DryRun {
		drainer = drain.DryRun{Drainer: engine}
	}
	platform := o.Platform
	if platform == "auto" {
		platform = detectPlatform(ctx, client, o.Node, o.MetadataURL, g.Log)
	}
	sources, err := o.sources(ctx, client, platform, rep, g)
	if err != nil {
		return err
	}
	drainOpts := o.Drain.Options()
	if drainOpts.Budget, err = o.Drain.Budget(client, "agent/"+o.Node, o.PodNamespace, g.Log); err != nil {
		return err
	}
	a := agent.New(agent.Config{
		Client: client, Node: o.Node, Drainer: drainer, Sources: sources, Actions: o.actions,
		Drain: drainOpts, DeleteNode: o.DeleteNode, MaintenanceLead: o.MaintenanceLead, AtRiskTTL: o.AtRiskTTL, DryRun: o.DryRun, NoticeTimeout: o.NoticeTimeout, Log: g.Log,
		Reporter:      rep.reporter(),
		OnSourceReady: func(source string) { rep.metrics.SetSourceReady(source, true) },
	})
	for _, s := range sources {
		rep.metrics.SetSourceReady(s.Name(), false)
	}
	rep.setLiveness(a.Healthy)
	g.Log.Info("lifeboat agent starting", "node", o.Node, "platform", platform, "runMode", o.runMode())
	if err := a.Run(ctx, func() { rep.setReady(true) }); err != nil {
		return err
	}
	return o.onSignal(bg, g, client, a)
}

// runMode is --run-mode resolved by Validate (agent.ResolveRunMode).
func (o *AgentOptions) runMode() string { return string(o.mode) }

// onSignal hands SIGTERM/SIGINT to the agent (agent.Terminate decides
// whether it means the node is going away) and prints what a drain did.
func (o *AgentOptions) onSignal(ctx context.Context, g *Globals, client kube.Interface, a *agent.Agent) error {
	res, drained, err := a.Terminate(ctx, client, agent.Termination{
		Mode: o.mode, PodNamespace: o.PodNamespace, PodName: o.PodName,
		ShutdownDrain: agent.ShutdownDrain(o.ShutdownDrain), HostState: agent.ReadHostState,
		Shutdown: agent.ShutdownOptions{Timeout: o.ShutdownTimeout, DeleteNode: agent.ShutdownDelete(o.ShutdownDeleteNode)},
	})
	if !drained {
		return nil
	}
	printSummary(g.Stdout, res, err)
	var nf *drain.NodeNotFoundError
	if errors.As(err, &nf) {
		return nil
	}
	return drainExit(err)
}
