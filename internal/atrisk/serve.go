package atrisk

import (
	"context"
	"log/slog"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/logging"

	"k8s.io/utils/clock"
)

// Trigger says what started an assessment of Run.
type Trigger string

// The triggers.
const (
	TriggerTimer  Trigger = "timer"
	TriggerChange Trigger = "change"
)

// Loop re-assesses the cluster from a Source on every change it signals
// (coalesced: at most one assessment per MinInterval) and every Interval.
type Loop struct {
	// Source is a started Source.
	Source *Source
	// Nodes limits the assessment (empty: every node); Selected, if set,
	// is applied to each snapshot to choose nodes (--selector).
	Nodes    []string
	Selected func(*Cluster) []string
	// Notices are the notice lengths assessed each time.
	Notices []time.Duration
	// Options tune the assessment; Notice is set per notice length.
	Options Options
	// Interval re-assesses on a timer even without changes.
	Interval time.Duration
	// MinInterval spaces assessments triggered by changes.
	MinInterval time.Duration
	// Publish receives each assessment's reports, one per notice.
	Publish func([]*Report, Trigger)
	// Clock tells time; nil is the real clock.
	Clock clock.WithTicker
	// Log receives a line per failed snapshot.
	Log *slog.Logger
}

// Run assesses once at once, then on changes and on the timer until ctx ends.
func (l *Loop) Run(ctx context.Context) {
	if l.Clock == nil {
		l.Clock = clock.RealClock{}
	}
	if l.Log == nil {
		l.Log = slog.New(slog.DiscardHandler)
	}
	l.assess(TriggerTimer)
	tick := l.Clock.NewTicker(l.Interval)
	defer tick.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
			l.assess(TriggerTimer)
		case <-l.Source.Changed():
			if wait := l.MinInterval - l.Clock.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-l.Clock.After(wait):
				}
			}
			// Changes that came in while waiting are covered by this run.
			select {
			case <-l.Source.Changed():
			default:
			}
			last = l.Clock.Now()
			l.assess(TriggerChange)
		}
	}
}

func (l *Loop) assess(t Trigger) {
	c, err := l.Source.Snapshot()
	if err != nil {
		l.Log.Warn("reading the informer caches", logging.KeyError, err)
		return
	}
	l.Publish(AssessAll(c, l.nodes(c), l.Notices, l.Options, l.Clock.Now()), t)
}

func (l *Loop) nodes(c *Cluster) []string {
	if l.Selected != nil {
		return l.Selected(c)
	}
	return l.Nodes
}

// AssessAll assesses one snapshot for each notice length.
func AssessAll(c *Cluster, nodes []string, notices []time.Duration, o Options, now time.Time) []*Report {
	out := make([]*Report, 0, len(notices))
	for _, n := range notices {
		o.Notice = n
		out = append(out, Assess(c, nodes, o, now))
	}
	return out
}

// CountsByReason counts a report's pods by (reason, namespace), the labels of
// lifeboat_pods_at_risk besides the notice.
func CountsByReason(r *Report) map[[2]string]int {
	out := map[[2]string]int{}
	for _, p := range r.Pods {
		for _, why := range p.Reasons {
			out[[2]string{string(why), p.Namespace}]++
		}
	}
	return out
}
