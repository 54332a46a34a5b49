// Package drain empties a Kubernetes node gracefully: it cordons the node
// with a record of lifeboat's ownership, evicts pods in parallel through the
// policy/v1 Eviction API while never exceeding a PodDisruptionBudget, retries
// blocked evictions as soon as a watched PDB allows it, and, when a deadline
// would otherwise be missed, falls back to deletions whose grace periods end
// before the deadline. Every mode of lifeboat ends in this package.
package drain

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/lifeboat-dev/lifeboat/internal/budget"
)

// DeadlinePolicy says what to do with pods still blocked by a PDB once
// waiting longer would cost them their graceful shutdown.
type DeadlinePolicy string

const (
	// OnDeadlineDelete deletes the blocked pods with a grace period that still
	// fits before the deadline (the default: the node is going away anyway).
	OnDeadlineDelete DeadlinePolicy = "delete"
	// OnDeadlineAbort leaves PDB-blocked pods alone and reports the drain as
	// incomplete.
	OnDeadlineAbort DeadlinePolicy = "abort"
)

// Pod annotations that let a workload owner influence the drain.
const (
	// AnnotationEvict on a pod: "last" evicts it after all ordinary pods,
	// "never" leaves it on the node (it is reported as skipped).
	AnnotationEvict = "lifeboat.dev/evict"
	// AnnotationCordon on a node records the notices in force and what
	// lifeboat changed for them (JSON, see Mark), so releasing the last
	// notice undoes only that.
	AnnotationCordon = "lifeboat.dev/cordon"
	// LabelExcludeFromLB tells service load balancers to stop sending traffic.
	LabelExcludeFromLB = "node.kubernetes.io/exclude-from-external-load-balancers"
	// TaintAtRisk (PreferNoSchedule) marks a node that may go away soon (an
	// AWS rebalance recommendation) without cordoning it; agent and queue
	// mode use the same key.
	TaintAtRisk = "lifeboat.dev/at-risk"
)

// Options tunes one drain. The zero value is a kubectl-like drain with no
// deadline; see each field.
type Options struct {
	// Force allows removing pods that have no controller.
	Force bool
	// DeleteEmptyDirData allows removing pods that use emptyDir volumes.
	DeleteEmptyDirData bool
	// PodSelector, a label selector, limits the drain to matching pods.
	PodSelector string
	// GracePeriodSeconds overrides each pod's terminationGracePeriodSeconds;
	// -1 uses the pod's own. Always capped to fit before Deadline. 0 (from
	// the override or the pod) is used as 1: lifeboat never asks for a
	// force deletion of a running pod.
	GracePeriodSeconds int64
	// Deadline is when the node disappears; zero means none.
	Deadline time.Time
	// OnDeadline is the policy for PDB-blocked pods near the deadline.
	OnDeadline DeadlinePolicy
	// DeleteNode deletes the Node object once it is empty.
	DeleteNode bool
	// DryRun computes and reports the plan without writing anything.
	DryRun bool
	// IgnoreMissing turns "node not found" into success.
	IgnoreMissing bool
	// Taint, when set, is added on cordon and removed when the last notice
	// is released (or by Uncordon).
	Taint *corev1.Taint
	// ExcludeFromLoadBalancers adds LabelExcludeFromLB on cordon (not on a
	// taint-only mark); it goes when no notice wants the cordon any more.
	ExcludeFromLoadBalancers bool
	// Reason is recorded on the node with the cordon ("spot interruption").
	Reason string
	// NoticeID identifies the notice that caused the drain; it is recorded
	// in the node's mark, ManualNoticeID when empty.
	NoticeID string
	// NoticeKind is the notice kind that caused the drain, if any.
	NoticeKind string
	// WaitForVolumeDetach waits, after the evicted pods are gone and before
	// the drain returns (and the Node is deleted), until the VolumeAttachments
	// of the volumes they used are gone, bounded by the deadline minus the
	// safety margin (5 minutes without a deadline).
	WaitForVolumeDetach bool
	// Budget, if set, is the cluster's drain budget: the drain holds a slot
	// while it runs; a Voluntary drain first waits for one.
	Budget *budget.Budget
	// Voluntary drains wait for a budget slot (scheduled maintenance,
	// rebalance, scale-in, a drain by hand); others take one at once.
	Voluntary bool
	// Actor names the lifeboat mode acting ("agent", "queue", "lambda"),
	// recorded in the mark. When set, marking a node on which another mode
	// already acts on the same cloud event fails with *ClaimedError.
	Actor string
	// MaxConcurrency bounds the eviction and deletion requests in flight
	// (not pods waiting on a PDB or terminating); 0 means unbounded.
	MaxConcurrency int
	// SafetyMargin is kept free before the deadline when fitting grace
	// periods; 0 means DefaultSafetyMargin.
	SafetyMargin time.Duration
}

// DefaultSafetyMargin is the time kept between a capped grace period's end
// and the deadline, so kubelet can finish before the machine goes.
const DefaultSafetyMargin = 2 * time.Second

// PodRef names a pod and, where relevant, why it is listed.
type PodRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Reason explains a skip, a block or a leftover ("daemonset", "PDB web").
	Reason string `json:"reason,omitempty"`
}

// String returns namespace/name.
func (p PodRef) String() string { return p.Namespace + "/" + p.Name }

// Result summarises a drain.
type Result struct {
	// Node is the node drained.
	Node string `json:"node"`
	// Missing is set when the node did not exist and IgnoreMissing was set.
	Missing bool `json:"missing,omitempty"`
	// Cordoned reports that this call set spec.unschedulable (false if the
	// node already was cordoned, by lifeboat for another notice or by an
	// administrator).
	Cordoned bool `json:"cordoned"`
	// Pods is how many pods the drain set out to remove.
	Pods int `json:"pods"`
	// Evicted counts pods removed through the Eviction API.
	Evicted int `json:"evicted"`
	// Deleted counts finished pods and deadline fallbacks removed by deletion.
	Deleted int `json:"deleted"`
	// Fallbacks counts PDB-blocked pods deleted because of the deadline.
	Fallbacks int `json:"fallbacks"`
	// Skipped lists pods left by design (DaemonSet, mirror, annotation).
	Skipped []PodRef `json:"skipped,omitempty"`
	// Left lists pods still on the node when the drain ended, each with why
	// ("blocked by PDB ns/x", "still terminating", "not attempted: ...").
	Left []PodRef `json:"left,omitempty"`
	// LeftoversRemoved counts GracefulNodeShutdown leftovers deleted.
	LeftoversRemoved int `json:"leftoversRemoved,omitempty"`
	// NodeDeleted reports that the Node object was deleted.
	NodeDeleted bool `json:"nodeDeleted,omitempty"`
	// marked is set once the drain recorded itself in lifeboat's mark (and
	// its node conditions), so its end is written to them too.
	marked bool
	// VolumesAttached lists the VolumeAttachments ("name (volume)") of the
	// evicted pods' volumes still on the node when the wait for their
	// detachment ran out (WaitForVolumeDetach).
	VolumesAttached []string `json:"volumesAttached,omitempty"`
	// Plan lists what a dry run would do, one line each.
	Plan []string `json:"plan,omitempty"`
	// Started and Duration time the drain.
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
}

// Complete reports whether no pod that should have gone is left.
func (r *Result) Complete() bool { return r != nil && len(r.Left) == 0 }
