package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// EventBridge detail-type values lifeboat understands.
const (
	DetailSpotInterruption = "EC2 Spot Instance Interruption Warning"
	DetailRebalance        = "EC2 Instance Rebalance Recommendation"
	DetailStateChange      = "EC2 Instance State-change Notification"
	DetailHealth           = "AWS Health Event"
	DetailTerminateAction  = "EC2 Instance-terminate Lifecycle Action"
	DetailLaunchAction     = "EC2 Instance-launch Lifecycle Action"
	detailDirectASG        = "Auto Scaling notification"
)

// SpotWarningLead is how long before the interruption EC2 sends the spot
// interruption warning; the notice's deadline is the event time plus this.
const SpotWarningLead = 2 * time.Minute

// envelope is an EventBridge event.
type envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// directASG is a lifecycle notification Auto Scaling sends straight to SQS
// or SNS, without EventBridge.
type directASG struct {
	Hook
	Service   string `json:"Service"`
	Event     string `json:"Event,omitempty"`
	Time      string `json:"Time"`
	RequestID string `json:"RequestId"`
	AccountID string `json:"AccountId"`
}

// snsNotification wraps a message delivered through an SNS topic.
type snsNotification struct {
	Type      string `json:"Type"`
	MessageID string `json:"MessageId"`
	Message   string `json:"Message"`
}

// Parse decodes one message body. now is when lifeboat saw it (the notices'
// Detected time). A body lifeboat cannot understand yields a *ParseError.
func Parse(body []byte, now time.Time) (Message, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return Message{}, parseErr(nil, "body is not a JSON object")
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		return Message{}, parseErr(err, "invalid JSON")
	}
	switch {
	case probe["detail-type"] != nil:
		var env envelope
		if err := json.Unmarshal(body, &env); err != nil {
			return Message{}, parseErr(err, "invalid EventBridge envelope")
		}
		return parseEnvelope(&env, now)
	case probe["Type"] != nil && probe["Message"] != nil:
		var sns snsNotification
		if err := json.Unmarshal(body, &sns); err != nil || sns.Type != "Notification" {
			return Message{}, parseErr(err, "invalid SNS notification")
		}
		return Parse([]byte(sns.Message), now)
	case probe["Service"] != nil || probe["LifecycleTransition"] != nil || probe["Event"] != nil:
		var d directASG
		if err := json.Unmarshal(body, &d); err != nil {
			return Message{}, parseErr(err, "invalid Auto Scaling notification")
		}
		return parseDirect(&d, now)
	}
	return Message{}, parseErr(nil, "neither an EventBridge event nor an Auto Scaling notification")
}

func parseEnvelope(env *envelope, now time.Time) (Message, error) {
	if env.ID == "" {
		return Message{}, parseErr(nil, "EventBridge event without id")
	}
	issued, err := time.Parse(time.RFC3339, env.Time)
	if err == nil && issued.IsZero() { // a zero deadline would read as "none"
		err = errors.New("the zero time")
	}
	if err != nil {
		return Message{}, parseErr(err, "EventBridge event %s: bad time %q", env.ID, env.Time)
	}
	b := base{id: env.ID, issued: issued, detected: now, region: env.Region, detailType: env.DetailType}
	var m Message
	switch env.DetailType {
	case DetailSpotInterruption:
		m, err = parseSpot(b, env.Detail)
	case DetailRebalance:
		m, err = parseRebalance(b, env.Detail)
	case DetailStateChange:
		m, err = parseStateChange(b, env.Detail)
	case DetailHealth:
		m, err = parseHealth(b, env.Detail)
	case DetailTerminateAction, DetailLaunchAction:
		var h Hook
		if err := json.Unmarshal(env.Detail, &h); err != nil {
			return Message{}, parseErr(err, "event %s: invalid lifecycle action detail", env.ID)
		}
		m, err = lifecycle(b, &h)
	default:
		return Message{}, parseErr(nil, "event %s: unsupported detail-type %q", env.ID, env.DetailType)
	}
	m.DetailType = env.DetailType
	return m, err
}

