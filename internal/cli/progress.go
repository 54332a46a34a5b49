package cli

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
)

// progressView is the live terminal view of a drain: pods left, which PDB
// blocks which pod, and the time left to the deadline, redrawn in place.
type progressView struct {
	w    io.Writer
	node string

	mu      sync.Mutex
	last    drain.Progress
	lastMsg string
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
func (v *progressView) Observe(e drain.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e.Progress.Total > 0 || e.Type == drain.EventDrainStarted {
		v.last = e.Progress
	}
	if e.Message != "" && e.Type != drain.EventPodGone {
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
