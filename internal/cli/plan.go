//go:build !lifeboat_agent

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/atrisk"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/kube/clientset"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/metrics"
	"github.com/lifeboat-dev/lifeboat/internal/version"
)

func init() { addCommand(newPlanCommand) }

// ExitAtRisk is the exit code of `lifeboat plan` when at least one pod would
// not get a graceful exit (or a node's drain does not fit the notice).
const ExitAtRisk = 4

// PlanOptions are the flags of `lifeboat plan`.
type PlanOptions struct {
	// Kube selects the cluster.
	Kube kube.Options
	// Notices are the simulated notice lengths (one for a report, any
	// number with --serve).
	Notices []time.Duration
	// Selector chooses nodes by label when no node is named.
	Selector string
	// Output is table, json or html.
	Output string
	// GracePeriod and SafetyMargin are the drain's own flags.
	GracePeriod  int64
	SafetyMargin time.Duration
	// SyncTimeout bounds the initial read of the cluster.
	SyncTimeout time.Duration
	// Serve keeps running and exports the answer as metrics.
	Serve bool
	// Refresh is the timer of --serve; changes re-assess sooner.
	Refresh time.Duration
	// Metrics configures the server of --serve.
	Metrics metrics.Options

	nodes    []string
	selector labels.Selector
}

// NewPlanOptions returns the defaults.
func NewPlanOptions() *PlanOptions {
	return &PlanOptions{
		Kube: kube.DefaultOptions(), Notices: []time.Duration{2 * time.Minute}, Output: "table",
		GracePeriod: -1, SafetyMargin: drain.DefaultSafetyMargin, SyncTimeout: time.Minute,
		Refresh: time.Minute, Metrics: metrics.DefaultOptions(),
	}
}

// AddFlags registers the flags.
func (o *PlanOptions) AddFlags(fs *pflag.FlagSet) {
	o.Kube.AddFlags(fs)
	fs.DurationSliceVar(&o.Notices, "notice", o.Notices, "Length of the simulated notice (e.g. 30s for GCP preemption, 2m for an AWS spot interruption); with --serve, a comma-separated list.")
	fs.StringVarP(&o.Selector, "selector", "l", o.Selector, "Assess only nodes matching this label selector (when no NODE is named).")
	fs.StringVarP(&o.Output, "output", "o", o.Output, "Output format: table, json or html (a self-contained page with a timeline per node).")
	fs.Int64Var(&o.GracePeriod, "grace-period", o.GracePeriod, "The drain's --grace-period: seconds each pod gets; -1 uses the pod's own.")
	fs.DurationVar(&o.SafetyMargin, "safety-margin", o.SafetyMargin, "The drain's --safety-margin: time kept free before the end of the notice.")
	fs.DurationVar(&o.SyncTimeout, "sync-timeout", o.SyncTimeout, "How long reading the cluster may take before giving up.")
	fs.BoolVar(&o.Serve, "serve", o.Serve, "Keep running: re-assess on every change and every --refresh, and export lifeboat_pods_at_risk and per-node fit on --metrics-address.")
	fs.DurationVar(&o.Refresh, "refresh", o.Refresh, "With --serve: re-assess at least this often even without changes.")
	o.Metrics.AddFlags(fs)
}

// Complete takes the node names from the arguments.
func (o *PlanOptions) Complete(args []string) {
	o.nodes = nil
	if len(args) > 0 {
		o.nodes = slices.Clone(args)
	}
}

// Validate checks the flags.
func (o *PlanOptions) Validate() error {
	if err := o.Kube.Validate(); err != nil {
		return err
	}
	if len(o.Notices) == 0 {
		return errors.New("--notice needs at least one duration")
	}
	for _, n := range o.Notices {
		if n <= 0 {
			return fmt.Errorf("--notice must be positive, got %s", n)
		}
	}
	if len(o.Notices) > 1 && !o.Serve {
		return fmt.Errorf("--notice takes one duration without --serve, got %d", len(o.Notices))
	}
	switch o.Output {
	case "table", "json", "html":
	default:
		return fmt.Errorf("--output must be table, json or html, got %q", o.Output)
	}
	if o.GracePeriod < -1 {
		return fmt.Errorf("--grace-period must be -1 or a number of seconds >= 0, got %d", o.GracePeriod)
	}
	if o.SafetyMargin < 0 {
		return fmt.Errorf("--safety-margin must not be negative, got %s", o.SafetyMargin)
	}
	if o.SyncTimeout <= 0 {
		return fmt.Errorf("--sync-timeout must be positive, got %s", o.SyncTimeout)
	}
	if o.Serve && o.Refresh <= 0 {
		return fmt.Errorf("--refresh must be positive, got %s", o.Refresh)
	}
	if o.Serve {
		if err := o.Metrics.Validate(); err != nil {
			return err
		}
		if o.Metrics.Address == "" {
			return errors.New("--serve needs --metrics-address")
		}
	}
	o.selector = nil
	if o.Selector != "" {
		if len(o.nodes) > 0 {
			return errors.New("--selector cannot be combined with node names")
		}
		sel, err := labels.Parse(o.Selector)
		if err != nil {
			return fmt.Errorf("--selector: %w", err)
		}
		o.selector = sel
	}
	return nil
}

func (o *PlanOptions) assessOptions() atrisk.Options {
	return atrisk.Options{Drain: drain.Options{GracePeriodSeconds: o.GracePeriod, SafetyMargin: o.SafetyMargin}}
}

