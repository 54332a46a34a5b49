package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"

	"github.com/lifeboat-dev/lifeboat/internal/budget"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/kube"
)

// DrainFlags are the drain-engine flags shared by every command that drains
// (drain, agent, queue, lambda). Commands set their own defaults first.
type DrainFlags struct {
	// Force removes pods that have no controller.
	Force bool
	// DeleteEmptyDirData removes pods that use emptyDir volumes.
	DeleteEmptyDirData bool
	// PodSelector limits the drain to pods matching this label selector.
	PodSelector string
	// GracePeriod overrides pods' termination grace period (-1: the pod's own).
	GracePeriod int64
	// OnDeadline is delete or abort: what to do with PDB-blocked pods near the deadline.
	OnDeadline string
	// Taint is "key[=value]:Effect", added on cordon and removed by uncordon; empty for none.
	Taint string
	// ExcludeFromLB labels the node node.kubernetes.io/exclude-from-external-load-balancers.
	ExcludeFromLB bool
	// MaxConcurrency bounds parallel evictions (0: unbounded).
	MaxConcurrency int
	// SafetyMargin is kept free between capped grace periods and the deadline.
	SafetyMargin time.Duration
	// WaitForVolumeDetach waits for the evicted pods' volumes to detach
	// before the drain ends (and the Node is deleted).
	WaitForVolumeDetach bool
	// MaxConcurrentDrains is the cluster's drain budget (0: none).
	MaxConcurrentDrains int
	// DrainGroupLabel gives each value of this node label its own budget.
	DrainGroupLabel string
	// LeaseNamespace holds the budget's Leases (default: $POD_NAMESPACE,
	// else "default").
	LeaseNamespace string

	taint *corev1.Taint
}

// DefaultDrainFlags are kubectl-like: consent flags off, pods' own grace.
func DefaultDrainFlags() DrainFlags {
	return DrainFlags{GracePeriod: -1, OnDeadline: string(drain.OnDeadlineDelete), ExcludeFromLB: true, SafetyMargin: drain.DefaultSafetyMargin, WaitForVolumeDetach: true}
}

// AddFlags registers the flags.
func (o *DrainFlags) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.Force, "force", o.Force, "Also remove pods that are not managed by a controller (they will not come back).")
	fs.BoolVar(&o.DeleteEmptyDirData, "delete-emptydir-data", o.DeleteEmptyDirData, "Also remove pods that use emptyDir volumes (their data is lost).")
	fs.StringVar(&o.PodSelector, "pod-selector", o.PodSelector, "Only remove pods matching this label selector.")
	fs.Int64Var(&o.GracePeriod, "grace-period", o.GracePeriod, "Seconds each pod gets to terminate; -1 uses the pod's own; 0 is used as 1 (lifeboat never force-deletes a running pod). Always capped to end before the deadline.")
	fs.StringVar(&o.OnDeadline, "on-deadline", o.OnDeadline, "What to do with pods a PodDisruptionBudget still blocks when waiting longer would cost them their grace period: delete (with a grace period that fits) or abort (leave them, never exceed a PDB).")
	fs.StringVar(&o.Taint, "taint", o.Taint, `Taint to add while draining, "key[=value]:Effect" (removed again by uncordon). Empty for none.`)
	fs.BoolVar(&o.ExcludeFromLB, "exclude-from-load-balancers", o.ExcludeFromLB, "Label the node node.kubernetes.io/exclude-from-external-load-balancers while draining.")
	fs.IntVar(&o.MaxConcurrency, "max-concurrent-evictions", o.MaxConcurrency, "Maximum eviction and delete requests in flight at once (pods waiting on a PDB or terminating do not count); 0 means no limit.")
	fs.DurationVar(&o.SafetyMargin, "safety-margin", o.SafetyMargin, "Time kept free between the end of capped grace periods and the deadline.")
	fs.IntVar(&o.MaxConcurrentDrains, "max-concurrent-drains", o.MaxConcurrentDrains, "Cluster-wide drain budget: nodes that may drain at once for voluntary reasons (scheduled maintenance, rebalance, scale-in, a drain by hand), "+
		"held as Leases in --lease-namespace; spot interruptions, preemptions and host shutdowns never wait but hold a slot. 0 means no budget.")
	fs.StringVar(&o.DrainGroupLabel, "drain-group-label", o.DrainGroupLabel, "Node label whose values get a drain budget each (e.g. topology.kubernetes.io/zone); empty: one budget for the cluster.")
	fs.StringVar(&o.LeaseNamespace, "lease-namespace", o.LeaseNamespace, "Namespace of the drain budget's Leases (default: $POD_NAMESPACE, else default).")
	fs.BoolVar(&o.WaitForVolumeDetach, "wait-for-volume-detach", o.WaitForVolumeDetach, "After the pods are gone, wait until the VolumeAttachments of the volumes they used are gone before the drain ends "+
		"(and before the Node is deleted, a lifecycle hook completed, an Azure event acknowledged or a host shutdown let through); bounded by the deadline minus --safety-margin, 5m without a deadline.")
}

