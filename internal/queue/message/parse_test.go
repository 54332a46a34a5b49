package message

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestParseDocumentedShapes feeds the documented example of every event
// type through Parse and checks the notice, action and hook lifeboat acts on.
func TestParseDocumentedShapes(t *testing.T) {
	now := mustTime(t, "2024-01-01T00:00:00Z")
	const healthID, healthArn = "health/", "arn:aws:health:us-east-1::event/EC2/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED_ABC123-DEF456"
	type want struct {
		id, instance string
		kind         notice.Kind
		deadline     string // RFC 3339, "" for none
		hookToken    string
	}
	cases := []struct {
		file    string
		want    []want
		ignored string
	}{
		{file: "spot.json", want: []want{{"spot-interruption/i-0b662ef9931388ba0/2021-02-10T14:59:00Z", "i-0b662ef9931388ba0", notice.KindSpotInterruption, "2021-02-10T14:59:00Z", ""}}},
		{file: "rebalance.json", want: []want{{"rebalance-recommendation/i-1234567890abcdef0/2020-10-26T14:14:14Z", "i-1234567890abcdef0", notice.KindRebalance, "", ""}}},
		{file: "state-change.json", want: []want{{"termination/i-0c314xmplcd5b8173/2019-10-02T17:59:30Z", "i-0c314xmplcd5b8173", notice.KindTermination, "2019-10-02T17:59:30Z", ""}}},
		{file: "state-running.json", ignored: "instance state running"},
		{file: "health.json", want: []want{
			{healthID + "i-abcd1111/" + healthArn, "i-abcd1111", notice.KindScheduledTermination, "2023-02-10T09:00:00Z", ""},
			{healthID + "i-abcd2222/" + healthArn, "i-abcd2222", notice.KindScheduledTermination, "2023-02-10T09:00:00Z", ""},
		}},
		{file: "health-issue.json", ignored: "health event EC2/issue"},
		{file: "asg-terminate.json", want: []want{{"asg-termination/i-1234567890abcdef0", "i-1234567890abcdef0", notice.KindASGTermination, "", "87654321-4321-4321-4321-210987654321"}}},
		{file: "asg-launch.json", want: []want{{"asg-launch/i-2234567890abcdef0", "i-2234567890abcdef0", KindASGLaunch, "", "97654321-4321-4321-4321-210987654321"}}},
		{file: "asg-direct.json", want: []want{{"asg-termination/i-0aa0000aa00000aa0", "i-0aa0000aa00000aa0", notice.KindASGTermination, "", "a0a0a0a0-a0a0-a0a0-a0a0-a0a0a0a0a0a0"}}},
		{file: "sns-wrapped.json", want: []want{{"asg-termination/i-0aa0000aa00000aa0", "i-0aa0000aa00000aa0", notice.KindASGTermination, "", "a0a0a0a0-a0a0-a0a0-a0a0-a0a0a0a0a0a0"}}},
		{file: "asg-test-notification.json", ignored: "autoscaling:TEST_NOTIFICATION"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			m, err := Parse(body, now)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if m.Ignored != tc.ignored {
				t.Errorf("Ignored = %q, want %q", m.Ignored, tc.ignored)
			}
			if len(m.Events) != len(tc.want) {
				t.Fatalf("got %d events, want %d", len(m.Events), len(tc.want))
			}
			for i, w := range tc.want {
				ev := m.Events[i]
				n := ev.Notice
				if n.ID != w.id || n.InstanceID != w.instance || n.Kind != w.kind {
					t.Errorf("event %d = {%s %s %s}, want {%s %s %s}", i, n.ID, n.InstanceID, n.Kind, w.id, w.instance, w.kind)
				}
				if got := fmtTime(n.Deadline); got != w.deadline {
					t.Errorf("Deadline = %q, want %q", got, w.deadline)
				}
				if !n.Detected.Equal(now) {
					t.Errorf("Detected = %v, want %v", n.Detected, now)
				}
				if w.hookToken == "" {
					if ev.Hook != nil {
						t.Errorf("unexpected hook %+v", ev.Hook)
					}
				} else if ev.Hook == nil || ev.Hook.Token != w.hookToken || ev.Hook.InstanceID != w.instance || ev.Hook.Group != "my-asg" || ev.Hook.Name == "" {
					t.Errorf("hook = %+v, want token %s for %s in my-asg", ev.Hook, w.hookToken, w.instance)
				}
			}
		})
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// TestParsePoison checks that bodies lifeboat cannot act on are reported as
// *ParseError, which the consumer treats as poison instead of retrying.
func TestParsePoison(t *testing.T) {
	for name, body := range map[string]string{
		"empty":              "",
		"not json":           "hello",
		"truncated":          `{"version":"0","id":"x","detail-type":"EC2 Spot`,
		"array":              `[1,2]`,
		"unknown detail":     `{"version":"0","id":"x","detail-type":"Something Else","time":"2021-01-01T00:00:00Z","detail":{}}`,
		"spot sans instance": `{"version":"0","id":"x","detail-type":"EC2 Spot Instance Interruption Warning","time":"2021-01-01T00:00:00Z","detail":{}}`,
		"bad time":           `{"version":"0","id":"x","detail-type":"EC2 Spot Instance Interruption Warning","time":"yesterday","detail":{"instance-id":"i-1"}}`,
		"no id":              `{"version":"0","detail-type":"EC2 Spot Instance Interruption Warning","time":"2021-01-01T00:00:00Z","detail":{"instance-id":"i-1"}}`,
		"unknown json":       `{"hello":"world"}`,
		"hook sans group":    `{"Service":"AWS Auto Scaling","RequestId":"r","LifecycleTransition":"autoscaling:EC2_INSTANCE_TERMINATING","EC2InstanceId":"i-1"}`,
		"bad transition":     `{"Service":"AWS Auto Scaling","RequestId":"r","LifecycleTransition":"autoscaling:EC2_INSTANCE_SLEEPING","EC2InstanceId":"i-1","AutoScalingGroupName":"g","LifecycleHookName":"h"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(body), time.Now())
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error = %v, want *ParseError", body, err)
			}
		})
	}
}

// TestBuildersRoundTrip checks that the bodies `lifeboat queue send` and the
// tests put on queues parse back into the same notices.
func TestBuildersRoundTrip(t *testing.T) {
	at := mustTime(t, "2024-05-01T10:00:00Z")
	hook := Hook{Name: "drain", Group: "workers", Token: "tok-1", InstanceID: "i-9", Transition: TransitionTerminating}
	cases := []struct {
		name string
		body []byte
		kind notice.Kind
	}{
		{"spot", SpotInterruption("e1", "i-9", at), notice.KindSpotInterruption},
		{"rebalance", Rebalance("e2", "i-9", at), notice.KindRebalance},
		{"state", StateChange("e3", "i-9", "stopping", at), notice.KindTermination},
		{"health reboot", HealthScheduledChange("e4", "AWS_EC2_SYSTEM_REBOOT_MAINTENANCE_SCHEDULED", at, "i-9"), notice.KindScheduledReboot},
		{"lifecycle", LifecycleAction("e5", hook, at), notice.KindASGTermination},
		{"direct", DirectLifecycle("e6", hook, at), notice.KindASGTermination},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(tc.body, at)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Events) != 1 || m.Events[0].Notice.Kind != tc.kind || m.Events[0].Notice.InstanceID != "i-9" {
				t.Fatalf("got %+v", m)
			}
		})
	}
	m, err := Parse(TestNotification("workers", at), at)
	if err != nil || len(m.Events) != 0 || m.Ignored == "" {
		t.Fatalf("test notification: %+v, %v", m, err)
	}
	// A stop says so (decide keeps the Node).
	m, _ = Parse(StateChange("e7", "i-9", "stopped", at), at)
	if m.Events[0].Notice.Attributes["state"] != "stopped" {
		t.Errorf("stopped instance: attributes %v", m.Events[0].Notice.Attributes)
	}
}

// Times that time.Parse accepts but that would give a wrong deadline; found
// by FuzzParse.
func TestParseRefusesAccidentalTimes(t *testing.T) {
	now := mustTime(t, "2024-01-01T00:00:00Z")
	spot := `{"version":"0","id":"e-1","detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2",` +
		`"time":"0001-01-01T00:00:00Z","detail":{"instance-id":"i-1","instance-action":"terminate"}}`
	health := func(start string) string {
		return `{"version":"0","id":"e-2","detail-type":"AWS Health Event","source":"aws.health","time":"2023-01-27T09:01:22Z",` +
			`"detail":{"service":"EC2","eventTypeCategory":"scheduledChange","eventTypeCode":"AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",` +
			`"statusCode":"upcoming","startTime":"` + start + `","affectedEntities":[{"entityValue":"i-1"}]}}`
	}
	for name, body := range map[string]string{
		"zero event time (a zero deadline means none)": spot,
		"unknown zone abbreviation (read as UTC)":      health("Fri, 10 Feb 2023 09:00:00 PST"),
	} {
		var pe *ParseError
		if _, err := Parse([]byte(body), now); !errors.As(err, &pe) {
			t.Errorf("%s: err %v, want a *ParseError", name, err)
		}
	}
	for start, want := range map[string]string{
		"Fri, 10 Feb 2023 09:00:00 GMT":   "2023-02-10T09:00:00Z",
		"Fri, 10 Feb 2023 09:00:00 UTC":   "2023-02-10T09:00:00Z",
		"Fri, 10 Feb 2023 11:00:00 +0200": "2023-02-10T09:00:00Z",
		"2023-02-10T09:00:00Z":            "2023-02-10T09:00:00Z",
	} {
		m, err := Parse([]byte(health(start)), now)
		if err != nil || len(m.Events) != 1 || !m.Events[0].Notice.Deadline.Equal(mustTime(t, want)) {
			t.Errorf("startTime %q: %+v, %v; want deadline %s", start, m, err, want)
		}
	}
}

// TestHealthClosedCancels: a closed Health event is a canceled notice with
// the open event's ID, so queue mode releases what the open one did.
func TestHealthClosedCancels(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "health.json"))
	if err != nil {
		t.Fatal(err)
	}
	now := mustTime(t, "2024-01-01T00:00:00Z")
	open, err := Parse(body, now)
	if err != nil {
		t.Fatal(err)
	}
	closedBody := strings.Replace(string(body), `"statusCode": "upcoming"`, `"statusCode": "closed"`, 1)
	closedBody = strings.Replace(closedBody, `"statusCode":"upcoming"`, `"statusCode":"closed"`, 1)
	if closedBody == string(body) {
		t.Fatal("testdata/health.json has no upcoming statusCode to close")
	}
	closed, err := Parse([]byte(closedBody), now)
	if err != nil || len(closed.Events) != len(open.Events) {
		t.Fatalf("closed: %+v, %v", closed, err)
	}
	for i, ev := range closed.Events {
		if !ev.Notice.Canceled || ev.Notice.ID != open.Events[i].Notice.ID || !ev.Notice.Deadline.IsZero() {
			t.Errorf("closed event %d = %+v; want canceled with ID %s", i, ev.Notice, open.Events[i].Notice.ID)
		}
	}
}
