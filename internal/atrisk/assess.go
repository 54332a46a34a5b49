package atrisk

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
)

var waveNames = map[int]string{drain.WaveOrdinary: "ordinary", drain.WaveLast: "last", drain.WaveCritical: "critical"}

// Assess simulates a notice of o.Notice arriving at now on each named node
// (every node of the snapshot when names is nil; none when it is empty) and
// reports the pods that would not get a graceful, PDB-respecting exit.
func Assess(c *Cluster, names []string, o Options, now time.Time) *Report {
	ix := newIndex(c)
	if names == nil {
		for _, n := range c.Nodes {
			names = append(names, n.Name)
		}
	}
	names = slices.Clone(names)
	slices.Sort(names)
	names = slices.Compact(names)
	opts := o.Drain
	opts.Deadline = now.Add(o.Notice)
	margin := drain.EffectiveSafetyMargin(opts)
	r := &Report{
		Notice:              NoticeLabel(o.Notice),
		NoticeSeconds:       o.Notice.Seconds(),
		SafetyMarginSeconds: margin.Seconds(),
		GeneratedAt:         now.UTC(),
		Nodes:               []NodeReport{},
		Pods:                []PodRisk{},
		Summary:             Summary{ByReason: map[Reason]int{}},
	}
	for _, name := range names {
		nr, risks := assessNode(ix, name, opts, now)
		r.Nodes = append(r.Nodes, nr)
		r.Pods = append(r.Pods, risks...)
	}
	r.Summary.Nodes = len(r.Nodes)
	for _, n := range r.Nodes {
		r.Summary.PodsRemoved += n.Pods
		if n.Fits {
			r.Summary.NodesFit++
		}
	}
	r.Summary.PodsAtRisk = len(r.Pods)
	for _, p := range r.Pods {
		for _, why := range p.Reasons {
			r.Summary.ByReason[why]++
		}
	}
	r.Summary.AllFit = r.Summary.NodesFit == r.Summary.Nodes && r.Summary.PodsAtRisk == 0
	return r
}

// finding collects one pod's reasons while a node is assessed.
type finding struct {
	pod     *corev1.Pod
	details map[Reason]string
}

func (f *finding) add(why Reason, format string, a ...any) {
	if f.details == nil {
		f.details = map[Reason]string{}
	}
	if _, ok := f.details[why]; !ok {
		f.details[why] = fmt.Sprintf(format, a...)
	}
}

// assessNode simulates the drain of one node: which pods it removes (the
// drain's own selection), then their timeline wave by wave.
func assessNode(ix *index, node string, opts drain.Options, now time.Time) (NodeReport, []PodRisk) {
	nr := NodeReport{Name: node, Timeline: []Step{}}
	var waves [3][]*finding
	var found []*finding
	for _, p := range ix.podsOnNode(node) {
		f := &finding{pod: p}
		d := drain.Dispose(p, opts, ix.daemonSetExists)
		switch {
		case d.Skip == drain.AnnotationEvict+"=never":
			f.add(EvictNever, "annotated %s=never: the drain leaves it and it goes down with the node", drain.AnnotationEvict)
			staticReasons(ix, f, d)
		case d.Skip != "" || d.Finished:
			continue // DaemonSet and mirror pods stay by design; finished pods are only cleaned up
		default:
			staticReasons(ix, f, d)
			waves[d.Wave] = append(waves[d.Wave], f)
		}
		found = append(found, f)
	}
	sim := simulation{ix: ix, opts: opts, now: now, margin: drain.EffectiveSafetyMargin(opts), used: map[*policyv1.PodDisruptionBudget]int{}}
	nr.Timeline, nr.ExpectedDrainSeconds, nr.Fits = sim.run(waves)
	for _, w := range waves {
		nr.Pods += len(w)
	}
	var risks []PodRisk
	for _, f := range found {
		if len(f.details) == 0 {
			continue
		}
		risks = append(risks, f.risk(ix, node, opts, now))
	}
	nr.AtRisk = len(risks)
	return nr, risks
}

func (ix *index) podsOnNode(node string) []*corev1.Pod { return ix.podsByNode[node] }

