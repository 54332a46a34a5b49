package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

// progressView is the live terminal view of a drain: pods left, which PDB
// blocks which pod, and the time left to the deadline, redrawn in place.
type progressView struct {
	w    io.Writer
	node string

	mu      sync.Mutex
	last    drain.Progress
	lastMsg string
	waits   []podWait
	lines   int
	done    chan struct{}
	once    sync.Once
	stopped chan struct{}
}

func newProgressView(w io.Writer, node string) *progressView {
	v := &progressView{w: w, node: node, done: make(chan struct{}), stopped: make(chan struct{})}
	go v.loop()
	return v
}

// Observe records the latest progress.
func (v *progressView) Observe(e drain.Step) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e.Progress.Total > 0 || e.Type == drain.StepDrainStarted {
		v.last = e.Progress
	}
	if e.Message != "" && e.Type != drain.StepPodGone {
		v.lastMsg = e.Pod + " " + e.Message
	}
}

func (v *progressView) loop() {
	defer close(v.stopped)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-v.done:
			v.draw()
			return
		case <-t.C:
			v.draw()
		}
	}
}

// setWaits shows what the drain waits on besides PDBs (terminating pods and
// their finalizers, failing evictions), as last read.
func (v *progressView) setWaits(waits []podWait) {
	v.mu.Lock()
	v.waits = waits
	v.mu.Unlock()
}

func (v *progressView) stop() {
	v.once.Do(func() { close(v.done); <-v.stopped })
}

func (v *progressView) draw() {
	v.mu.Lock()
	defer v.mu.Unlock()
	var b strings.Builder
	for range v.lines {
		b.WriteString("\x1b[1A\x1b[2K") // up one line, clear it
	}
	out := v.render()
	b.WriteString(out)
	v.lines = strings.Count(out, "\n")
	_, _ = io.WriteString(v.w, b.String())
}

func (v *progressView) render() string {
	p := v.last
	var b strings.Builder
	fmt.Fprintf(&b, "draining %s: %d of %d pods left, %d blocked by PodDisruptionBudgets", v.node, p.Left, p.Total, len(p.Blocked))
	if !p.Deadline.IsZero() {
		fmt.Fprintf(&b, ", deadline in %s", time.Until(p.Deadline).Round(time.Second))
	}
	b.WriteString("\n")
	pods := make([]string, 0, len(p.Blocked))
	for pod := range p.Blocked {
		pods = append(pods, pod)
	}
	sort.Strings(pods)
	for i, pod := range pods {
		if i == 8 {
			fmt.Fprintf(&b, "  ... and %d more blocked\n", len(pods)-8)
			break
		}
		fmt.Fprintf(&b, "  %s waits for PDB %s\n", pod, p.Blocked[pod])
	}
	shown := 0
	for _, w := range v.waits {
		if w.PDB != "" || p.Blocked[w.Pod] != "" {
			continue // listed above
		}
		if shown == 8 {
			b.WriteString("  ... and more\n")
			break
		}
		fmt.Fprintf(&b, "  %s\n", w)
		shown++
	}
	if v.lastMsg != "" {
		fmt.Fprintf(&b, "  last: %s\n", strings.TrimSpace(v.lastMsg))
	}
	return b.String()
}

// printSummary writes the final summary of a drain.
func printSummary(w io.Writer, res *drain.Result, err error) {
	if res == nil {
		return
	}
	if res.Missing {
		fmt.Fprintf(w, "node %s does not exist; nothing to do\n", res.Node)
		return
	}
	if len(res.Plan) > 0 {
		fmt.Fprintf(w, "dry run for node %s (nothing was changed):\n", res.Node)
		for _, l := range res.Plan {
			fmt.Fprintf(w, "  - %s\n", l)
		}
		return
	}
	status := "drained"
	var ie *drain.IncompleteError
	switch {
	case errors.As(err, &ie):
		status = "NOT drained (" + ie.Reason + ")"
	case err != nil:
		status = "NOT drained"
	}
	fmt.Fprintf(w, "node %s %s in %s: %d pod(s) evicted, %d deleted (%d deadline fallbacks), %d skipped, %d left",
		res.Node, status, res.Duration.Round(time.Millisecond), res.Evicted, res.Deleted, res.Fallbacks, len(res.Skipped), len(res.Left))
	if res.LeftoversRemoved > 0 {
		fmt.Fprintf(w, ", %d shutdown leftovers removed", res.LeftoversRemoved)
	}
	if res.NodeDeleted {
		fmt.Fprint(w, ", node deleted")
	}
	fmt.Fprintln(w)
	for _, p := range res.Left {
		fmt.Fprintf(w, "  left: %s (%s)\n", p, p.Reason)
	}
}

// waitReportEvery is how often `lifeboat drain` says what it still waits on.
const waitReportEvery = 30 * time.Second

// podWait is one pod a drain waits on, and why.
type podWait struct {
	// Pod is "namespace/name".
	Pod string
	// PDB is the PodDisruptionBudget refusing its eviction.
	PDB string
	// Terminating: its deletion was accepted but the pod still exists.
	Terminating bool
	// Finalizers hold a terminating pod.
	Finalizers []string
	// EvictionErr is the last error of an eviction that keeps failing.
	EvictionErr string
}

func (w podWait) String() string {
	switch {
	case w.PDB == "unknown":
		return fmt.Sprintf("%s waits for a PodDisruptionBudget (which one could not be read) that allows no disruption now", w.Pod)
	case w.PDB != "":
		return fmt.Sprintf("%s waits for PodDisruptionBudget %s, which allows no disruption now", w.Pod, w.PDB)
	case len(w.Finalizers) > 0:
		return fmt.Sprintf("%s is terminating but held by finalizer(s) %s", w.Pod, strings.Join(w.Finalizers, ", "))
	case w.Terminating:
		return fmt.Sprintf("%s is terminating: waiting for its kubelet to stop it", w.Pod)
	default:
		return fmt.Sprintf("%s: eviction keeps failing: %s", w.Pod, w.EvictionErr)
	}
}

