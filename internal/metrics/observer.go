package metrics

import (
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/report"
)

// Reporter turns what lifeboat reports into metrics: notices, drain steps
// (drains, evictions, PDB blocks, deadline fallbacks) and how notices were
// finished. It keeps no state: every call maps the facts it is given to
// counter and histogram updates, which only touch memory.
type Reporter struct {
	m *Metrics
}

var _ report.Reporter = (*Reporter)(nil)

// NewReporter returns a Reporter feeding m (nil: a Reporter that does
// nothing).
func NewReporter(m *Metrics) *Reporter { return &Reporter{m: m} }

// NoticeReceived counts the notice and its detection delay; a withdrawal
// is not a notice that a node goes away and is not counted.
func (r *Reporter) NoticeReceived(n notice.Notice) {
	if !n.Canceled {
		r.m.Notice(n)
	}
}

// Finished counts how a notice was finished (lifeboat_notice_finishes_total).
func (r *Reporter) Finished(_ notice.Notice, f report.Finish) { r.m.finish(f) }

// Observe updates the metrics for one drain step.
func (r *Reporter) Observe(e drain.Step) {
	if e.BlockedFor > 0 && r.m != nil {
		r.m.PDBBlockedSeconds.Add(e.BlockedFor.Seconds())
	}
	if result, ok := EvictionResult(e); ok {
		r.m.eviction(result)
	}
	switch e.Type {
	case drain.StepDeadlineFallback:
		if e.Pod != "" && r.m != nil {
			r.m.DeadlineFallbacks.Inc()
		}
	case drain.StepDrained, drain.StepDrainFailed:
		var d time.Duration
		if e.Result != nil {
			d = e.Result.Duration
		}
		r.m.drain(string(e.Outcome), d)
	}
}

// EvictionResult is the lifeboat_evictions_total result a step counts
// as, if any.
func EvictionResult(e drain.Step) (string, bool) {
	switch e.Type {
	case drain.StepPodBlocked:
		return EvictionBlocked, true
	case drain.StepEvictionFailed:
		return EvictionError, true
	case drain.StepPodEvicted:
		return EvictionEvicted, true
	case drain.StepPodDeleted:
		if e.Fallback {
			return EvictionFallbackDeleted, true
		}
		return EvictionFinishedDeleted, true
	}
	return "", false
}
