package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// Ack tells Azure that lifeboat is done with the event, so it may start
// now: it POSTs {"StartRequests":[{"EventId":"<n.ID>"}]} to the Scheduled
// Events URL. Only events this source emitted and that are still listed
// can be acknowledged; anything else is an *UnknownEventError and nothing
// is sent. A refused request is an *HTTPStatusError.
func (s *Source) Ack(ctx context.Context, n notice.Notice) error {
	if n.Source != Name {
		return fmt.Errorf("azure source cannot acknowledge a notice from source %q", n.Source)
	}
	if n.Canceled {
		return errors.New("azure source cannot acknowledge a canceled notice")
	}
	s.mu.Lock()
	err := s.tracker.ackable(n.ID)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	body, err := json.Marshal(StartRequests{StartRequests: []StartRequest{{EventID: n.ID}}})
	if err != nil {
		return err
	}
	if _, err := s.do(ctx, http.MethodPost, s.eventsURL(), body); err != nil {
		return fmt.Errorf("acknowledging azure scheduled event %s: %w", n.ID, err)
	}
	s.log.Info("azure scheduled event acknowledged", "event", n.ID)
	return nil
}
