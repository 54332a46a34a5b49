package aws

import (
	"context"
	"errors"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// maxMissingPolls is how many event polls an event that left the scheduled
// list is looked for in the history before it is forgotten.
const maxMissingPolls = 12

// maintTracker follows maintenance events between polls. EC2 lists active
// events in events/maintenance/scheduled and moves canceled and completed
// ones to events/maintenance/history; the history is read once at start (an
// event may have completed while lifeboat was down, e.g. during the reboot
// it announced) and whenever an event we announced leaves the scheduled list.
type maintTracker struct {
	historyRead bool
	active      map[string]bool // announced, not yet canceled
	missing     map[string]int  // left the scheduled list -> polls since
}

func newMaintTracker() maintTracker {
	return maintTracker{active: map[string]bool{}, missing: map[string]int{}}
}

func (s *Source) pollMaintenance(ctx context.Context, out chan<- notice.Notice) error {
	var events []maintenanceEvent // 404 is read as none
	if _, err := s.getJSON(ctx, pathMaintenanceScheduled, &events, nil); err != nil {
		return err
	}
	listed := map[string]bool{}
	var errs []error
	for _, ev := range events {
		listed[ev.EventID] = true
		delete(s.maint.missing, ev.EventID)
		errs = append(errs, s.emitMaintenance(ctx, out, pathMaintenanceScheduled, ev))
	}
	t := &s.maint
	for id := range t.active {
		if _, ok := t.missing[id]; !ok && !listed[id] {
			t.missing[id] = 0
		}
	}
	if !t.historyRead || len(t.missing) > 0 {
		errs = append(errs, s.pollHistory(ctx, out))
	}
	return errors.Join(errs...)
}

// pollHistory announces canceled and completed events as canceled notices.
func (s *Source) pollHistory(ctx context.Context, out chan<- notice.Notice) error {
	var events []maintenanceEvent
	if _, err := s.getJSON(ctx, pathMaintenanceHistory, &events, nil); err != nil {
		return err
	}
	t := &s.maint
	t.historyRead = true
	var errs []error
	for _, ev := range events {
		if ev.State == "canceled" || ev.State == "completed" {
			errs = append(errs, s.emitMaintenance(ctx, out, pathMaintenanceHistory, ev))
		}
	}
	for id := range t.missing {
		if t.missing[id]++; t.missing[id] >= maxMissingPolls {
			delete(t.missing, id)
			delete(t.active, id)
		}
	}
	return errors.Join(errs...)
}

// emitMaintenance sends one event's notice (once) and tracks whether it is active.
func (s *Source) emitMaintenance(ctx context.Context, out chan<- notice.Notice, path string, ev maintenanceEvent) error {
	if ev.EventID == "" {
		return s.report(ctx, path, ReasonMalformed, errors.New("event without EventId"))
	}
	n, perr := maintenanceNotice(ev)
	if !s.alreadySent(n) {
		if perr != nil {
			perr = s.report(ctx, path, ReasonMalformed, perr)
		}
		if _, known := maintenanceKind(ev.Code); !known {
			s.log.Warn("unknown maintenance event code, treated as a reboot",
				logging.KeyNotice, ev.EventID, "code", ev.Code)
		}
		if err := s.emit(ctx, out, n); err != nil {
			return err
		}
	} else {
		perr = nil
	}
	t := &s.maint
	if n.Canceled {
		delete(t.active, n.ID)
		delete(t.missing, n.ID)
	} else {
		t.active[n.ID] = true
	}
	return perr
}
