// Package atrisk answers, ahead of time, which pods would not get a graceful,
// PodDisruptionBudget-respecting exit if a node got a notice of a given
// length now (`lifeboat plan`). It reads a snapshot of the cluster (Cluster,
// filled from informers or one LIST each) and decides with pure functions of
// that snapshot and a time, using the drain engine's own rules
// (drain.Dispose, drain.GraceFor): which pods a drain removes, in which
// wave, with which grace period, and when it falls back from a blocked
// eviction to a deletion.
//
// Every pod that would not leave gracefully is listed with one or more
// Reason codes; pods that would leave gracefully are not listed. Per node,
// the report gives the expected drain time (each removed pod taking its
// whole grace period, PDB-guarded pods paced by their replacements'
// readiness) and whether it fits the notice.
package atrisk

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
)

// Reason says why a pod would not get a graceful, PDB-respecting exit. The
// codes are part of lifeboat's stable output (JSON, metrics labels).
type Reason string

// The reason codes, in the order they are reported.
const (
	// PDBBlocks: a PodDisruptionBudget allows no disruption now, can never
	// allow one (maxUnavailable 0, minAvailable at least the expected
	// pods), or several budgets select the pod (the Eviction API refuses
	// such pods). The drain deletes it at its fallback point instead.
	PDBBlocks Reason = "pdb-blocks"
	// GraceExceedsNotice: the pod's grace period (or its preStop sleep, if
	// longer) does not fit in the notice minus the safety margin; the drain
	// cuts it short.
	GraceExceedsNotice Reason = "grace-exceeds-notice"
	// ReplacementTooSlow: the budget lets the pod go only after earlier
	// pods' replacements are Ready, and that comes after the pod's fallback
	// point; the drain deletes it without the budget's consent.
	ReplacementTooSlow Reason = "replacement-too-slow"
	// NoController: no controller recreates the pod (none declared, or its
	// DaemonSet is gone); a drain needs --force and the pod is lost.
	NoController Reason = "no-controller"
	// LocalStorage: the pod keeps data on the node (emptyDir, hostPath, or
	// a PersistentVolume of type local) that will not follow it.
	LocalStorage Reason = "local-storage"
	// DoNotDisrupt: the pod carries karpenter.sh/do-not-disrupt=true or
	// cluster-autoscaler.kubernetes.io/safe-to-evict=false; the drain evicts
	// it last, but a notice of the node's end cannot honour the wish.
	DoNotDisrupt Reason = "do-not-disrupt"
	// EvictNever: the pod carries lifeboat.dev/evict=never; the drain leaves
	// it and it goes down with the node.
	EvictNever Reason = "evict-never"
	// SingleReplica: its workload runs one replica, so removing it is an
	// outage until the replacement is Ready.
	SingleReplica Reason = "single-replica"
)

// Reasons lists every code in report order.
var Reasons = []Reason{PDBBlocks, GraceExceedsNotice, ReplacementTooSlow, NoController, LocalStorage, DoNotDisrupt, EvictNever, SingleReplica}

// AnnotationDoNotDisrupt is Karpenter's opt-out of voluntary disruption
// (the drain's own constant).
const AnnotationDoNotDisrupt = drain.AnnotationKarpenterDoNotDisrupt

// Cluster is the snapshot an assessment reads. Slices may be in any order.
type Cluster struct {
	Nodes                  []*corev1.Node
	Pods                   []*corev1.Pod
	PDBs                   []*policyv1.PodDisruptionBudget
	ReplicaSets            []*appsv1.ReplicaSet
	StatefulSets           []*appsv1.StatefulSet
	DaemonSets             []*appsv1.DaemonSet
	ReplicationControllers []*corev1.ReplicationController
	PVCs                   []*corev1.PersistentVolumeClaim
	PVs                    []*corev1.PersistentVolume
}

// Options tune an assessment.
type Options struct {
	// Notice is the simulated time between the notice and the node's end.
	Notice time.Duration
	// Drain holds the drain settings that change the arithmetic:
	// GracePeriodSeconds (-1: the pod's own) and SafetyMargin. Deadline is
	// set from Notice; Force and DeleteEmptyDirData are assumed (the pods
	// they concern are listed as no-controller and local-storage).
	Drain drain.Options
}

// Report is the answer for one notice length. Its JSON field names are
// stable (docs/PLAN.md).
type Report struct {
	// Notice is the simulated notice ("30s").
	Notice string `json:"notice"`
	// NoticeSeconds is Notice in seconds.
	NoticeSeconds float64 `json:"noticeSeconds"`
	// SafetyMarginSeconds is kept free before the end of the notice.
	SafetyMarginSeconds float64 `json:"safetyMarginSeconds"`
	// GeneratedAt is the time the assessment simulated the notice at.
	GeneratedAt time.Time `json:"generatedAt"`
	// Summary counts what follows.
	Summary Summary `json:"summary"`
	// Nodes has one entry per node assessed, by name.
	Nodes []NodeReport `json:"nodes"`
	// Pods lists every pod that would not get a graceful exit, by node,
	// namespace and name. Never null.
	Pods []PodRisk `json:"pods"`
}

// Summary counts a report.
type Summary struct {
	Nodes       int            `json:"nodes"`
	NodesFit    int            `json:"nodesFit"`
	PodsAtRisk  int            `json:"podsAtRisk"`
	ByReason    map[Reason]int `json:"byReason"`
	AllFit      bool           `json:"allFit"`
	PodsRemoved int            `json:"podsRemoved"`
}

// NodeReport is the expected drain of one node.
type NodeReport struct {
	// Name is the node's name.
	Name string `json:"name"`
	// Pods is how many pods the drain would remove.
	Pods int `json:"pods"`
	// ExpectedDrainSeconds is when the last removed pod is expected to be
	// gone, counted from the notice (every pod using its whole grace period).
	ExpectedDrainSeconds float64 `json:"expectedDrainSeconds"`
	// Fits is true when every removed pod leaves gracefully, with its own
	// grace period, within the notice minus the safety margin.
	Fits bool `json:"fits"`
	// AtRisk counts the node's pods listed in Report.Pods.
	AtRisk int `json:"atRisk"`
	// Timeline has one entry per removed pod, in eviction order.
	Timeline []Step `json:"timeline"`
}

// Step is one pod's expected removal on a node's timeline.
type Step struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Wave is ordinary, last or critical (lifeboat.dev/evict=last, system pods).
	Wave string `json:"wave"`
	// StartSeconds is when its eviction (or fallback deletion) is expected.
	StartSeconds float64 `json:"startSeconds"`
	// EndSeconds is when it is expected to be gone.
	EndSeconds float64 `json:"endSeconds"`
	// Reasons repeats the pod's timing reasons (pdb-blocks,
	// grace-exceeds-notice, replacement-too-slow), if any.
	Reasons []Reason `json:"reasons,omitempty"`
}

// PodRisk is one pod that would not get a graceful exit.
type PodRisk struct {
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Node      string   `json:"node"`
	Reasons   []Reason `json:"reasons"`
	// Details explains each reason in a sentence, keyed by code.
	Details map[Reason]string `json:"details"`
	// Workload is the pod's controller, "Kind/name", if any.
	Workload string `json:"workload,omitempty"`
	// GraceSeconds is the grace period the pod asks for.
	GraceSeconds float64 `json:"graceSeconds"`
}