// drainWaits follows a drain's events to tell which pods it waits on: those
// a PodDisruptionBudget blocks (the progress' Blocked map), those evicted or
// deleted but not gone yet, and those whose eviction keeps failing.
type drainWaits struct {
	mu          sync.Mutex
	progress    drain.Progress
	terminating map[string]bool
	failing     map[string]string
}

func newDrainWaits() *drainWaits {
	return &drainWaits{terminating: map[string]bool{}, failing: map[string]string{}}
}

// Observe records one drain event.
func (w *drainWaits) Observe(e drain.Step) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e.Progress.Total > 0 || e.Type == drain.StepDrainStarted {
		w.progress = e.Progress
	}
	switch e.Type {
	case drain.StepPodEvicted, drain.StepPodDeleted:
		w.terminating[e.Pod] = true
		delete(w.failing, e.Pod)
	case drain.StepPodGone:
		delete(w.terminating, e.Pod)
		delete(w.failing, e.Pod)
	case drain.StepPodBlocked:
		delete(w.failing, e.Pod)
	case drain.StepEvictionFailed:
		if e.Err != nil {
			w.failing[e.Pod] = e.Err.Error()
		}
	}
}

// snapshot reads the node's pods (one LIST) to see what holds the
// terminating ones, and returns the waits with the latest progress.
func (w *drainWaits) snapshot(ctx context.Context, client kube.Interface, node string) ([]podWait, drain.Progress, error) {
	w.mu.Lock()
	p, terminating, failing := w.progress, maps.Clone(w.terminating), maps.Clone(w.failing)
	w.mu.Unlock()
	pods, err := terminatingPods(ctx, client, node, terminating)
	return describeWaits(p.Blocked, terminating, failing, pods), p, err
}

// terminatingPods reads the node's pods if some are terminating. When the
// API cannot be read it returns them as the events know them (no
// finalizers) with the error.
func terminatingPods(ctx context.Context, client kube.Interface, node string, terminating map[string]bool) ([]corev1.Pod, error) {
	if len(terminating) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	l, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err == nil {
		return l.Items, nil
	}
	pods := make([]corev1.Pod, 0, len(terminating))
	for k := range terminating {
		ns, name, _ := strings.Cut(k, "/")
		pods = append(pods, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
	}
	return pods, fmt.Errorf("reading the pods on node %s: %w", node, err)
}

// describeWaits says why each pod holds the drain up: a blocking PDB, the
// finalizers of a terminating pod (as read from the API), a deletion the
// kubelet has not carried out yet, or a failing eviction. Terminating pods
// that no longer exist are not waited on. Sorted by pod.
func describeWaits(blocked map[string]string, terminating map[string]bool, failing map[string]string, pods []corev1.Pod) []podWait {
	byKey := make(map[string]*corev1.Pod, len(pods))
	for i := range pods {
		byKey[pods[i].Namespace+"/"+pods[i].Name] = &pods[i]
	}
	var out []podWait
	for pod, pdb := range blocked {
		out = append(out, podWait{Pod: pod, PDB: pdb})
	}
	for pod := range terminating {
		p, ok := byKey[pod]
		if !ok || blocked[pod] != "" {
			continue
		}
		out = append(out, podWait{Pod: pod, Terminating: true, Finalizers: slices.Clone(p.Finalizers)})
	}
	for pod, msg := range failing {
		if blocked[pod] == "" && !terminating[pod] {
			out = append(out, podWait{Pod: pod, EvictionErr: msg})
		}
	}
	slices.SortFunc(out, func(a, b podWait) int { return strings.Compare(a.Pod, b.Pod) })
	return out
}

// waitReporter says every interval what a drain waits on: as log lines, or
// in the live view when there is one.
type waitReporter struct {
	waits  *drainWaits
	client kube.Interface
	node   string
	clock  clock.WithTicker
	every  time.Duration
	log    *slog.Logger
	view   *progressView
}

// run reports until ctx ends.
func (r *waitReporter) run(ctx context.Context) {
	start := r.clock.Now()
	t := r.clock.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			r.report(ctx, r.clock.Since(start))
		}
	}
}

func (r *waitReporter) report(ctx context.Context, waited time.Duration) {
	waits, p, err := r.waits.snapshot(ctx, r.client, r.node)
	if r.view != nil {
		r.view.setWaits(waits)
		return
	}
	if p.Left == 0 && len(waits) == 0 {
		return
	}
	args := []any{logging.KeyNode, r.node, "left", p.Left, "total", p.Total, "waited", waited.Round(time.Second)}
	if err != nil {
		args = append(args, logging.KeyError, err)
	}
	r.log.Warn(fmt.Sprintf("drain still waiting after %s: %d of %d pod(s) left", waited.Round(time.Second), p.Left, p.Total), args...)
	for _, w := range waits {
		args := []any{logging.KeyNode, r.node, logging.KeyPod, w.Pod}
		if w.PDB != "" {
			args = append(args, logging.KeyPDB, w.PDB)
		}
		if len(w.Finalizers) > 0 {
			args = append(args, "finalizers", w.Finalizers)
		}
		r.log.Warn("still waiting: "+w.String(), args...)
	}
}

// printWaits writes what an interrupted drain was waiting on.
func printWaits(w io.Writer, waits []podWait) {
	if len(waits) == 0 {
		return
	}
	fmt.Fprintln(w, "interrupted while waiting on:")
	for _, pw := range waits {
		fmt.Fprintf(w, "  %s\n", pw)
	}
}
