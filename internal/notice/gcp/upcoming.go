package gcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/compute/metadata"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/metadatahttp"
)

// Keys read for planned maintenance.
const (
	// KeyUpcomingMaintenance is "NONE" or a JSON description of the next
	// maintenance window (some machine types only; others answer 404).
	KeyUpcomingMaintenance = "instance/upcoming-maintenance"
	// KeyOnHostMaintenance is MIGRATE or TERMINATE: what the maintenance
	// does to this VM.
	KeyOnHostMaintenance = "instance/scheduling/on-host-maintenance"
)

// Defaults of the upcoming-maintenance reader.
const (
	// DefaultUpcomingInterval is the wait between reads.
	DefaultUpcomingInterval = time.Minute
)

// UpcomingMaintenance is a parsed instance/upcoming-maintenance value.
type UpcomingMaintenance struct {
	// Type is SCHEDULED or UNSCHEDULED (as sent).
	Type string
	// Status is PENDING or ONGOING (as sent).
	Status string
	// WindowStart is when the maintenance may start; WindowEnd when it is over.
	WindowStart, WindowEnd time.Time
	// LatestWindowStart is the latest the window can be moved to.
	LatestWindowStart time.Time
	// CanReschedule reports whether the owner can trigger it earlier.
	CanReschedule bool
	// Reasons are the maintenance reasons, if given.
	Reasons []string
}

// errNoWindow is an upcoming-maintenance object without a window start.
var errNoWindow = errors.New("no window_start_time / windowStartTime")

// ParseUpcomingMaintenance reads the key's value. found is false for "NONE",
// an empty value or the "no notifications have been received yet" error
// object: nothing is planned. Field names are accepted in snake_case (as in
// Google's documentation sample) and camelCase (as the Compute API and some
// agents spell them); a window start is required and every time must be
// RFC 3339.
func ParseUpcomingMaintenance(v string) (m UpcomingMaintenance, found bool, err error) {
	v = strings.TrimSpace(v)
	if v == "" || strings.EqualFold(v, "NONE") {
		return m, false, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return m, false, err
	}
	if _, isErr := raw["error"]; isErr && len(raw) == 1 {
		return m, false, nil
	}
	pick := func(names ...string) json.RawMessage {
		for _, n := range names {
			if r, ok := raw[n]; ok && string(r) != "null" {
				return r
			}
		}
		return nil
	}
	str := func(names ...string) (string, error) {
		var s string
		if r := pick(names...); r != nil {
			if err := json.Unmarshal(r, &s); err != nil {
				return "", fmt.Errorf("%s: %w", names[0], err)
			}
		}
		return s, nil
	}
	tm := func(names ...string) (time.Time, error) {
		s, err := str(names...)
		if err != nil || s == "" {
			return time.Time{}, err
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %w", names[0], err)
		}
		return t.UTC(), nil
	}
	var errs []error
	add := func(e error) {
		if e != nil {
			errs = append(errs, e)
		}
	}
	m.Type, err = str("type")
	add(err)
	m.Status, err = str("maintenance_status", "maintenanceStatus")
	add(err)
	m.WindowStart, err = tm("window_start_time", "windowStartTime", "startTime")
	add(err)
	m.WindowEnd, err = tm("window_end_time", "windowEndTime")
	add(err)
	m.LatestWindowStart, err = tm("latest_window_start_time", "latestWindowStartTime")
	add(err)
	if r := pick("can_reschedule", "canReschedule"); r != nil {
		add(json.Unmarshal(r, &m.CanReschedule))
	}
	if r := pick("maintenance_reasons", "maintenanceReasons"); r != nil {
		add(json.Unmarshal(r, &m.Reasons))
	}
	if len(errs) == 0 && (m.WindowStart.IsZero() || m.WindowStart.Year() < 2000) {
		errs = append(errs, errNoWindow)
	}
	if err := errors.Join(errs...); err != nil {
		return UpcomingMaintenance{}, false, err
	}
	return m, true, nil
}

// UpcomingPlan is what a planned maintenance means now.
type UpcomingPlan struct {
	// Act is true once the notice is due: at once for lead 0, else once the
	// window starts within lead.
	Act bool
	// Kind is host-maintenance for a TERMINATE VM, live-migration for a
	// MIGRATE one.
	Kind notice.Kind
	// Deadline is the window start, or at least minNotice from now when the
	// maintenance is already ongoing or its window has begun.
	Deadline time.Time
}

// PlanUpcoming decides, purely, about a planned maintenance: the kind from
// the VM's on-host-maintenance policy (anything but MIGRATE, also unknown,
// counts as TERMINATE: the VM may stop) and whether the notice is due.
func PlanUpcoming(m UpcomingMaintenance, onHostMaintenance string, now time.Time, lead, minNotice time.Duration) UpcomingPlan {
	p := UpcomingPlan{Kind: notice.KindHostMaintenance, Deadline: m.WindowStart}
	if strings.EqualFold(strings.TrimSpace(onHostMaintenance), "MIGRATE") {
		p.Kind = notice.KindMigration
	}
	p.Act = lead <= 0 || strings.EqualFold(m.Status, "ONGOING") || !now.Before(m.WindowStart.Add(-lead))
	if earliest := now.Add(minNotice); p.Act && p.Deadline.Before(earliest) {
		p.Deadline = earliest
	}
	return p
}