func parseDirect(d *directASG, now time.Time) (Message, error) {
	if d.Event == "autoscaling:TEST_NOTIFICATION" {
		return Message{Ignored: d.Event, DetailType: detailDirectASG}, nil
	}
	if d.Transition == "" {
		return Message{}, parseErr(nil, "Auto Scaling notification without LifecycleTransition (Event %q)", d.Event)
	}
	issued, _ := time.Parse(time.RFC3339Nano, d.Time)
	id := d.RequestID
	if id == "" {
		id = d.Token
	}
	if id == "" {
		return Message{}, parseErr(nil, "Auto Scaling notification without RequestId or LifecycleActionToken")
	}
	m, err := lifecycle(base{id: id, issued: issued, detected: now, detailType: detailDirectASG}, &d.Hook)
	m.DetailType = detailDirectASG
	return m, err
}

// base holds what every notice from one message shares.
type base struct {
	id               string
	issued, detected time.Time
	region           string
	detailType       string
}

func (b base) notice(kind notice.Kind, instance, reason string) notice.Notice {
	attrs := map[string]string{"event-type": b.detailType}
	if b.region != "" {
		attrs["region"] = b.region
	}
	return notice.Notice{
		ID: b.id, Kind: kind, InstanceID: instance, Issued: b.issued, Detected: b.detected,
		Reason: reason, Attributes: attrs,
	}
}

// isInstanceID reports whether id reads as an EC2 instance ID: "i-" and
// letters or digits. Anything else (empty, a comma, spaces) would make a
// notice ID the Node's handled record cannot hold.
func isInstanceID(id string) bool {
	rest, ok := strings.CutPrefix(id, "i-")
	if !ok || rest == "" {
		return false
	}
	return !strings.ContainsFunc(rest, func(c rune) bool {
		return (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z')
	})
}

func lifecycle(b base, h *Hook) (Message, error) {
	if !isInstanceID(h.InstanceID) || h.Name == "" || h.Group == "" {
		return Message{}, parseErr(nil, "lifecycle action %s lacks EC2InstanceId, LifecycleHookName or AutoScalingGroupName", b.id)
	}
	hook := *h
	switch h.Transition {
	case TransitionTerminating:
		n := b.notice(notice.KindASGTermination, h.InstanceID, "Auto Scaling group "+h.Group+" terminates the instance")
		n.ID = notice.EventID(n.Kind, h.InstanceID, time.Time{})
		n.Attributes["asg"] = h.Group
		return Message{Events: []Event{{Notice: n, Hook: &hook}}}, nil
	case TransitionLaunching:
		n := b.notice(KindASGLaunch, h.InstanceID, "Auto Scaling group "+h.Group+" launches the instance")
		n.ID = notice.EventID(n.Kind, h.InstanceID, time.Time{})
		n.Attributes["asg"] = h.Group
		return Message{Events: []Event{{Notice: n, Hook: &hook}}}, nil
	}
	return Message{}, parseErr(nil, "lifecycle action %s: unknown LifecycleTransition %q", b.id, h.Transition)
}

func decodeDetail(b base, raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return parseErr(nil, "event %s has no detail", b.id)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return parseErr(err, "event %s: invalid detail", b.id)
	}
	return nil
}

type ec2Detail struct {
	InstanceID     string `json:"instance-id"`
	InstanceAction string `json:"instance-action"`
	State          string `json:"state"`
}

func parseSpot(b base, raw json.RawMessage) (Message, error) {
	var d ec2Detail
	if err := decodeDetail(b, raw, &d); err != nil {
		return Message{}, err
	}
	if !isInstanceID(d.InstanceID) {
		return Message{}, parseErr(nil, "spot interruption %s without a valid instance-id", b.id)
	}
	n := b.notice(notice.KindSpotInterruption, d.InstanceID, "spot interruption ("+d.InstanceAction+")")
	n.Deadline = b.issued.Add(SpotWarningLead)
	n.ID = notice.EventID(n.Kind, d.InstanceID, n.Deadline)
	n.Attributes["action"] = d.InstanceAction
	return Message{Events: []Event{{Notice: n}}}, nil
}

func parseRebalance(b base, raw json.RawMessage) (Message, error) {
	var d ec2Detail
	if err := decodeDetail(b, raw, &d); err != nil {
		return Message{}, err
	}
	if !isInstanceID(d.InstanceID) {
		return Message{}, parseErr(nil, "rebalance recommendation %s without a valid instance-id", b.id)
	}
	n := b.notice(notice.KindRebalance, d.InstanceID, "rebalance recommendation")
	n.ID = notice.EventID(n.Kind, d.InstanceID, b.issued)
	return Message{Events: []Event{{Notice: n}}}, nil
}

