package drain

import (
	"context"
	"fmt"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

// Dry-run steps: what a drain engine wrapped in DryRun would have done.
const (
	// StepWouldDrain: the notice would have drained the node (Message says
	// how many pods, by when, and whether the Node would be deleted).
	StepWouldDrain StepType = "WouldDrain"
	// StepWouldMark: the notice would have cordoned or tainted the node.
	StepWouldMark StepType = "WouldMark"
)

// DryRun wraps the drain engine for `--dry-run` (observe mode): it reads the
// cluster and plans every drain as the engine would, reports what it would
// do to the engine's observer ("would drain node X, N pods, by T"), and
// writes nothing: no cordon, taint, eviction, deletion, mark or release.
type DryRun struct {
	// Drainer plans the drains and reports.
	*Drainer
}

// Drain plans the drain and reports it; the Result carries the plan.
func (d DryRun) Drain(ctx context.Context, node string, opts Options) (*Result, error) {
	opts.DryRun = true
	res, err := d.Drainer.Drain(ctx, node, opts)
	if err != nil || res.Missing {
		return res, err
	}
	msg := fmt.Sprintf("dry run: would drain node %s: %d pod(s)", node, res.Pods)
	if !opts.Deadline.IsZero() {
		msg += " by " + opts.Deadline.UTC().Format(time.RFC3339)
	}
	if opts.DeleteNode {
		msg += ", then delete the Node"
	}
	if n := len(res.Skipped); n > 0 {
		msg += fmt.Sprintf(" (%d skipped)", n)
	}
	d.log.Info(msg, logging.KeyNode, node, logging.KeyNotice, opts.NoticeID, "plan", res.Plan)
	e := opts.step(StepWouldDrain, node)
	e.Message = msg
	d.emit(e)
	return res, nil
}

// Cordon reports the cordon it would make.
func (d DryRun) Cordon(_ context.Context, node string, opts Options) (bool, error) {
	d.would(node, "cordon", opts)
	return false, nil
}

// Taint reports the taint it would add.
func (d DryRun) Taint(_ context.Context, node string, opts Options) (bool, error) {
	d.would(node, "taint", opts)
	return false, nil
}

func (d DryRun) would(node, what string, opts Options) {
	msg := fmt.Sprintf("dry run: would %s node %s for notice %s", what, node, noticeOf(opts))
	d.log.Info(msg, logging.KeyNode, node, logging.KeyNotice, opts.NoticeID)
	e := opts.step(StepWouldMark, node)
	e.Message = msg
	d.emit(e)
}

// Release changes nothing (a dry run marked nothing).
func (d DryRun) Release(context.Context, string, string) (*Mark, error) { return nil, nil }

// Uncordon changes nothing.
func (d DryRun) Uncordon(context.Context, string) (bool, error) { return false, nil }

// RemoveShutdownLeftovers removes nothing.
func (d DryRun) RemoveShutdownLeftovers(context.Context, string) (int, error) { return 0, nil }
