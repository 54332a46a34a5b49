package drain

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
)

// This file exports the drain's own per-pod rules as pure functions, for
// callers that judge ahead of time what a drain would do (internal/atrisk:
// `lifeboat plan`) without writing to the cluster or making API calls. Each
// one calls the function the drain itself uses, so the two cannot drift.

// Consent problems as Disposition reports them (see ConsentError).
const (
	// ProblemUnmanaged: the pod declares no controller (needs Force).
	ProblemUnmanaged = problemUnmanaged
	// ProblemOrphanDaemonSet: the pod's DaemonSet no longer exists (needs Force).
	ProblemOrphanDaemonSet = problemOrphanDS
	// ProblemLocalStorage: the pod uses emptyDir (needs DeleteEmptyDirData).
	ProblemLocalStorage = problemLocalStore
)

// Wave numbers of Disposition.Wave, in the order a drain evicts them.
const (
	// WaveOrdinary holds every pod not in a later wave.
	WaveOrdinary = int(waveOrdinary)
	// WaveLast holds pods annotated lifeboat.dev/evict=last.
	WaveLast = int(waveLast)
	// WaveCritical holds system-critical pods and kube-system pods.
	WaveCritical = int(waveCritical)
)

// Disposition is what a drain with opts would do with one pod.
type Disposition struct {
	// Skip says why the pod stays on the node ("DaemonSet", "mirror pod",
	// "lifeboat.dev/evict=never"); empty when the drain removes it.
	Skip string
	// Problems lists every consent problem of the pod that opts does not
	// allow (Problem* constants); a drain refuses the node while any is left.
	Problems []string
	// Finished is set for Succeeded/Failed pods, deleted rather than evicted.
	Finished bool
	// Wave is the pod's eviction wave (Wave* constants).
	Wave int
}

// Dispose judges p exactly as a drain's pod selection does, with the
// existence of a DaemonSet answered by daemonSetExists (an informer, say)
// instead of an API call. Unlike a drain, which stops at a pod's first
// consent problem, it reports all of them.
func Dispose(p *corev1.Pod, opts Options, daemonSetExists func(namespace, name string) bool) Disposition {
	cache := map[string]bool{}
	if ctrl := metav1.GetControllerOf(p); ctrl != nil && ctrl.Kind == "DaemonSet" {
		cache[p.Namespace+"/"+ctrl.Name] = daemonSetExists(p.Namespace, ctrl.Name)
	}
	d := &Drainer{clock: clock.RealClock{}}
	// Every DaemonSet lookup is answered from cache, so judge makes no call
	// and returns no error.
	judge := func(o Options) verdict {
		v, _ := d.judge(context.Background(), p, o, cache)
		return v
	}
	v := judge(opts)
	disp := Disposition{Skip: v.skip, Finished: isFinished(p), Wave: int(podWave(p))}
	if v.skip != "" {
		return disp
	}
	// Ask again with each consent flag in turn to find the problems the
	// first one hid.
	seen := map[string]bool{}
	for _, o := range []Options{opts, withFlags(opts, true, false), withFlags(opts, false, true)} {
		if pr := judge(o).problem; pr != "" && !seen[pr] {
			seen[pr] = true
			disp.Problems = append(disp.Problems, pr)
		}
	}
	return disp
}

func withFlags(o Options, force, emptyDir bool) Options {
	o.Force = o.Force || force
	o.DeleteEmptyDirData = o.DeleteEmptyDirData || emptyDir
	return o
}

// PodGrace is the grace-period arithmetic a drain applies to one pod.
type PodGrace struct {
	// Own is the grace period the pod would get without a deadline.
	Own time.Duration
	// Granted is the grace period requested at the time asked about:
	// Own, or less when Own would end past the deadline minus the margin.
	Granted time.Duration
	// FallbackAt is the last moment a PDB-blocked eviction of the pod is
	// retried before the drain deletes it instead (zero without a deadline).
	FallbackAt time.Time
}

// GraceFor returns the grace arithmetic a drain with opts (Deadline,
// GracePeriodSeconds, SafetyMargin) applies to p when it asks at now.
func GraceFor(now time.Time, p *corev1.Pod, opts Options) PodGrace {
	t := newTiming(opts)
	own := t.ownGrace(p)
	granted := own
	if g := t.grace(now, p); g != nil {
		granted = *g
	}
	return PodGrace{
		Own:        time.Duration(own) * time.Second,
		Granted:    time.Duration(granted) * time.Second,
		FallbackAt: t.fallbackAt(p),
	}
}

// EffectiveSafetyMargin is the margin a drain with opts keeps before its
// deadline (DefaultSafetyMargin when opts leaves it zero).
func EffectiveSafetyMargin(opts Options) time.Duration { return newTiming(opts).margin }

// UsesEmptyDir reports whether p has an emptyDir volume, the local storage
// a drain asks consent for.
func UsesEmptyDir(p *corev1.Pod) bool { return hasLocalStorage(p) }

// AsksNotToBeDisrupted reports a pod that Karpenter
// (karpenter.sh/do-not-disrupt=true) or cluster-autoscaler
// (cluster-autoscaler.kubernetes.io/safe-to-evict=false) users marked as not
// to be disrupted; a drain evicts it in WaveLast.
func AsksNotToBeDisrupted(p *corev1.Pod) bool { return evictLastByPeer(p) }