// Validate checks the flags and parses --taint.
func (o *DrainFlags) Validate() error {
	if o.GracePeriod < -1 {
		return fmt.Errorf("--grace-period must be -1 or a number of seconds >= 0, got %d", o.GracePeriod)
	}
	if o.OnDeadline != string(drain.OnDeadlineDelete) && o.OnDeadline != string(drain.OnDeadlineAbort) {
		return fmt.Errorf("--on-deadline must be delete or abort, got %q", o.OnDeadline)
	}
	if o.MaxConcurrency < 0 {
		return fmt.Errorf("--max-concurrent-evictions must be >= 0, got %d", o.MaxConcurrency)
	}
	if o.SafetyMargin < 0 {
		return fmt.Errorf("--safety-margin must not be negative, got %s", o.SafetyMargin)
	}
	if o.MaxConcurrentDrains < 0 {
		return fmt.Errorf("--max-concurrent-drains must be >= 0, got %d", o.MaxConcurrentDrains)
	}
	if o.DrainGroupLabel != "" && o.MaxConcurrentDrains == 0 {
		return errors.New("--drain-group-label needs --max-concurrent-drains")
	}
	o.taint = nil
	if o.Taint != "" {
		t, err := ParseTaint(o.Taint)
		if err != nil {
			return fmt.Errorf("--taint: %w", err)
		}
		o.taint = t
	}
	return nil
}

// Options converts the flags to engine options (call after Validate).
func (o *DrainFlags) Options() drain.Options {
	return drain.Options{
		Force: o.Force, DeleteEmptyDirData: o.DeleteEmptyDirData, PodSelector: o.PodSelector,
		GracePeriodSeconds: o.GracePeriod, OnDeadline: drain.DeadlinePolicy(o.OnDeadline),
		Taint: o.taint, ExcludeFromLoadBalancers: o.ExcludeFromLB, MaxConcurrency: o.MaxConcurrency,
		SafetyMargin: o.SafetyMargin, WaitForVolumeDetach: o.WaitForVolumeDetach,
	}
}

// Budget builds the drain budget (nil without --max-concurrent-drains).
// holder names this process in the Leases; podNamespace is the default
// lease namespace.
func (o *DrainFlags) Budget(client kube.Interface, holder, podNamespace string, log *slog.Logger) (*budget.Budget, error) {
	ns := o.LeaseNamespace
	if ns == "" {
		ns = podNamespace
	}
	if ns == "" {
		ns = "default"
	}
	return budget.New(budget.Config{Client: client, Namespace: ns, Max: o.MaxConcurrentDrains, GroupLabel: o.DrainGroupLabel, Holder: holder, Log: log})
}

// ParseTaint parses "key[=value]:Effect".
func ParseTaint(s string) (*corev1.Taint, error) {
	kv, effect, ok := strings.Cut(s, ":")
	if !ok || kv == "" {
		return nil, fmt.Errorf("%q is not key[=value]:Effect", s)
	}
	k, v, _ := strings.Cut(kv, "=")
	switch e := corev1.TaintEffect(effect); e {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		return &corev1.Taint{Key: k, Value: v, Effect: e}, nil
	default:
		return nil, fmt.Errorf("effect %q must be NoSchedule, PreferNoSchedule or NoExecute", effect)
	}
}