// selectNodes returns the nodes to assess in a snapshot: the named ones
// (each must exist), those matching --selector, or nil for all.
func (o *PlanOptions) selectNodes(c *atrisk.Cluster) ([]string, error) {
	if o.selector != nil {
		out := []string{}
		for _, n := range c.Nodes {
			if o.selector.Matches(labels.Set(n.Labels)) {
				out = append(out, n.Name)
			}
		}
		return out, nil
	}
	for _, name := range o.nodes {
		if !slices.ContainsFunc(c.Nodes, func(n *corev1.Node) bool { return n.Name == name }) {
			return nil, &drain.NodeNotFoundError{Node: name}
		}
	}
	return o.nodes, nil
}

func newPlanCommand(g *Globals) *cobra.Command {
	o := NewPlanOptions()
	cmd := &cobra.Command{
		Use:   "plan [NODE...]",
		Short: "Tell, before any notice, which pods would not get a graceful, PDB-respecting exit",
		Long: "Simulates a notice of --notice on each node (default: every node, or those matching --selector) against\n" +
			"the live cluster, reading only, and lists every pod that would not leave gracefully with reason codes:\n" +
			"pdb-blocks, grace-exceeds-notice, replacement-too-slow, no-controller, local-storage, do-not-disrupt,\n" +
			"evict-never, single-replica. Per node it shows the expected drain time and whether it fits.\n\n" +
			fmt.Sprintf("Exit codes: 0 everything fits; %d some pod would die hard or a drain does not fit; 1 an error.\n", ExitAtRisk) +
			"With --serve it keeps running and exports the same answer as metrics (docs/PLAN.md).",
		Example: `  lifeboat plan --notice 2m
  lifeboat plan node-1 node-2 --notice 30s -o json
  lifeboat plan -l karpenter.sh/capacity-type=spot --notice 2m -o html > plan.html
  lifeboat plan --serve --notice 30s,2m --metrics-address :9101`,
		PreRunE: func(_ *cobra.Command, args []string) error {
			o.Complete(args)
			return o.Validate()
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, _, err := clientset.ForOptions(&o.Kube)
			if err != nil {
				return err
			}
			return o.Run(cmd.Context(), g, client, clock.RealClock{})
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// Run reads the cluster through informers, then prints one report, or with
// --serve keeps exporting metrics until ctx ends.
func (o *PlanOptions) Run(ctx context.Context, g *Globals, client kubernetes.Interface, clk clock.WithTicker) error {
	src := atrisk.NewSource(client)
	defer src.Shutdown()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := src.Start(ctx, o.SyncTimeout); err != nil {
		return err
	}
	if o.Serve {
		return o.serve(ctx, g, src, clk)
	}
	c, err := src.Snapshot()
	if err != nil {
		return err
	}
	nodes, err := o.selectNodes(c)
	if err != nil {
		return err
	}
	ao := o.assessOptions()
	ao.Notice = o.Notices[0]
	r := atrisk.Assess(c, nodes, ao, clk.Now())
	if err := writeReport(g.Stdout, o.Output, r); err != nil {
		return err
	}
	if !r.Summary.AllFit {
		return &ExitError{Code: ExitAtRisk, Err: fmt.Errorf("%d pod(s) would not get a graceful exit; %d of %d node(s) fit a %s notice",
			r.Summary.PodsAtRisk, r.Summary.NodesFit, r.Summary.Nodes, r.Notice)}
	}
	return nil
}

func writeReport(w io.Writer, format string, r *atrisk.Report) error {
	switch format {
	case "json":
		return atrisk.WriteJSON(w, r)
	case "html":
		return atrisk.WriteHTML(w, r)
	default:
		return atrisk.WriteTable(w, r)
	}
}

// serve exports the assessment as metrics, refreshed on changes and on the
// timer, until ctx ends.
func (o *PlanOptions) serve(ctx context.Context, g *Globals, src *atrisk.Source, clk clock.WithTicker) error {
	m := metrics.New(version.Version)
	ar := metrics.NewAtRisk(m)
	srv := metrics.NewServer(o.Metrics, m, g.Log)
	if _, err := srv.Listen(); err != nil {
		return err
	}
	names := make([]string, len(o.Notices))
	for i, n := range o.Notices {
		names[i] = atrisk.NoticeLabel(n)
	}
	loop := &atrisk.Loop{
		Source:      src,
		Notices:     o.Notices,
		Options:     o.assessOptions(),
		Interval:    o.Refresh,
		MinInterval: time.Second,
		Clock:       clk,
		Log:         g.Log,
		Selected: func(c *atrisk.Cluster) []string {
			nodes, err := o.selectNodes(c)
			if err != nil {
				g.Log.Warn("assessing", logging.KeyError, err)
				return []string{}
			}
			return nodes
		},
		Publish: func(rs []*atrisk.Report, t atrisk.Trigger) {
			for _, r := range rs {
				fits := make([]metrics.NodeFit, len(r.Nodes))
				for i, n := range r.Nodes {
					fits[i] = metrics.NodeFit{Node: n.Name, Fits: n.Fits, ExpectedSeconds: n.ExpectedDrainSeconds}
				}
				ar.SetAssessment(r.Notice, atrisk.CountsByReason(r), fits)
			}
			ar.Refreshed(string(t), clk.Now())
			srv.SetReady(true)
			m.SetReady(true)
		},
	}
	g.Log.Info("serving at-risk metrics", "notice", strings.Join(names, ","), "refresh", o.Refresh.String())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	looped := make(chan struct{})
	go func() { defer close(looped); loop.Run(ctx) }()
	err := srv.Run(ctx)
	cancel()
	<-looped
	return err
}
