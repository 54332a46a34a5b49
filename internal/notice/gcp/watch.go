package gcp

import (
	"context"
	"maps"
	"strings"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/metadatahttp"
)

// Values of the watched keys.
const (
	PreemptedTrue        = "TRUE"
	PreemptedFalse       = "FALSE"
	MaintenanceNone      = "NONE"
	MaintenanceMigrate   = "MIGRATE_ON_HOST_MAINTENANCE"
	MaintenanceTerminate = "TERMINATE_ON_HOST_MAINTENANCE"
)

// keySpec says how to read one watched key.
type keySpec struct {
	key string
	// kinds maps each known value to the notice it means ("" for none).
	kinds map[string]notice.Kind
	// notice is the deadline after detection.
	notice time.Duration
	// id builds a notice ID that is stable across restarts: the ETag at
	// which the value was first seen names this occurrence.
	id func(instance, value, etag string) string
}

func (s *Source) specs() []keySpec {
	return []keySpec{{
		key:    KeyPreempted,
		kinds:  map[string]notice.Kind{PreemptedTrue: notice.KindPreemption, PreemptedFalse: ""},
		notice: s.cfg.PreemptionNotice,
		id: func(inst, _, etag string) string {
			return "gcp-preempted/" + inst + "/" + etag
		},
	}, {
		key: KeyMaintenance,
		kinds: map[string]notice.Kind{
			MaintenanceNone:      "",
			MaintenanceMigrate:   notice.KindMigration,
			MaintenanceTerminate: notice.KindHostMaintenance,
		},
		notice: s.cfg.MaintenanceNotice,
		id: func(inst, value, etag string) string {
			return "gcp-maintenance/" + inst + "/" + value + "/" + etag
		},
	}}
}

// watcher follows one key through the client library's SubscribeWithContext
// (one initial GET, then hanging wait_for_change requests with last_etag).
type watcher struct {
	spec keySpec
	src  *Source
	inst instanceInfo
	out  chan<- notice.Notice

	active      *notice.Notice // the notice in force for this key
	activeValue string
	seen        bool
	lastValue   string
	lastETag    string
	lastAnswer  time.Time // when the current request was sent
	answers     int       // answers in the current subscription
	idle        int       // consecutive fast answers without progress
}

// run subscribes until ctx ends, re-subscribing with backoff when the
// subscription ends (initial request failed, key deleted).
func (w *watcher) run(ctx context.Context) {
	s := w.src
	for failures := 0; ; {
		before := s.transport.failedTotal.Load()
		w.lastAnswer, w.answers = time.Time{}, 0
		err := s.client.SubscribeWithContext(ctx, w.spec.key, w.handle)
		if ctx.Err() != nil {
			return
		}
		if w.answers > 0 {
			failures = 0
		}
		failures++
		if s.transport.failedTotal.Load() == before { // not yet counted by the transport
			reason := ReasonNotDefined
			if err != nil {
				reason = reasonOf(err)
			}
			s.onError(reason)
			s.log.Warn("gcp metadata subscription ended", "key", w.spec.key, "reason", reason, logging.KeyError, err,
				"retryIn", s.backoff(failures))
		}
		if metadatahttp.Sleep(ctx, s.clock, s.backoff(failures)) != nil {
			return
		}
	}
}

// handle is the Subscribe callback: one answer for the key.
func (w *watcher) handle(ctx context.Context, v string, ok bool) error {
	if !ok {
		return nil // deleted: Subscribe returns and run re-subscribes
	}
	s := w.src
	now := s.clock.Now()
	etag := s.transport.etag(w.spec.key)
	w.answers++
	value := strings.ToUpper(strings.TrimSpace(v))
	kind, known := w.spec.kinds[value]
	progress := !w.seen || value != w.lastValue || etag != w.lastETag
	if known {
		w.seen, w.lastValue, w.lastETag = true, value, etag
		s.keyRead(w.spec.key)
		for _, n := range w.transition(value, kind, etag, now) {
			select {
			case w.out <- n:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	} else {
		err := &MalformedValueError{Key: w.spec.key, Value: metadatahttp.Truncate(v, 64)}
		s.onError(ReasonMalformed)
		s.log.Warn("ignoring malformed gcp metadata value", "key", w.spec.key, logging.KeyError, err)
	}
	if err := w.throttle(ctx, now, known && progress); err != nil {
		return err
	}
	w.lastAnswer = s.clock.Now()
	return nil
}

// throttle backs off when the server answers a hanging request at once
// without a change (or with garbage): a server that ignores wait_for_change
// must not turn the long-poll into a hot loop.
func (w *watcher) throttle(ctx context.Context, now time.Time, progress bool) error {
	fast := !w.lastAnswer.IsZero() && now.Sub(w.lastAnswer) < min(time.Second, w.src.cfg.WaitTimeout/2)
	if progress || !fast {
		w.idle = 0
		return nil
	}
	w.idle++
	return metadatahttp.Sleep(ctx, w.src.clock, w.src.backoff(w.idle))
}

// transition returns the notices a new known value causes: a canceled
// notice for the event in force if it ended or changed, and a notice for a
// new event.
func (w *watcher) transition(value string, kind notice.Kind, etag string, now time.Time) []notice.Notice {
	if w.active != nil && kind != "" && value == w.activeValue {
		return nil // same event, e.g. after a timeout_sec answer or a re-subscription
	}
	var out []notice.Notice
	if w.active != nil {
		out = append(out, w.cancel(now, value))
	}
	if kind != "" {
		n := w.newNotice(value, kind, etag, now)
		w.active, w.activeValue = &n, value
		w.src.log.Info("gcp metadata announces an event", logging.KeyNotice, n.ID, "key", w.spec.key, "value", value,
			logging.KeyKind, kind, "deadline", n.Deadline)
		out = append(out, n)
	}
	return out
}

func (w *watcher) cancel(now time.Time, value string) notice.Notice {
	c := *w.active
	c.Canceled = true
	c.Detected = now
	c.Attributes = maps.Clone(c.Attributes)
	c.Attributes["ended-by"] = value
	c.Reason = "GCP " + w.spec.key + " changed from " + w.activeValue + " to " + value
	w.active, w.activeValue = nil, ""
	w.src.log.Info("gcp metadata event ended", logging.KeyNotice, c.ID, "key", w.spec.key, "value", value)
	return c
}

func (w *watcher) newNotice(value string, kind notice.Kind, etag string, now time.Time) notice.Notice {
	occurrence := etag
	if occurrence == "" { // a server without ETags: fall back to the detection time
		occurrence = "t" + now.UTC().Format("20060102T150405Z")
	}
	attrs := map[string]string{"key": w.spec.key, "value": value, "etag": etag}
	for k, v := range map[string]string{"zone": w.inst.zone, "instance-type": w.inst.machineType, "instance-name": w.inst.name} {
		if v != "" {
			attrs[k] = v
		}
	}
	return notice.Notice{
		ID:         w.spec.id(w.inst.id, value, occurrence),
		Source:     Name,
		Kind:       kind,
		Node:       w.src.cfg.Node,
		InstanceID: w.inst.id,
		Deadline:   now.Add(w.spec.notice),
		Detected:   now,
		Reason:     "GCP " + w.spec.key + " is " + value,
		Attributes: attrs,
	}
}
