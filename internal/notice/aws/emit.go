package aws

import (
	"context"
	"maps"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// sentNotice is what went out last for a notice ID.
type sentNotice struct {
	canceled bool
	deadline time.Time
}

// alreadySent reports whether n went out before, unchanged. A canceled notice
// follows an active one with the same ID once; an active notice whose
// deadline moved (a rescheduled maintenance event keeps its EventId) goes out
// again so the running drain takes the new deadline.
func (s *Source) alreadySent(n notice.Notice) bool {
	s.sentMu.Lock()
	defer s.sentMu.Unlock()
	was, ok := s.sent[n.ID]
	return ok && (was.canceled || (!n.Canceled && was.deadline.Equal(n.Deadline)))
}

// emit sends n unless it went out before, filling in the fields every AWS
// notice has. It returns errCanceled if ctx ends first.
func (s *Source) emit(ctx context.Context, out chan<- notice.Notice, n notice.Notice) error {
	id := s.identity(ctx)
	n.ID = eventID(n, id.instanceID)
	if s.alreadySent(n) {
		return nil
	}
	n.Source = SourceName
	n.Node = s.cfg.NodeName
	n.InstanceID = id.instanceID
	n.Detected = s.cfg.Clock.Now()
	attrs := id.attributes()
	maps.Copy(attrs, n.Attributes)
	n.Attributes = attrs
	select {
	case out <- n:
	case <-ctx.Done():
		return errCanceled
	}
	s.sentMu.Lock()
	s.sent[n.ID] = sentNotice{canceled: n.Canceled, deadline: n.Deadline}
	s.sentMu.Unlock()
	s.log.Info("notice", logging.KeyNotice, n.ID, logging.KeyKind, n.Kind, "canceled", n.Canceled,
		"deadline", n.Deadline, "reason", n.Reason)
	return nil
}

// eventID is the notice's ID: notice.EventID for the events queue mode also
// sees (a spot interruption by its deadline, a rebalance recommendation by
// its notice time, a scale-in), so the two modes recognise each other's
// work; the source's own ID (the maintenance EventId, which survives a
// reschedule) otherwise, or when the instance ID is unknown.
func eventID(n notice.Notice, instance string) string {
	if instance == "" {
		return n.ID
	}
	switch n.Kind {
	case notice.KindSpotInterruption:
		return notice.EventID(n.Kind, instance, n.Deadline)
	case notice.KindRebalance:
		return notice.EventID(n.Kind, instance, n.Issued)
	case notice.KindASGTermination:
		return notice.EventID(n.Kind, instance, time.Time{})
	}
	return n.ID
}