// goingAway are the EC2 states that mean the instance is going away.
var goingAway = map[string]bool{"stopping": true, "stopped": true, "shutting-down": true, "terminated": true}

func parseStateChange(b base, raw json.RawMessage) (Message, error) {
	var d ec2Detail
	if err := decodeDetail(b, raw, &d); err != nil {
		return Message{}, err
	}
	if !isInstanceID(d.InstanceID) || d.State == "" {
		return Message{}, parseErr(nil, "state change %s without a valid instance-id or state", b.id)
	}
	if !goingAway[d.State] {
		return Message{Ignored: "instance state " + d.State}, nil
	}
	n := b.notice(notice.KindTermination, d.InstanceID, "instance "+d.State)
	// The change is already under way: there is no time left to wait for.
	n.Deadline = b.issued
	n.ID = notice.EventID(n.Kind, d.InstanceID, b.issued)
	n.Attributes["state"] = d.State
	return Message{Events: []Event{{Notice: n}}}, nil
}

type healthDetail struct {
	EventArn          string `json:"eventArn"`
	Service           string `json:"service"`
	EventTypeCode     string `json:"eventTypeCode"`
	EventTypeCategory string `json:"eventTypeCategory"`
	StatusCode        string `json:"statusCode"`
	StartTime         string `json:"startTime"`
	AffectedEntities  []struct {
		EntityValue string `json:"entityValue"`
	} `json:"affectedEntities"`
}

func parseHealth(b base, raw json.RawMessage) (Message, error) {
	var d healthDetail
	if err := decodeDetail(b, raw, &d); err != nil {
		return Message{}, err
	}
	if d.Service != "EC2" || d.EventTypeCategory != "scheduledChange" {
		return Message{Ignored: "health event " + d.Service + "/" + d.EventTypeCategory}, nil
	}
	closed := d.StatusCode == "closed"
	start, err := parseHealthTime(d.StartTime)
	if err != nil && !closed {
		return Message{}, parseErr(err, "health event %s: bad startTime %q", b.id, d.StartTime)
	}
	kind := notice.KindScheduledTermination
	if strings.Contains(d.EventTypeCode, "REBOOT") || strings.Contains(d.EventTypeCode, "MAINTENANCE") {
		kind = notice.KindScheduledReboot
	}
	var m Message
	for _, e := range d.AffectedEntities {
		if !isInstanceID(e.EntityValue) {
			continue
		}
		n := b.notice(kind, e.EntityValue, "scheduled "+d.EventTypeCode)
		n.Deadline = start
		n.Attributes["health-event"] = d.EventTypeCode
		// One ID per instance and Health event, the same in the open and the
		// closed message, so closing it releases what opening it did.
		if d.EventArn != "" {
			n.ID = "health/" + e.EntityValue + "/" + strings.ReplaceAll(d.EventArn, ",", "")
		}
		if closed {
			n.Canceled, n.Deadline = true, time.Time{}
			n.Reason = "scheduled " + d.EventTypeCode + " closed"
		}
		m.Events = append(m.Events, Event{Notice: n})
	}
	if len(m.Events) == 0 {
		return Message{}, parseErr(nil, "health event %s names no EC2 instance", b.id)
	}
	return m, nil
}

// parseHealthTime accepts AWS Health's RFC 1123 times ("Sat, 05 Jun 2021
// 02:00:00 GMT") and RFC 3339. time.Parse reads a zone abbreviation it does
// not know (PST, CEST...) as UTC, hours off; AWS Health writes GMT, so no
// other abbreviation is taken.
func parseHealthTime(s string) (time.Time, error) {
	if i := strings.LastIndexByte(s, ' '); i >= 0 {
		if z := s[i+1:]; z != "UTC" && !strings.HasPrefix(z, "GMT") && !strings.HasPrefix(z, "+") && !strings.HasPrefix(z, "-") {
			return time.Time{}, fmt.Errorf("time zone %q is not GMT", z)
		}
	}
	var err error
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, time.RFC3339} {
		var t time.Time
		if t, err = time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}
