package aws

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// Metadata paths polled for events.
const (
	pathRebalance            = "events/recommendations/rebalance"
	pathMaintenanceScheduled = "events/maintenance/scheduled"
	pathMaintenanceHistory   = "events/maintenance/history"
)

// MaintenanceTimeLayout is how IMDS writes NotBefore/NotAfter
// ("21 Jan 2019 09:00:43 GMT"); it also parses zero-padded days.
const MaintenanceTimeLayout = "2 Jan 2006 15:04:05 GMT"

// pollEvents reads the rebalance recommendation and the maintenance events.
// Both are read even if one fails; their errors are joined.
func (s *Source) pollEvents(ctx context.Context, out chan<- notice.Notice) error {
	return errors.Join(s.pollRebalance(ctx, out), s.pollMaintenance(ctx, out))
}

func (s *Source) pollRebalance(ctx context.Context, out chan<- notice.Notice) error {
	var r struct {
		NoticeTime string `json:"noticeTime"`
	}
	var issued time.Time
	found, err := s.getJSON(ctx, pathRebalance, &r, func() (err error) {
		issued, err = time.Parse(time.RFC3339, r.NoticeTime)
		return err
	})
	if err != nil || !found {
		return err
	}
	return s.emit(ctx, out, notice.Notice{
		ID:     "aws-rebalance/" + r.NoticeTime,
		Kind:   notice.KindRebalance,
		Issued: issued,
		Reason: "EC2 rebalance recommendation: elevated risk of spot interruption",
	})
}

// maintenanceEvent is one entry of events/maintenance/scheduled or history.
type maintenanceEvent struct {
	NotBefore   string `json:"NotBefore"`
	NotAfter    string `json:"NotAfter"`
	Code        string `json:"Code"`
	Description string `json:"Description"`
	EventID     string `json:"EventId"`
	State       string `json:"State"`
}

// maintenanceKind maps an event code to a notice kind. Unknown (future)
// codes are treated as a reboot: the node is drained either way, and a
// reboot is the milder assumption about whether it comes back.
func maintenanceKind(code string) (kind notice.Kind, known bool) {
	switch code {
	case "instance-reboot", "system-reboot", "system-maintenance":
		return notice.KindScheduledReboot, true
	case "instance-retirement", "instance-stop":
		return notice.KindScheduledTermination, true
	}
	return notice.KindScheduledReboot, false
}

// maintenanceNotice converts an event; an unparsable NotBefore leaves the
// deadline zero rather than dropping the event (the error is returned too).
func maintenanceNotice(ev maintenanceEvent) (notice.Notice, error) {
	kind, _ := maintenanceKind(ev.Code)
	canceled := ev.State == "canceled" || ev.State == "completed"
	n := notice.Notice{
		ID:       ev.EventID,
		Kind:     kind,
		Canceled: canceled,
		Reason:   fmt.Sprintf("EC2 scheduled %s not before %s", ev.Code, ev.NotBefore),
		Attributes: map[string]string{
			"code": ev.Code, "event-type": ev.Code, "state": ev.State,
		},
	}
	if canceled {
		n.Reason = fmt.Sprintf("EC2 scheduled %s %s", ev.Code, ev.State)
	}
	if ev.Description != "" {
		n.Attributes["description"] = ev.Description
	}
	var err error
	if ev.NotBefore != "" {
		n.Deadline, err = time.Parse(MaintenanceTimeLayout, ev.NotBefore)
		if err == nil && n.Deadline.IsZero() { // would read as "no deadline"
			err = fmt.Errorf("NotBefore %q is the zero time", ev.NotBefore)
		}
	}
	return n, err
}
