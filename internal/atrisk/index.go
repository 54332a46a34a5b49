package atrisk

import (
	"regexp"
	"slices"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// workload is a pod's controller as far as the assessment cares.
type workload struct {
	kind, name string
	// replicas is the desired replica count; -1 when the kind has none.
	replicas int32
}

// budget is a PDB with its selector parsed.
type budget struct {
	pdb *policyv1.PodDisruptionBudget
	sel labels.Selector
}

// index holds the lookups one assessment needs, built once from a Cluster.
type index struct {
	podsByNode map[string][]*corev1.Pod
	siblings   map[types.UID][]*corev1.Pod // by controller UID
	budgets    map[string][]budget         // by namespace
	workloads  map[types.UID]workload
	daemonSets map[string]bool // namespace/name
	localPVCs  map[string]bool // namespace/name of claims bound to local PVs
}

func newIndex(c *Cluster) *index {
	ix := &index{
		podsByNode: map[string][]*corev1.Pod{},
		siblings:   map[types.UID][]*corev1.Pod{},
		budgets:    map[string][]budget{},
		workloads:  map[types.UID]workload{},
		daemonSets: map[string]bool{},
		localPVCs:  map[string]bool{},
	}
	for _, p := range c.Pods {
		if p.Spec.NodeName != "" {
			ix.podsByNode[p.Spec.NodeName] = append(ix.podsByNode[p.Spec.NodeName], p)
		}
		if ctrl := metav1.GetControllerOf(p); ctrl != nil {
			ix.siblings[ctrl.UID] = append(ix.siblings[ctrl.UID], p)
		}
	}
	for _, pods := range ix.podsByNode {
		sort.Slice(pods, func(i, j int) bool { return podKey(pods[i]) < podKey(pods[j]) })
	}
	for _, b := range c.PDBs {
		// policy/v1: a nil selector selects nothing, an empty one every pod
		// of the namespace; LabelSelectorAsSelector says exactly that.
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		if err != nil {
			continue
		}
		ix.budgets[b.Namespace] = append(ix.budgets[b.Namespace], budget{pdb: b, sel: sel})
	}
	for _, rs := range c.ReplicaSets {
		ix.workloads[rs.UID] = workload{kind: "ReplicaSet", name: rs.Name, replicas: replicasOf(rs.Spec.Replicas)}
	}
	for _, s := range c.StatefulSets {
		ix.workloads[s.UID] = workload{kind: "StatefulSet", name: s.Name, replicas: replicasOf(s.Spec.Replicas)}
	}
	for _, rc := range c.ReplicationControllers {
		ix.workloads[rc.UID] = workload{kind: "ReplicationController", name: rc.Name, replicas: replicasOf(rc.Spec.Replicas)}
	}
	for _, ds := range c.DaemonSets {
		ix.daemonSets[ds.Namespace+"/"+ds.Name] = true
	}
	local := map[string]bool{}
	for _, pv := range c.PVs {
		if pv.Spec.Local != nil {
			local[pv.Name] = true
		}
	}
	for _, pvc := range c.PVCs {
		if pvc.Spec.VolumeName != "" && local[pvc.Spec.VolumeName] {
			ix.localPVCs[pvc.Namespace+"/"+pvc.Name] = true
		}
	}
	return ix
}

// replicasOf reads spec.replicas; the API server defaults a missing one to 1.
func replicasOf(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

func podKey(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }

func (ix *index) daemonSetExists(ns, name string) bool { return ix.daemonSets[ns+"/"+name] }

// budgetsOf returns the PDBs selecting p.
func (ix *index) budgetsOf(p *corev1.Pod) []budget {
	var out []budget
	for _, b := range ix.budgets[p.Namespace] {
		if b.sel.Matches(labels.Set(p.Labels)) {
			out = append(out, b)
		}
	}
	return out
}

// workloadOf returns p's controller, if the snapshot knows it.
func (ix *index) workloadOf(p *corev1.Pod) (workload, bool) {
	ctrl := metav1.GetControllerOf(p)
	if ctrl == nil {
		return workload{}, false
	}
	if w, ok := ix.workloads[ctrl.UID]; ok {
		return w, true
	}
	return workload{kind: ctrl.Kind, name: ctrl.Name, replicas: -1}, true
}

// localStorage names the volume of p that keeps data on the node: emptyDir
// (the drain's own test), hostPath, or a claim bound to a local PV.
func (ix *index) localStorage(p *corev1.Pod, usesEmptyDir bool) string {
	for _, v := range p.Spec.Volumes {
		switch {
		case v.EmptyDir != nil && usesEmptyDir:
			return "emptyDir volume " + v.Name
		case v.HostPath != nil:
			return "hostPath volume " + v.Name
		case v.PersistentVolumeClaim != nil && ix.localPVCs[p.Namespace+"/"+v.PersistentVolumeClaim.ClaimName]:
			return "local PersistentVolume claimed by " + v.PersistentVolumeClaim.ClaimName
		}
	}
	return ""
}

// readiness is how long a replacement of p is expected to take to become
// Ready, and where that figure comes from: the median of creation-to-Ready
// of the Ready pods of p's controller (its recent history); else the first
// readiness probe's initialDelaySeconds plus one period; else zero.
func (ix *index) readiness(p *corev1.Pod) (time.Duration, string) {
	if ctrl := metav1.GetControllerOf(p); ctrl != nil {
		if d, ok := ReadyHistory(ix.siblings[ctrl.UID]); ok {
			return d, "readiness history"
		}
	}
	for _, c := range p.Spec.Containers {
		if rp := c.ReadinessProbe; rp != nil {
			period := rp.PeriodSeconds
			if period == 0 {
				period = 10
			}
			return time.Duration(rp.InitialDelaySeconds+period) * time.Second, "readiness probe"
		}
	}
	return 0, ""
}

// ReadyHistory is the median time from creation to Ready of the pods given
// that are Ready now and not terminating; false when there is none.
func ReadyHistory(pods []*corev1.Pod) (time.Duration, bool) {
	var ds []time.Duration
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && !c.LastTransitionTime.IsZero() {
				ds = append(ds, max(c.LastTransitionTime.Sub(p.CreationTimestamp.Time), 0))
			}
		}
	}
	if len(ds) == 0 {
		return 0, false
	}
	slices.Sort(ds)
	return ds[len(ds)/2], true
}

var sleepCommand = regexp.MustCompile(`(?:^|[\s;&|])sleep\s+(\d+)(?:\s|$|;)`)

// PreStopSleep is the longest sleep a container's preStop hook asks for:
// the sleep action, or an exec hook running `sleep N`; zero for none.
func PreStopSleep(p *corev1.Pod) time.Duration {
	var longest int64
	for _, c := range p.Spec.Containers {
		if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
			continue
		}
		h := c.Lifecycle.PreStop
		if h.Sleep != nil {
			longest = max(longest, h.Sleep.Seconds)
		}
		if h.Exec != nil {
			for _, arg := range h.Exec.Command {
				for _, m := range sleepCommand.FindAllStringSubmatch(arg, -1) {
					if n, err := strconv.ParseInt(m[1], 10, 64); err == nil {
						longest = max(longest, n)
					}
				}
			}
			if c := h.Exec.Command; len(c) == 2 && (c[0] == "sleep" || c[0] == "/bin/sleep") {
				if n, err := strconv.ParseInt(c[1], 10, 64); err == nil {
					longest = max(longest, n)
				}
			}
		}
	}
	return time.Duration(longest) * time.Second
}