// staticReasons are the reasons that do not depend on time: consent
// problems, local storage, the opt-out annotation, a single replica.
func staticReasons(ix *index, f *finding, d drain.Disposition) {
	p := f.pod
	for _, pr := range d.Problems {
		switch pr {
		case drain.ProblemUnmanaged:
			f.add(NoController, "declares no controller: a drain needs --force and nothing recreates it")
		case drain.ProblemOrphanDaemonSet:
			f.add(NoController, "its DaemonSet no longer exists: a drain needs --force and nothing recreates it")
		}
	}
	if v := ix.localStorage(p, drain.UsesEmptyDir(p)); v != "" {
		f.add(LocalStorage, "keeps data on the node (%s) that will not follow it", v)
	}
	if drain.AsksNotToBeDisrupted(p) {
		f.add(DoNotDisrupt, "annotated %s=true or %s=false: the drain evicts it last, but a notice of the node's end cannot honour the wish",
			drain.AnnotationKarpenterDoNotDisrupt, drain.AnnotationSafeToEvict)
	}
	if w, ok := ix.workloadOf(p); ok && w.replicas == 1 {
		f.add(SingleReplica, "%s/%s runs 1 replica: its service is down until the replacement is Ready", w.kind, w.name)
	}
}

func (f *finding) risk(ix *index, node string, opts drain.Options, now time.Time) PodRisk {
	p := f.pod
	pr := PodRisk{Namespace: p.Namespace, Name: p.Name, Node: node, Details: f.details}
	for _, why := range Reasons {
		if _, ok := f.details[why]; ok {
			pr.Reasons = append(pr.Reasons, why)
		}
	}
	if w, ok := ix.workloadOf(p); ok {
		pr.Workload = w.kind + "/" + w.name
	}
	pr.GraceSeconds = drain.GraceFor(now, p, opts).Own.Seconds()
	return pr
}

// simulation lays out one node's drain in time.
type simulation struct {
	ix     *index
	opts   drain.Options
	now    time.Time
	margin time.Duration
	// used counts, per budget, the evictions this node's drain has made.
	used map[*policyv1.PodDisruptionBudget]int
}

// run returns the timeline, the expected drain time in seconds and whether
// every pod leaves gracefully in time. Each wave starts when the one before
// is done, or at its own pods' earliest fallback point, as the drain does.
func (s *simulation) run(waves [3][]*finding) ([]Step, float64, bool) {
	steps := []Step{}
	fits := true
	var prevEnd, end time.Duration
	for w, fs := range waves {
		if len(fs) == 0 {
			continue
		}
		begin := time.Duration(0)
		if w > 0 {
			begin = min(prevEnd, max(s.waveStart(fs), 0))
		}
		waveEnd := begin
		for _, f := range fs {
			st := s.pod(f, begin)
			st.Wave = waveNames[w]
			if len(st.Reasons) > 0 {
				fits = false
			}
			steps = append(steps, st)
			waveEnd = max(waveEnd, time.Duration(st.EndSeconds*float64(time.Second)))
		}
		prevEnd = waveEnd
		end = max(end, waveEnd)
	}
	usable := s.opts.Deadline.Sub(s.now) - s.margin
	return steps, end.Seconds(), fits && end <= usable
}

// waveStart is the earliest fallback point of a wave's pods, from now.
func (s *simulation) waveStart(fs []*finding) time.Duration {
	start := time.Duration(-1)
	for _, f := range fs {
		at := drain.GraceFor(s.now, f.pod, s.opts).FallbackAt.Sub(s.now)
		if start < 0 || at < start {
			start = at
		}
	}
	return start
}

