package drain

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// plan fills res.Plan with what a drain would do, writing nothing.
func (d *Drainer) plan(ctx context.Context, n *corev1.Node, opts Options, res *Result) error {
	add := func(format string, a ...any) { res.Plan = append(res.Plan, fmt.Sprintf(format, a...)) }
	mark, has, _ := ReadMark(n)
	switch {
	case !n.Spec.Unschedulable:
		add("cordon node %s and record lifeboat's ownership (annotation %s)", n.Name, AnnotationCordon)
	case has && mark.Unschedulable:
		add("node %s is already cordoned by lifeboat (%s)", n.Name, mark.Reason)
	default:
		add("node %s is already cordoned by someone else; lifeboat will not claim or undo that cordon", n.Name)
	}
	if t := opts.Taint; t != nil && !hasTaint(n, t) {
		add("add taint %s=%s:%s", t.Key, t.Value, t.Effect)
	}
	if _, ok := n.Labels[LabelExcludeFromLB]; opts.ExcludeFromLoadBalancers && !ok {
		add("add label %s=true", LabelExcludeFromLB)
	}
	all, err := d.podsOnNode(ctx, n.Name, opts.Deadline)
	if err != nil {
		return err
	}
	leftovers := map[types.UID]bool{}
	for i := range all {
		if isShutdownLeftover(&all[i]) {
			leftovers[all[i].UID] = true
			add("delete GracefulNodeShutdown leftover %s", key(&all[i]))
		}
	}
	sel, err := d.selectPods(ctx, opts, all, leftovers)
	if err != nil {
		return err
	}
	for _, r := range sel.refused {
		add("refuse: %s needs consent: %s", r, r.Reason)
	}
	res.Pods, res.Skipped = sel.total(), sel.skipped
	for i := range sel.finished {
		add("delete finished pod %s", key(&sel.finished[i]))
	}
	tm := newTiming(opts)
	names := [waveCount]string{"", " (after ordinary pods: lifeboat.dev/evict=last, karpenter.sh/do-not-disrupt or safe-to-evict=false)", " (last: critical pod)"}
	for w, pods := range sel.evict {
		for i := range pods {
			p := &pods[i]
			g := tm.ownGrace(p)
			if c := tm.grace(d.clock.Now(), p); c != nil {
				g = *c
			}
			add("evict %s with a %ds grace period%s%s", key(p), g, names[w], d.pdbNote(ctx, p))
		}
	}
	for _, s := range sel.skipped {
		add("skip %s: %s", s, s.Reason)
	}
	if opts.DeleteNode {
		add("delete node %s once it is empty", n.Name)
	}
	if ce := sel.consent(n.Name); ce != nil {
		return ce
	}
	return nil
}

// pdbNote describes the budgets covering a pod for the dry-run plan.
func (d *Drainer) pdbNote(ctx context.Context, p *corev1.Pod) string {
	l, err := d.client.PolicyV1().PodDisruptionBudgets(p.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return ""
	}
	note := ""
	for _, b := range l.Items {
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		note += fmt.Sprintf("; PDB %s/%s allows %d disruption(s) now", b.Namespace, b.Name, b.Status.DisruptionsAllowed)
	}
	return note
}
