package azure

import (
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// MissingDocuments is how many consecutive documents must leave out an
// emitted event before it counts as withdrawn. IMDS occasionally serves a
// document without an event that is still scheduled; one such document must
// not uncordon a node that is about to be preempted.
const MissingDocuments = 3

// tracker remembers which events were emitted, so each EventId yields one
// notice while it is listed and one canceled notice once it has vanished
// (MissingDocuments documents in a row without it).
type tracker struct {
	seenDoc     bool
	incarnation int64
	pending     map[string]*tracked // emitted and still listed, by EventId
	gone        map[string]bool     // emitted, then vanished
	ignored     map[string]bool     // listed for this VM but not understood (logged once)
}

type tracked struct {
	notice    notice.Notice
	status    string
	resources []string // the event's Resources as last listed
	missing   int      // consecutive documents without the event
}

// observation is the context of one document.
type observation struct {
	vm, node string
	now      time.Time
	log      *slog.Logger
	onError  func(string)
}

func newTracker() tracker {
	return tracker{pending: map[string]*tracked{}, gone: map[string]bool{}, ignored: map[string]bool{}}
}

// observe folds one document in and returns the notices it causes: a notice
// for each new event naming this VM, and a canceled notice for each emitted
// event no longer listed.
func (t *tracker) observe(doc *Document, o observation) []notice.Notice {
	if !t.seenDoc || doc.DocumentIncarnation != t.incarnation {
		o.log.Debug("scheduled events document changed", "incarnation", doc.DocumentIncarnation, "events", len(doc.Events))
	}
	t.seenDoc, t.incarnation = true, doc.DocumentIncarnation
	listed := map[string]bool{}
	var out []notice.Notice
	for i := range doc.Events {
		e := &doc.Events[i]
		if e.EventID == "" || !e.names(o.vm) {
			continue
		}
		listed[e.EventID] = true
		if n, ok := t.observeEvent(e, doc.DocumentIncarnation, o); ok {
			out = append(out, n)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(t.pending)) {
		if listed[id] {
			t.pending[id].missing = 0
			continue
		}
		if t.pending[id].missing++; t.pending[id].missing >= MissingDocuments {
			out = append(out, t.vanish(id, o))
		} else {
			o.log.Debug("azure scheduled event missing from the document", logging.KeyNotice, id, "documents", t.pending[id].missing)
		}
	}
	for id := range t.ignored {
		if !listed[id] {
			delete(t.ignored, id)
		}
	}
	return out
}

// observeEvent handles one listed event for this VM and returns its notice
// if it is new.
func (t *tracker) observeEvent(e *Event, incarnation int64, o observation) (notice.Notice, bool) {
	log := o.log.With(logging.KeyNotice, e.EventID)
	if p, ok := t.pending[e.EventID]; ok {
		p.resources = slices.Clone(e.Resources)
		if p.status != e.EventStatus {
			log.Info("azure scheduled event status changed", "from", p.status, "to", e.EventStatus)
			p.status = e.EventStatus
		}
		return notice.Notice{}, false
	}
	if t.ignored[e.EventID] {
		return notice.Notice{}, false
	}
	kind, ok := KindOf(e.EventType)
	if !ok {
		t.ignored[e.EventID] = true
		o.onError(ReasonMalformed)
		log.Warn("ignoring azure scheduled event of unknown type", "type", e.EventType)
		return notice.Notice{}, false
	}
	n, err := e.toNotice(kind, o.vm, o.node, incarnation, o.now)
	if err != nil {
		o.onError(ReasonMalformed)
		log.Warn("azure scheduled event has an unreadable NotBefore; deadline unknown", logging.KeyError, err)
	}
	t.pending[e.EventID] = &tracked{notice: n, status: e.EventStatus, resources: slices.Clone(e.Resources)}
	delete(t.gone, e.EventID)
	log.Info("azure scheduled event for this VM", "type", e.EventType, logging.KeyKind, kind,
		"status", e.EventStatus, "deadline", n.Deadline)
	return n, true
}

// vanish forgets an emitted event that is no longer listed and returns its
// canceled notice: "canceled" if it never started, "completed" if it did.
func (t *tracker) vanish(id string, o observation) notice.Notice {
	p := t.pending[id]
	delete(t.pending, id)
	t.gone[id] = true
	n := p.notice
	n.Canceled = true
	n.Detected = o.now
	n.Attributes = maps.Clone(n.Attributes)
	outcome := "canceled"
	n.Reason = "Azure scheduled event " + n.Attributes["event-type"] + " was withdrawn before it started"
	if p.status == StatusStarted {
		outcome = "completed"
		n.Reason = "Azure scheduled event " + n.Attributes["event-type"] + " completed"
	}
	n.Attributes["outcome"] = outcome
	o.log.Info("azure scheduled event no longer listed", logging.KeyNotice, id, "outcome", outcome)
	return n
}

// ackable reports whether id may be acknowledged: it must have been emitted
// and still be listed. It returns the VMs the event lists other than vm:
// approving the event starts it for every one of them.
func (t *tracker) ackable(id, vm string) (others []string, err error) {
	p, ok := t.pending[id]
	if !ok {
		return nil, &UnknownEventError{EventID: id, Gone: t.gone[id]}
	}
	return otherVMs(p.resources, vm), nil
}

// otherVMs lists the resources that are not vm (case-insensitively), once each.
func otherVMs(resources []string, vm string) []string {
	var out []string
	for _, r := range resources {
		r = strings.TrimSpace(r)
		if r == "" || strings.EqualFold(r, vm) || slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, r) }) {
			continue
		}
		out = append(out, r)
	}
	return out
}
