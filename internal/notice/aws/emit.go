package aws

import (
	"context"
	"maps"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// alreadySent reports whether a notice with this ID and cancel state went
// out. A canceled notice follows an active one with the same ID once.
func (s *Source) alreadySent(id string, canceled bool) bool {
	s.sentMu.Lock()
	defer s.sentMu.Unlock()
	wasCanceled, ok := s.sent[id]
	return ok && (wasCanceled || !canceled)
}

// emit sends n unless it went out before, filling in the fields every AWS
// notice has. It returns errCanceled if ctx ends first.
func (s *Source) emit(ctx context.Context, out chan<- notice.Notice, n notice.Notice) error {
	if s.alreadySent(n.ID, n.Canceled) {
		return nil
	}
	id := s.identity(ctx)
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
	s.sent[n.ID] = n.Canceled
	s.sentMu.Unlock()
	s.log.Info("notice", logging.KeyEvent, n.ID, "kind", n.Kind, "canceled", n.Canceled,
		"deadline", n.Deadline, "reason", n.Reason)
	return nil
}
