package awsfake

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

const asgNS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"

// Lifecycle action results.
const (
	ResultContinue = "CONTINUE"
	ResultAbandon  = "ABANDON"
)

// LifecycleAction is an instance waiting in a lifecycle hook.
type LifecycleAction struct {
	// Group, Hook, InstanceID and Token identify the action.
	Group, Hook, InstanceID, Token string
	// Transition is autoscaling:EC2_INSTANCE_TERMINATING or _LAUNCHING.
	Transition string
	// HeartbeatTimeout is how long the action waits without a heartbeat
	// before Auto Scaling applies DefaultResult. Real hooks allow 30 s to
	// 7200 s; the fake allows anything so tests can be short.
	HeartbeatTimeout time.Duration
	// DefaultResult applies on timeout (ABANDON if empty).
	DefaultResult string

	// Heartbeats counts RecordLifecycleActionHeartbeat calls.
	Heartbeats int
	// Result is CONTINUE or ABANDON once the action ended.
	Result string
	// TimedOut reports that the heartbeat timeout ended the action.
	TimedOut bool
	// Completions counts successful CompleteLifecycleAction calls (at most 1).
	Completions int
	// Rejected counts calls refused because the action was no longer active.
	Rejected int

	started, lastBeat, ended time.Time
}

// Active reports whether the instance still waits in the hook.
func (a *LifecycleAction) Active() bool { return a.Result == "" }

// AutoScaling is an in-memory Auto Scaling API for lifecycle actions,
// speaking the AWS query protocol.
type AutoScaling struct {
	clock clock.Clock

	mu      sync.Mutex
	actions map[string]*LifecycleAction // by token
	groups  map[string]*Group           // by name (autoscaling_groups.go)
}

func newAutoScaling(clk clock.Clock) *AutoScaling {
	return &AutoScaling{clock: clk, actions: map[string]*LifecycleAction{}}
}

// Start puts an instance into a lifecycle hook's wait state, as Auto Scaling
// does before it sends the lifecycle notification. A.Token is generated when
// empty. It returns the token.
func (a *AutoScaling) Start(act LifecycleAction) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if act.Token == "" {
		act.Token = randomID()
	}
	if act.DefaultResult == "" {
		act.DefaultResult = ResultAbandon
	}
	if act.HeartbeatTimeout == 0 {
		act.HeartbeatTimeout = time.Hour
	}
	now := a.clock.Now()
	act.started, act.lastBeat = now, now
	a.actions[act.Token] = &act
	return act.Token
}

// Action returns a copy of the action with the token, applying a heartbeat
// timeout that has passed.
func (a *AutoScaling) Action(token string) (LifecycleAction, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	act, ok := a.actions[token]
	if !ok {
		return LifecycleAction{}, false
	}
	a.expire(act)
	return *act, true
}

func (a *AutoScaling) expire(act *LifecycleAction) {
	if act.Active() && a.clock.Since(act.lastBeat) > act.HeartbeatTimeout {
		act.Result, act.TimedOut, act.ended = act.DefaultResult, true, act.lastBeat.Add(act.HeartbeatTimeout)
	}
}

// find returns the active action for a request, by token or by group, hook
// and instance, or a ValidationError as Auto Scaling answers.
func (a *AutoScaling) find(form func(string) string) (*LifecycleAction, error) {
	token, instance := form("LifecycleActionToken"), form("InstanceId")
	group, hook := form("AutoScalingGroupName"), form("LifecycleHookName")
	if group == "" || hook == "" {
		return nil, &queryError{"ValidationError", "AutoScalingGroupName and LifecycleHookName are required"}
	}
	for _, act := range a.actions {
		if (token != "" && act.Token != token) || (token == "" && act.InstanceID != instance) ||
			act.Group != group || act.Hook != hook {
			continue
		}
		a.expire(act)
		if !act.Active() {
			act.Rejected++
			break
		}
		return act, nil
	}
	if token != "" {
		return nil, &queryError{"ValidationError", "No active Lifecycle Action found with token " + token}
	}
	return nil, &queryError{"ValidationError", "No active Lifecycle Action found with instance ID " + instance}
}

// ServeHTTP answers CompleteLifecycleAction, RecordLifecycleActionHeartbeat,
// DetachInstances and DescribeAutoScalingInstances.
func (a *AutoScaling) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeQueryError(w, asgNS, &queryError{"MalformedInput", err.Error()})
		return
	}
	if a.serveGroups(w, r) {
		return
	}
	action := r.Form.Get("Action")
	a.mu.Lock()
	act, err := a.find(r.Form.Get)
	if err == nil {
		switch action {
		case "RecordLifecycleActionHeartbeat":
			act.Heartbeats++
			act.lastBeat = a.clock.Now()
		case "CompleteLifecycleAction":
			res := r.Form.Get("LifecycleActionResult")
			if res != ResultContinue && res != ResultAbandon {
				err = &queryError{"ValidationError", "LifecycleActionResult must be CONTINUE or ABANDON"}
				break
			}
			act.Result, act.ended = res, a.clock.Now()
			act.Completions++
		default:
			err = &queryError{"InvalidAction", "awsfake does not implement " + action}
		}
	}
	a.mu.Unlock()
	if err != nil {
		writeQueryError(w, asgNS, err)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	// action is one of the implemented actions here: unknown ones were answered with InvalidAction above.
	fmt.Fprintf(w, `<%[1]sResponse xmlns="%[2]s"><%[1]sResult/><ResponseMetadata><RequestId>%[3]s</RequestId></ResponseMetadata></%[1]sResponse>`, //nolint:gosec // see above
		action, asgNS, randomID())
}

// queryError is an error reply of a query-protocol service.
type queryError struct{ code, msg string }

func (e *queryError) Error() string { return e.code + ": " + e.msg }

func writeQueryError(w http.ResponseWriter, ns string, err error) {
	var qe *queryError
	if !errors.As(err, &qe) {
		qe = &queryError{"InternalFailure", err.Error()}
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusBadRequest)
	type xmlErr struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	_ = xml.NewEncoder(w).Encode(struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		NS        string   `xml:"xmlns,attr"`
		Error     xmlErr   `xml:"Error"`
		RequestID string   `xml:"RequestId"`
	}{NS: ns, Error: xmlErr{"Sender", qe.code, qe.msg}, RequestID: randomID()})
}
