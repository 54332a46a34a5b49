package drain

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// wave orders evictions: ordinary pods first, pods that asked to go last
// next, critical pods (system priority classes, kube-system) at the end.
type wave int

const (
	waveOrdinary wave = iota
	waveLast
	waveCritical
	waveCount
)

// selection is what a drain will do with the pods on a node.
type selection struct {
	evict    [waveCount][]corev1.Pod
	finished []corev1.Pod // Succeeded/Failed: deleted, not evicted
	skipped  []PodRef
	refused  []PodRef // pods that need a consent flag; Reason names it
	judged   []types.UID
}

// waves returns the pods to remove wave by wave; finished pods are deleted
// in the first.
func (s *selection) waves() [waveCount][]corev1.Pod {
	w := s.evict
	w[waveOrdinary] = append(slices.Clone(s.finished), w[waveOrdinary]...)
	return w
}

// consent returns the refusal for the pods that need a flag, nil if none.
func (s *selection) consent(node string) *ConsentError {
	if len(s.refused) == 0 {
		return nil
	}
	byProblem := map[string][]string{}
	for _, r := range s.refused {
		byProblem[r.Reason] = append(byProblem[r.Reason], r.String())
	}
	ce := &ConsentError{Node: node}
	for _, msg := range []string{problemUnmanaged, problemOrphanDS, problemLocalStore} {
		if pods := byProblem[msg]; len(pods) > 0 {
			ce.Problems = append(ce.Problems, msg+": "+strings.Join(pods, ", "))
		}
	}
	return ce
}

func (s *selection) total() int {
	n := len(s.finished)
	for _, w := range s.evict {
		n += len(w)
	}
	return n
}

// Consent problems, each naming the flag that allows the removal (the
// wording follows kubectl drain).
const (
	problemUnmanaged  = "cannot delete Pods that declare no controller (use --force to override)"
	problemOrphanDS   = "cannot delete DaemonSet Pods whose DaemonSet no longer exists (use --force to override)"
	problemLocalStore = "cannot delete Pods with local storage (use --delete-emptydir-data to override)"
)

// verdict is what selection decides for one pod.
type verdict struct {
	skip    string // why the pod stays on the node ("" when it goes)
	problem string // the consent flag the pod needs ("" when none)
}

// selectPods restates kubectl drain's rules on the pods the drain's own
// watch sees on the node, so that an API failure is never mistaken for a
// consent refusal: mirror pods and DaemonSet pods stay (a DaemonSet pod
// whose DaemonSet is gone is an orphan that needs Force; any other error
// looking it up is returned as it is); pods without a controller need
// Force; pods with emptyDir volumes need DeleteEmptyDirData; finished pods
// are deleted; pods annotated lifeboat.dev/evict=never stay; PodSelector
// limits the drain. The rest is sorted into waves. Pods that need a flag
// are listed in refused (see selection.consent). Pods in done are ignored.
func (d *Drainer) selectPods(ctx context.Context, opts Options, onNode []corev1.Pod, done map[types.UID]bool) (*selection, error) {
	match := labels.Everything()
	if opts.PodSelector != "" {
		var err error
		if match, err = labels.Parse(opts.PodSelector); err != nil {
			return nil, fmt.Errorf("--pod-selector: %w", err)
		}
	}
	sort.Slice(onNode, func(i, j int) bool { return key(&onNode[i]) < key(&onNode[j]) })
	sel := &selection{}
	dsExists := map[string]bool{}
	for i := range onNode {
		p := &onNode[i]
		if done[p.UID] || !match.Matches(labels.Set(p.Labels)) {
			continue
		}
		v, err := d.judge(ctx, p, opts, dsExists)
		if err != nil {
			return nil, err
		}
		sel.judged = append(sel.judged, p.UID)
		switch {
		case v.problem != "":
			sel.refused = append(sel.refused, PodRef{Namespace: p.Namespace, Name: p.Name, Reason: v.problem})
		case v.skip != "":
			sel.skipped = append(sel.skipped, PodRef{Namespace: p.Namespace, Name: p.Name, Reason: v.skip})
		case isFinished(p):
			sel.finished = append(sel.finished, *p)
		default:
			w := podWave(p)
			sel.evict[w] = append(sel.evict[w], *p)
		}
	}
	return sel, nil
}

// judge applies kubectl drain's filters, in kubectl's order, to one pod;
// lifeboat.dev/evict=never comes before the consent checks.
// dsExists caches DaemonSet lookups for one selection.
func (d *Drainer) judge(ctx context.Context, p *corev1.Pod, opts Options, dsExists map[string]bool) (verdict, error) {
	ctrl := metav1.GetControllerOf(p)
	if ctrl != nil && ctrl.Kind == "DaemonSet" && !isFinished(p) {
		exists, err := d.daemonSetExists(ctx, p.Namespace, ctrl.Name, opts.Deadline, dsExists)
		switch {
		case err != nil:
			return verdict{}, err
		case exists:
			return verdict{skip: "DaemonSet"}, nil
		case !opts.Force:
			return verdict{problem: problemOrphanDS}, nil
		}
	}
	if _, ok := p.Annotations[corev1.MirrorPodAnnotationKey]; ok {
		return verdict{skip: "mirror pod"}, nil
	}
	// A pod that stays by its owner's wish needs no consent to stay.
	if p.Annotations[AnnotationEvict] == "never" {
		return verdict{skip: AnnotationEvict + "=never"}, nil
	}
	if hasLocalStorage(p) && !isFinished(p) && !opts.DeleteEmptyDirData {
		return verdict{problem: problemLocalStore}, nil
	}
	if ctrl == nil && !isFinished(p) && !opts.Force {
		return verdict{problem: problemUnmanaged}, nil
	}
	return verdict{}, nil
}