// pod places one pod on the timeline and adds its timing reasons.
func (s *simulation) pod(f *finding, begin time.Duration) Step {
	p := f.pod
	g := drain.GraceFor(s.now, p, s.opts)
	usable := s.opts.Deadline.Sub(s.now) - s.margin
	fallback := max(g.FallbackAt.Sub(s.now), 0)
	need := max(g.Own, PreStopSleep(p))
	var timing []Reason
	if need > usable {
		f.add(GraceExceedsNotice, "needs %s to stop (grace period%s) but only %s of the %s notice is usable",
			need, preStopNote(p, g.Own), usable, s.opts.Deadline.Sub(s.now))
		timing = append(timing, GraceExceedsNotice)
	}
	start := begin
	switch delay, block := s.budget(p); {
	case block != "":
		f.add(PDBBlocks, "%s; the drain deletes it at its fallback point instead", block)
		timing = append(timing, PDBBlocks)
		start = max(begin, fallback)
	case begin+delay > max(fallback, begin):
		r, src := s.ix.readiness(p)
		f.add(ReplacementTooSlow, "its budget lets it go only after %s (replacements Ready in %s, from %s), past its fallback point at %s",
			begin+delay, r, src, fallback)
		timing = append(timing, ReplacementTooSlow)
		start = max(begin, fallback)
	default:
		start = begin + delay
	}
	stop := min(need, max(usable-start, time.Second))
	if len(timing) == 0 {
		stop = need
	}
	return Step{
		Namespace:    p.Namespace,
		Name:         p.Name,
		StartSeconds: start.Seconds(),
		EndSeconds:   (start + stop).Seconds(),
		Reasons:      timing,
	}
}

func preStopNote(p *corev1.Pod, own time.Duration) string {
	if ps := PreStopSleep(p); ps > own {
		return fmt.Sprintf(" %s, preStop sleep %s", own, ps)
	}
	return " " + own.String()
}

// budget decides, for one pod about to be evicted, whether its budgets block
// it (a sentence saying why) or, if not, how long after the start of its
// wave the eviction is expected to be allowed: each budget lets
// disruptionsAllowed pods go at once, and each further round waits for the
// previous round's replacements to be Ready (for a StatefulSet, for the old
// pod to stop first, as its replacement reuses the name).
func (s *simulation) budget(p *corev1.Pod) (time.Duration, string) {
	bs := s.ix.budgetsOf(p)
	if len(bs) > 1 {
		names := make([]string, len(bs))
		for i, b := range bs {
			names[i] = b.pdb.Name
		}
		sort.Strings(names)
		return 0, fmt.Sprintf("%d PodDisruptionBudgets select it (%s): the Eviction API refuses it", len(bs), strings.Join(names, ", "))
	}
	if len(bs) == 0 {
		return 0, ""
	}
	b := bs[0].pdb
	if why := BudgetBlocks(b); why != "" {
		return 0, fmt.Sprintf("PDB %s %s", b.Name, why)
	}
	round := s.used[b] / int(b.Status.DisruptionsAllowed)
	s.used[b]++
	if round == 0 {
		return 0, ""
	}
	r, _ := s.ix.readiness(p)
	if w, ok := s.ix.workloadOf(p); ok && w.kind == "StatefulSet" {
		r += drain.GraceFor(s.now, p, s.opts).Own
	}
	return time.Duration(round) * r, ""
}

// BudgetBlocks says why a PodDisruptionBudget blocks every eviction now or
// forever, or returns "" when it allows at least one: maxUnavailable of 0,
// minAvailable at least the pods it expects, or no disruption allowed now.
func BudgetBlocks(b *policyv1.PodDisruptionBudget) string {
	expected := int(b.Status.ExpectedPods)
	if mu := b.Spec.MaxUnavailable; mu != nil {
		if v, err := intstr.GetScaledValueFromIntOrPercent(mu, max(expected, 1), true); err == nil && v == 0 {
			return fmt.Sprintf("can never allow a disruption (maxUnavailable: %s)", mu.String())
		}
	}
	if ma := b.Spec.MinAvailable; ma != nil && expected > 0 {
		if v, err := intstr.GetScaledValueFromIntOrPercent(ma, expected, true); err == nil && v >= expected {
			return fmt.Sprintf("can never allow a disruption (minAvailable: %s of %d pods)", ma.String(), expected)
		}
	}
	if b.Status.DisruptionsAllowed <= 0 {
		return fmt.Sprintf("allows no disruption now (%d of %d desired pods healthy)", b.Status.CurrentHealthy, b.Status.DesiredHealthy)
	}
	return ""
}

// NoticeLabel writes a notice length the short way ("30s", "2m", "1h30m"),
// as reports and the notice label of lifeboat_pods_at_risk show it.
func NoticeLabel(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
