package drain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	kdrain "k8s.io/kubectl/pkg/drain"
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
}

func (s *selection) total() int {
	n := len(s.finished)
	for _, w := range s.evict {
		n += len(w)
	}
	return n
}

// selectPods applies kubectl drain's filters (DaemonSet and mirror pods are
// skipped; emptyDir pods need DeleteEmptyDirData, pods without a controller
// need Force) plus lifeboat's own annotation, and sorts the rest into waves.
// onNode are all pods on the node, to report the ones left by design.
func (d *Drainer) selectPods(ctx context.Context, node string, opts Options, onNode []corev1.Pod) (*selection, error) {
	h := &kdrain.Helper{
		Ctx:                 ctx,
		Client:              d.client,
		Force:               opts.Force,
		IgnoreAllDaemonSets: true,
		DeleteEmptyDirData:  opts.DeleteEmptyDirData,
		PodSelector:         opts.PodSelector,
		GracePeriodSeconds:  -1,
		AdditionalFilters:   []kdrain.PodFilter{neverFilter},
		Out:                 io.Discard,
		ErrOut:              io.Discard,
	}
	list, errs := h.GetPodsForDeletion(node)
	if len(errs) > 0 {
		ce := &ConsentError{Node: node}
		for _, e := range errs {
			if isTransport(e) {
				return nil, e
			}
			ce.Problems = append(ce.Problems, e.Error())
		}
		return nil, ce
	}
	sel := &selection{}
	chosen := map[string]bool{}
	for _, p := range list.Pods() {
		chosen[string(p.UID)] = true
		switch p.Status.Phase {
		case corev1.PodSucceeded, corev1.PodFailed:
			sel.finished = append(sel.finished, p)
		default:
			w := podWave(&p)
			sel.evict[w] = append(sel.evict[w], p)
		}
	}
	match := labels.Everything()
	if opts.PodSelector != "" {
		var err error
		if match, err = labels.Parse(opts.PodSelector); err != nil {
			return nil, fmt.Errorf("--pod-selector: %w", err)
		}
	}
	for i := range onNode {
		if p := &onNode[i]; !chosen[string(p.UID)] && match.Matches(labels.Set(p.Labels)) {
			sel.skipped = append(sel.skipped, PodRef{Namespace: p.Namespace, Name: p.Name, Reason: skipReason(p)})
		}
	}
	sort.Slice(sel.skipped, func(i, j int) bool { return sel.skipped[i].String() < sel.skipped[j].String() })
	return sel, nil
}

// isTransport reports an error from talking to the API server rather than
// a kubectl filter's verdict on a pod.
func isTransport(err error) bool {
	var st apierrors.APIStatus
	var ue *url.Error
	return errors.As(err, &st) || errors.As(err, &ue) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func (d *Drainer) podsOnNode(ctx context.Context, node, selector string) ([]corev1.Pod, error) {
	l, err := d.client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
		LabelSelector: selector,
	})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// neverFilter keeps pods annotated lifeboat.dev/evict=never on the node.
func neverFilter(p corev1.Pod) kdrain.PodDeleteStatus {
	if p.Annotations[AnnotationEvict] == "never" {
		return kdrain.MakePodDeleteStatusSkip()
	}
	return kdrain.MakePodDeleteStatusOkay()
}

func podWave(p *corev1.Pod) wave {
	switch {
	case isCritical(p):
		return waveCritical
	case p.Annotations[AnnotationEvict] == "last":
		return waveLast
	default:
		return waveOrdinary
	}
}

func isCritical(p *corev1.Pod) bool {
	switch p.Spec.PriorityClassName {
	case "system-node-critical", "system-cluster-critical":
		return true
	}
	return p.Namespace == metav1.NamespaceSystem
}

func skipReason(p *corev1.Pod) string {
	if _, ok := p.Annotations[corev1.MirrorPodAnnotationKey]; ok {
		return "mirror pod"
	}
	if c := metav1.GetControllerOf(p); c != nil && c.Kind == "DaemonSet" {
		return "DaemonSet"
	}
	if p.Annotations[AnnotationEvict] == "never" {
		return AnnotationEvict + "=never"
	}
	if p.DeletionTimestamp != nil {
		return "already terminating"
	}
	return "filtered"
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
	return d.removeLeftovers(ctx, node, l.Items)
}

// removeLeftovers deletes the GracefulNodeShutdown leftovers among pods.
func (d *Drainer) removeLeftovers(ctx context.Context, node string, pods []corev1.Pod) (int, error) {
	n := 0
	for i := range pods {
		p := &pods[i]
		if !isShutdownLeftover(p) {
			continue
		}
		uid := p.UID
		err := d.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return n, err
		}
		n++
	}
	if n > 0 {
		d.emit(Event{Type: EventLeftoversRemoved, Node: node, Message: "removed pods left by GracefulNodeShutdown"})
	}
	return n, nil
}
