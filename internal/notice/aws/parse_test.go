package aws

import (
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

func TestNextWait(t *testing.T) {
	const max = 5 * time.Second
	tests := []struct {
		interval time.Duration
		failures int
		want     time.Duration
	}{
		{500 * time.Millisecond, 0, 500 * time.Millisecond},
		{500 * time.Millisecond, 1, 500 * time.Millisecond},
		{500 * time.Millisecond, 2, time.Second},
		{500 * time.Millisecond, 3, 2 * time.Second},
		{500 * time.Millisecond, 5, max},
		{500 * time.Millisecond, 1000, max},
		{10 * time.Second, 3, 10 * time.Second}, // an interval above the cap is kept
	}
	for _, tc := range tests {
		if got := nextWait(tc.interval, max, tc.failures); got != tc.want {
			t.Errorf("nextWait(%v, %d failures) = %v, want %v", tc.interval, tc.failures, got, tc.want)
		}
	}
}

func TestMaintenanceNotice(t *testing.T) {
	tests := []struct {
		name         string
		ev           maintenanceEvent
		wantKind     notice.Kind
		wantCanceled bool
		wantDeadline time.Time
		wantErr      bool
	}{
		{
			name: "documented example",
			ev: maintenanceEvent{
				NotBefore: "21 Jan 2019 09:00:43 GMT", NotAfter: "21 Jan 2019 09:17:23 GMT",
				Code: "system-reboot", EventID: "instance-event-0d59937288b749b32", State: "active",
			},
			wantKind: notice.KindScheduledReboot, wantDeadline: time.Date(2019, 1, 21, 9, 0, 43, 0, time.UTC),
		},
		{
			name:     "single-digit and zero-padded days",
			ev:       maintenanceEvent{NotBefore: "05 Feb 2019 09:00:43 GMT", Code: "instance-retirement", EventID: "e", State: "active"},
			wantKind: notice.KindScheduledTermination, wantDeadline: time.Date(2019, 2, 5, 9, 0, 43, 0, time.UTC),
		},
		{
			name:     "canceled in the scheduled list",
			ev:       maintenanceEvent{NotBefore: "5 Feb 2019 09:00:43 GMT", Code: "instance-stop", EventID: "e", State: "canceled"},
			wantKind: notice.KindScheduledTermination, wantCanceled: true, wantDeadline: time.Date(2019, 2, 5, 9, 0, 43, 0, time.UTC),
		},
		{
			name:     "completed",
			ev:       maintenanceEvent{NotBefore: "5 Feb 2019 09:00:43 GMT", Code: "system-maintenance", EventID: "e", State: "completed"},
			wantKind: notice.KindScheduledReboot, wantCanceled: true, wantDeadline: time.Date(2019, 2, 5, 9, 0, 43, 0, time.UTC),
		},
		{
			name:     "unknown code is treated as a reboot",
			ev:       maintenanceEvent{NotBefore: "5 Feb 2019 09:00:43 GMT", Code: "system-upgrade", EventID: "e", State: "active"},
			wantKind: notice.KindScheduledReboot, wantDeadline: time.Date(2019, 2, 5, 9, 0, 43, 0, time.UTC),
		},
		{
			name:     "zero NotBefore is unreadable too (found by FuzzMaintenance)",
			ev:       maintenanceEvent{NotBefore: "1 Jan 0001 00:00:00 GMT", Code: "instance-reboot", EventID: "e", State: "active"},
			wantKind: notice.KindScheduledReboot, wantErr: true,
		},
		{
			name:     "unparsable NotBefore keeps the event, without deadline",
			ev:       maintenanceEvent{NotBefore: "2019-02-05T09:00:43Z", Code: "instance-reboot", EventID: "e", State: "active"},
			wantKind: notice.KindScheduledReboot, wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := maintenanceNotice(tc.ev)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tc.wantErr)
			}
			if n.ID != tc.ev.EventID || n.Kind != tc.wantKind || n.Canceled != tc.wantCanceled ||
				!n.Deadline.Equal(tc.wantDeadline) || n.Attributes["code"] != tc.ev.Code {
				t.Fatalf("notice %+v", n)
			}
		})
	}
}

func TestPlausibleValue(t *testing.T) {
	for v, want := range map[string]bool{
		"i-0123456789abcdef0": true, "m5.large": true, "us-east-1a": true, "": false,
		"\x00{\"action\": <html>garbage": false, "two words": false,
	} {
		if got := plausibleValue(v); got != want {
			t.Errorf("plausibleValue(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestParseSpotTime(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: "2017-09-18T08:22:00Z", want: time.Date(2017, 9, 18, 8, 22, 0, 0, time.UTC)},
		{in: "2017-09-18T10:22:00+02:00", want: time.Date(2017, 9, 18, 8, 22, 0, 0, time.UTC)},
		{in: "0001-01-01T00:00:00Z", wantErr: true}, // found by FuzzSpotInstanceAction: read as "no deadline"
		{in: "18 Sep 2017 08:22:00 GMT", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tc := range tests {
		got, err := parseSpotTime(tc.in)
		if (err != nil) != tc.wantErr || !got.Equal(tc.want) {
			t.Errorf("parseSpotTime(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}