// upcoming polls instance/upcoming-maintenance. Only a 200 answer changes
// anything: a 404 (machine type without the key), a failure or a malformed
// value leaves the notice in force as it is.
type upcoming struct {
	src  *Source
	inst instanceInfo
	out  chan<- notice.Notice

	active   *notice.Notice // owned by run's goroutine
	planned  string         // window start already logged as planned
	notFound bool           // logged that the key is not served
}

func (u *upcoming) run(ctx context.Context) {
	s := u.src
	for {
		u.poll(ctx)
		if metadatahttp.Sleep(ctx, s.clock, s.cfg.UpcomingInterval) != nil {
			return
		}
	}
}

// get reads key with a bounded context; the transport retries failures
// (counting each) until the bound.
func (u *upcoming) get(ctx context.Context, key string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, max(u.src.cfg.RequestTimeout*3, u.src.cfg.MaxBackoff*2))
	defer cancel()
	return u.src.client.GetWithContext(ctx, key)
}

func (u *upcoming) poll(ctx context.Context) {
	s := u.src
	v, err := u.get(ctx, KeyUpcomingMaintenance)
	var nd metadata.NotDefinedError
	switch {
	case errors.As(err, &nd):
		if !u.notFound {
			u.notFound = true
			s.log.Info("gcp metadata does not serve instance/upcoming-maintenance on this VM; relying on maintenance-event")
		}
		return
	case err != nil:
		return // counted by the transport; unknown is not "cleared"
	}
	m, found, err := ParseUpcomingMaintenance(v)
	if err != nil {
		s.onError(ReasonMalformed)
		s.log.Warn("ignoring malformed gcp metadata value", "key", KeyUpcomingMaintenance,
			"error", &MalformedValueError{Key: KeyUpcomingMaintenance, Value: metadatahttp.Truncate(v, 96)}, "cause", err)
		return
	}
	if !found {
		u.send(ctx, u.cancel(s.clock.Now(), "no maintenance is planned any more"))
		return
	}
	policy, perr := u.get(ctx, KeyOnHostMaintenance)
	if perr != nil {
		s.log.Warn("cannot read the on-host-maintenance policy; planning as TERMINATE", "key", KeyOnHostMaintenance, "error", perr)
	}
	now := s.clock.Now()
	p := PlanUpcoming(m, policy, now, s.cfg.MaintenanceLead, s.cfg.MaintenanceNotice)
	if !p.Act {
		if key := m.WindowStart.Format(time.RFC3339); u.planned != key {
			u.planned = key
			s.log.Info("gcp maintenance planned", "windowStart", m.WindowStart, "type", m.Type, "kind", p.Kind,
				"actAt", m.WindowStart.Add(-s.cfg.MaintenanceLead))
		}
		return
	}
	id := "gcp-upcoming-maintenance/" + u.inst.id + "/" + m.WindowStart.Format(time.RFC3339)
	if u.active != nil && u.active.ID == id && u.active.Kind == p.Kind {
		return
	}
	u.send(ctx, u.cancel(now, "the maintenance window moved"))
	n := u.newNotice(id, m, p, policy, now)
	u.active = &n
	u.send(ctx, &n)
}

func (u *upcoming) newNotice(id string, m UpcomingMaintenance, p UpcomingPlan, policy string, now time.Time) notice.Notice {
	attrs := map[string]string{
		"key": KeyUpcomingMaintenance, "event-type": m.Type, "status": m.Status,
		"window-start": m.WindowStart.Format(time.RFC3339), "on-host-maintenance": strings.TrimSpace(policy),
	}
	if !m.WindowEnd.IsZero() {
		attrs["window-end"] = m.WindowEnd.Format(time.RFC3339)
	}
	if u.inst.zone != "" {
		attrs["zone"] = u.inst.zone
	}
	return notice.Notice{
		ID: id, Source: Name, Kind: p.Kind, Node: u.src.cfg.Node, InstanceID: u.inst.id,
		Deadline: p.Deadline, Detected: now, Attributes: attrs,
		Reason: fmt.Sprintf("GCP %s maintenance of this VM starts at %s", strings.ToLower(m.Type), m.WindowStart.Format(time.RFC3339)),
	}
}

// cancel returns the canceled form of the notice in force, or nil.
func (u *upcoming) cancel(now time.Time, why string) *notice.Notice {
	if u.active == nil {
		return nil
	}
	c := *u.active
	c.Canceled, c.Detected, c.Reason = true, now, "GCP upcoming maintenance: "+why
	u.active = nil
	return &c
}

func (u *upcoming) send(ctx context.Context, n *notice.Notice) {
	if n == nil {
		return
	}
	u.src.log.Info("gcp upcoming maintenance", "event", n.ID, "kind", n.Kind, "canceled", n.Canceled, "deadline", n.Deadline)
	select {
	case u.out <- *n:
	case <-ctx.Done():
	}
}
