package metrics

import (
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// DrainObserver updates the drain, eviction, PDB and fallback metrics from
// drain events. It implements drain.Observer; Observe only updates memory.
type DrainObserver struct {
	m     *Metrics
	clock clock.PassiveClock

	mu    sync.Mutex
	nodes map[string]*nodeDrain
}

var _ drain.Observer = (*DrainObserver)(nil)

// nodeDrain is what the observer remembers about one node's running drain.
type nodeDrain struct {
	started time.Time
	// blockedSince is when each pod ("ns/name") was first refused by a PDB
	// and not yet removed.
	blockedSince map[string]time.Time
	// wasBlocked remembers every pod a PDB ever blocked or that was named in
	// a deadline fallback, to tell fallback deletions from finished pods.
	wasBlocked map[string]bool
}

// NewDrainObserver returns an observer feeding m. clk, used only when an
// event carries no time, may be nil for the real clock.
func NewDrainObserver(m *Metrics, clk clock.PassiveClock) *DrainObserver {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &DrainObserver{m: m, clock: clk, nodes: map[string]*nodeDrain{}}
}

// NoticeReceived counts the notice and its detection delay.
func (o *DrainObserver) NoticeReceived(n notice.Notice) { o.m.Notice(n) }

// Acknowledged does nothing; it exists so DrainObserver has the same
// reporting methods as notify.Observer and events.Recorder.
func (o *DrainObserver) Acknowledged(notice.Notice) {}

// Observe updates the metrics for one drain event.
func (o *DrainObserver) Observe(e drain.Event) {
	if e.Time.IsZero() {
		e.Time = o.clock.Now()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	switch e.Type {
	case drain.EventDrainStarted:
		o.node(e.Node).started = e.Time
	case drain.EventPodBlocked:
		o.m.eviction(EvictionBlocked)
		nd := o.node(e.Node)
		if _, ok := nd.blockedSince[e.Pod]; !ok {
			nd.blockedSince[e.Pod] = e.Time
		}
		nd.wasBlocked[e.Pod] = true
	case drain.EventEvictionFailed:
		o.m.eviction(EvictionError)
	case drain.EventDeadlineFallback:
		o.deadlineFallback(e)
	case drain.EventPodEvicted:
		o.m.eviction(EvictionEvicted)
		o.unblock(e)
	case drain.EventPodDeleted:
		o.podDeleted(e)
	case drain.EventPodGone:
		o.unblock(e)
	case drain.EventDrained, drain.EventDrainFailed:
		o.finish(e)
	}
}

func (o *DrainObserver) node(name string) *nodeDrain {
	nd, ok := o.nodes[name]
	if !ok {
		nd = &nodeDrain{blockedSince: map[string]time.Time{}, wasBlocked: map[string]bool{}}
		o.nodes[name] = nd
	}
	return nd
}

func (o *DrainObserver) deadlineFallback(e drain.Event) {
	if e.Pod == "" {
		// A drain-level announcement; the per-pod events are counted.
		return
	}
	if o.m != nil {
		o.m.DeadlineFallbacks.Inc()
	}
	o.node(e.Node).wasBlocked[e.Pod] = true
}

func (o *DrainObserver) podDeleted(e drain.Event) {
	nd := o.node(e.Node)
	if nd.wasBlocked[e.Pod] {
		o.m.eviction(EvictionFallbackDeleted)
	} else {
		o.m.eviction(EvictionFinishedDeleted)
	}
	o.unblock(e)
}

// unblock ends a pod's PDB-blocked time, if it was blocked.
func (o *DrainObserver) unblock(e drain.Event) {
	nd, ok := o.nodes[e.Node]
	if !ok {
		return
	}
	if since, ok := nd.blockedSince[e.Pod]; ok {
		o.addBlocked(e.Time.Sub(since))
		delete(nd.blockedSince, e.Pod)
	}
}

func (o *DrainObserver) addBlocked(d time.Duration) {
	if o.m != nil && d > 0 {
		o.m.PDBBlockedSeconds.Add(d.Seconds())
	}
}

// finish records the drain and the blocked time of pods still blocked at
// its end, then forgets the node.
func (o *DrainObserver) finish(e drain.Event) {
	nd := o.nodes[e.Node]
	delete(o.nodes, e.Node)
	var d time.Duration
	switch {
	case e.Result != nil && e.Result.Duration > 0:
		d = e.Result.Duration
	case nd != nil && !nd.started.IsZero():
		d = e.Time.Sub(nd.started)
	}
	o.m.drain(DrainResult(e), d)
	if nd == nil {
		return
	}
	for _, since := range nd.blockedSince {
		o.addBlocked(e.Time.Sub(since))
	}
}
