package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// Ack tells Azure that lifeboat is done with the event, so it may start
// now: it POSTs {"StartRequests":[{"EventId":"<n.ID>"}]} to the Scheduled
// Events URL. Only events this source emitted and that are still listed
// can be acknowledged; anything else is an *UnknownEventError and nothing
// is sent. A refused request is an *HTTPStatusError.
//
// Approving an event starts it for every VM it lists, so an event that also
// lists other VMs (an availability set, a placement group) is acknowledged
// only when Config.PeersHandled says every one of them has finished with it;
// otherwise Ack sends nothing and returns a *SharedEventError, and the
// platform starts the event at its NotBefore.
func (s *Source) Ack(ctx context.Context, n notice.Notice) error {
	if n.Source != Name {
		return fmt.Errorf("azure source cannot acknowledge a notice from source %q", n.Source)
	}
	if n.Canceled {
		return errors.New("azure source cannot acknowledge a canceled notice")
	}
	s.mu.Lock()
	others, err := s.tracker.ackable(n.ID, s.vmName)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if len(others) > 0 {
		if err := s.peersDone(ctx, n.ID, others); err != nil {
			return err
		}
	}
	body, err := json.Marshal(StartRequests{StartRequests: []StartRequest{{EventID: n.ID}}})
	if err != nil {
		return err
	}
	if _, err := s.do(ctx, http.MethodPost, s.eventsURL(), body); err != nil {
		return fmt.Errorf("acknowledging azure scheduled event %s: %w", n.ID, err)
	}
	s.log.Info("azure scheduled event acknowledged", logging.KeyNotice, n.ID)
	return nil
}

// peersDone returns nil when every other VM the event lists has finished
// with it, and a *SharedEventError otherwise.
func (s *Source) peersDone(ctx context.Context, id string, others []string) error {
	if s.peersHandled == nil {
		return &SharedEventError{EventID: id, Others: others}
	}
	waiting, err := s.peersHandled(ctx, id, others)
	if err != nil {
		return &SharedEventError{EventID: id, Others: others, Err: err}
	}
	if len(waiting) > 0 {
		return &SharedEventError{EventID: id, Others: others, Waiting: waiting}
	}
	return nil
}