// daemonSetExists looks a DaemonSet up (once per selection). NotFound is an
// answer (false); any other failure is returned as the API error it is.
func (d *Drainer) daemonSetExists(ctx context.Context, ns, name string, deadline time.Time, cache map[string]bool) (bool, error) {
	k := ns + "/" + name
	if exists, ok := cache[k]; ok {
		return exists, nil
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout(d.clock.Now(), deadline))
	defer cancel()
	_, err := d.client.AppsV1().DaemonSets(ns).Get(cctx, name, metav1.GetOptions{})
	switch {
	case err == nil:
		cache[k] = true
	case apierrors.IsNotFound(err):
		cache[k] = false
	default:
		return false, fmt.Errorf("looking up DaemonSet %s: %w", k, err)
	}
	return cache[k], nil
}

func hasLocalStorage(p *corev1.Pod) bool {
	for _, v := range p.Spec.Volumes {
		if v.EmptyDir != nil {
			return true
		}
	}
	return false
}

func isFinished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// podsOnNode lists the node's pods (for the dry run, which starts no watch).
func (d *Drainer) podsOnNode(ctx context.Context, node string, deadline time.Time) ([]corev1.Pod, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout(d.clock.Now(), deadline))
	defer cancel()
	l, err := d.client.CoreV1().Pods(metav1.NamespaceAll).List(cctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
	})
	if err != nil {
		return nil, fmt.Errorf("listing pods on node %s: %w", node, err)
	}
	return l.Items, nil
}

func podWave(p *corev1.Pod) wave {
	switch {
	case isCritical(p):
		return waveCritical
	case p.Annotations[AnnotationEvict] == "last", evictLastByPeer(p):
		return waveLast
	default:
		return waveOrdinary
	}
}

// Annotations of other tools that ask a pod not to be disrupted. lifeboat
// reads them as "evict last": the node goes away either way, so such a pod
// still gets its SIGTERM with the time left, after ordinary pods moved.
const (
	AnnotationKarpenterDoNotDisrupt = "karpenter.sh/do-not-disrupt"
	AnnotationSafeToEvict           = "cluster-autoscaler.kubernetes.io/safe-to-evict"
)

// evictLastByPeer reports a pod that Karpenter or cluster-autoscaler users
// marked as not to be disrupted.
func evictLastByPeer(p *corev1.Pod) bool {
	return p.Annotations[AnnotationKarpenterDoNotDisrupt] == "true" || p.Annotations[AnnotationSafeToEvict] == "false"
}

func isCritical(p *corev1.Pod) bool {
	switch p.Spec.PriorityClassName {
	case "system-node-critical", "system-cluster-critical":
		return true
	}
	return p.Namespace == metav1.NamespaceSystem
}

// isShutdownLeftover reports a pod that kubelet's GracefulNodeShutdown
// terminated: phase Failed with reason Terminated or NodeShutdown, or a
// DisruptionTarget condition with reason TerminationByKubelet.
func isShutdownLeftover(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodFailed {
		return false
	}
	if p.Status.Reason == "Terminated" || p.Status.Reason == "NodeShutdown" {
		return true
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Reason == "TerminationByKubelet" {
			return true
		}
	}
	return false
}

// RemoveShutdownLeftovers deletes the pods kubelet's GracefulNodeShutdown
// left on the node (they would otherwise linger as Failed) and returns how
// many it removed.
func (d *Drainer) RemoveShutdownLeftovers(ctx context.Context, node string) (int, error) {
	l, err := d.client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.AndSelectors(
			fields.OneTermEqualSelector("spec.nodeName", node),
			fields.OneTermEqualSelector("status.phase", string(corev1.PodFailed)),
		).String(),
	})
	if err != nil {
		return 0, err
	}
	return d.removeLeftovers(ctx, node, l.Items, Options{})
}

// removeLeftovers deletes the GracefulNodeShutdown leftovers among pods.
func (d *Drainer) removeLeftovers(ctx context.Context, node string, pods []corev1.Pod, opts Options) (int, error) {
	n := 0
	for i := range pods {
		p := &pods[i]
		if !isShutdownLeftover(p) {
			continue
		}
		uid := p.UID
		cctx, cancel := context.WithTimeout(ctx, callTimeout(d.clock.Now(), opts.Deadline))
		err := d.client.CoreV1().Pods(p.Namespace).Delete(cctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		cancel()
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return n, fmt.Errorf("deleting GracefulNodeShutdown leftover %s: %w", key(p), err)
		}
		n++
	}
	if n > 0 {
		e := opts.step(StepLeftoversRemoved, node)
		e.Message = "removed pods left by GracefulNodeShutdown"
		d.emit(e)
	}
	return n, nil
}
