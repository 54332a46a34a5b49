package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/lifeboat-dev/lifeboat/internal/handled"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/queue/events"
)

// Outcome is how the work for one event ended.
type Outcome string

// The outcomes. Every one of them is final: the message can be deleted.
const (
	OutcomeDrained        Outcome = "drained"
	OutcomeDrainFailed    Outcome = "drain-failed"
	OutcomeTainted        Outcome = "tainted"
	OutcomeCordoned       Outcome = "cordoned"
	OutcomeLaunched       Outcome = "launched"
	OutcomeLaunchTimeout  Outcome = "launch-timeout"
	OutcomeNotFound       Outcome = "node-not-found"
	OutcomeNotManaged     Outcome = "not-managed"
	OutcomeAlreadyHandled Outcome = "already-handled"
	OutcomeIgnored        Outcome = "ignored"
)

// Processor carries out one event: find the Node, act per Policy, heartbeat
// and complete the lifecycle hook, record the notice as handled. Queue mode
// and Lambda mode share it.
type Processor struct {
	// Client writes the handled-notices annotation and re-reads Nodes.
	Client kubernetes.Interface
	// Nodes finds Nodes by instance id or DNS name.
	Nodes NodeFinder
	// Drainer is the drain engine.
	Drainer Drainer
	// AutoScaling completes and heartbeats lifecycle hooks; nil if unused.
	AutoScaling AutoScalingAPI
	// EC2 serves the private-DNS fallback and managed-tag check; nil if unused.
	EC2 EC2API
	// Policy decides the actions.
	Policy Policy
	// Clock times heartbeats, deadlines and the launch wait.
	Clock clock.WithTicker
	// Log receives one line per decision.
	Log *slog.Logger
	// Stats counts outcomes; may be shared with a Consumer.
	Stats *Stats
}

func (p *Processor) hooks() *hooks {
	return &hooks{api: p.AutoScaling, clock: p.Clock, log: p.Log, stats: p.Stats}
}

// Task is one event in progress, between Prepare and Run.
type Task struct {
	p       *Processor
	ev      events.Event
	attempt int
	node    string  // resolved Node name ("" if none)
	outcome Outcome // set when Prepare already finished the work
	stop    func()  // stops the hook heartbeats
	log     *slog.Logger
}

// Node returns the Node name the task acts on, if one was found.
func (t *Task) Node() string { return t.node }

// Done reports that Prepare finished the work: Run only returns the outcome.
func (t *Task) Done() bool { return t.outcome != "" }

// Process runs the whole event (Prepare then Run). attempt is the delivery
// count (1 for the first).
func (p *Processor) Process(ctx context.Context, ev events.Event, attempt int) (Outcome, error) {
	t, err := p.Prepare(ctx, ev, attempt)
	if err != nil {
		return "", err
	}
	return t.Run(ctx)
}

// Prepare does the quick part: resolve the Node, skip notices already
// handled or instances not managed, and cordon for a drain, so every
// affected node is cordoned at once even when drains queue for a worker.
// Lifecycle hooks are heartbeated from here until Run returns. An error is
// transient: the event should be retried later.
func (p *Processor) Prepare(ctx context.Context, ev events.Event, attempt int) (*Task, error) {
	n := ev.Notice
	t := &Task{p: p, ev: ev, attempt: attempt, stop: func() {}, log: p.Log.With(logging.KeyEvent, n.ID, "kind", string(n.Kind), "instance", n.InstanceID)}
	inst, err := p.describe(ctx, n.InstanceID)
	if err != nil {
		return nil, err
	}
	if !p.managed(inst) {
		t.log.Info("instance lacks the managed tag; not acting", "tag", p.Policy.ManagedTag)
		return t.finishEarly(ctx, OutcomeNotManaged, ResultContinue)
	}
	node := p.find(n.InstanceID, inst)
	if node != nil {
		t.node = node.Name
		t.log = t.log.With(logging.KeyNode, node.Name)
	}
	switch {
	case ev.Action == events.ActionNone:
		return t.finishEarly(ctx, OutcomeIgnored, ResultContinue)
	case ev.Action == events.ActionLaunch:
		if node != nil && handled.Is(node, n.ID) {
			return t.finishEarly(ctx, OutcomeAlreadyHandled, ResultContinue)
		}
	case node == nil:
		t.log.Info("no node for the instance; it never joined the cluster or is gone")
		return t.finishEarly(ctx, OutcomeNotFound, ResultContinue)
	case handled.Is(node, n.ID):
		t.log.Info("notice already handled for this node")
		return t.finishEarly(ctx, OutcomeAlreadyHandled, ResultContinue)
	case ev.Action == events.ActionRebalance && p.Policy.Rebalance == RebalanceIgnore:
		return t.finishEarly(ctx, OutcomeIgnored, ResultContinue)
	}
	if ev.Hook != nil {
		t.stop = p.hooks().keepAlive(ctx, ev.Hook, p.Policy.HeartbeatInterval, t.node)
	}
	if ev.Action == events.ActionDrain || (ev.Action == events.ActionRebalance && p.Policy.Rebalance != RebalanceTaint) {
		if _, err := p.Drainer.Cordon(ctx, t.node, p.Policy.drainOptions(&ev, p.Clock.Now(), false)); err != nil && !isNodeNotFound(err) {
			t.stop()
			return nil, fmt.Errorf("cordoning %s: %w", t.node, err)
		}
	}
	return t, nil
}

// finishEarly completes the hook (if any) and marks the task done.
func (t *Task) finishEarly(ctx context.Context, o Outcome, result string) (*Task, error) {
	if t.ev.Hook != nil {
		if err := t.p.hooks().complete(ctx, t.ev.Hook, result); err != nil {
			return nil, err
		}
	}
	t.outcome = o
	return t, nil
}

// Heavy reports whether Run does slow work (a drain or a launch wait) that
// should hold one of the bounded worker slots.
func (t *Task) Heavy() bool {
	return !t.Done() && (t.ev.Action == events.ActionDrain || t.ev.Action == events.ActionLaunch ||
		(t.ev.Action == events.ActionRebalance && t.p.Policy.Rebalance == RebalanceDrain))
}

// Abort stops a prepared task's heartbeats without running it.
func (t *Task) Abort() { t.stop() }

// Run does the rest of the work and completes the hook. A nil error means
// the outcome is final and the message may be deleted.
func (t *Task) Run(ctx context.Context) (Outcome, error) {
	defer t.stop()
	if t.Done() {
		t.p.Stats.outcome(t.outcome)
		return t.outcome, nil
	}
	var o Outcome
	var result string
	var err error
	switch {
	case t.ev.Action == events.ActionLaunch:
		o, result, err = t.launch(ctx)
	case t.ev.Action == events.ActionRebalance && t.p.Policy.Rebalance == RebalanceTaint:
		o, result, err = OutcomeTainted, ResultContinue, t.p.taint(ctx, t.node, &t.ev)
	case t.ev.Action == events.ActionRebalance && t.p.Policy.Rebalance == RebalanceCordon:
		o, result = OutcomeCordoned, ResultContinue
	default:
		o, result, err = t.drain(ctx)
	}
	if err != nil {
		return "", err
	}
	if t.node != "" && o != OutcomeNotFound {
		if err := handled.Record(ctx, t.p.Client, t.node, t.ev.Notice.ID); err != nil {
			return "", fmt.Errorf("recording notice %s on node %s: %w", t.ev.Notice.ID, t.node, err)
		}
	}
	if t.ev.Hook != nil {
		t.stop()
		if err := t.p.hooks().complete(ctx, t.ev.Hook, result); err != nil {
			return "", err
		}
	}
	t.p.Stats.outcome(o)
	t.log.Info("notice handled", "outcome", string(o))
	return o, nil
}

// drain runs the drain engine. A drain that ran but left pods is final
// (OnDrainFailure decides the hook); errors before that are transient until
// MaxAttempts deliveries have failed.
func (t *Task) drain(ctx context.Context) (Outcome, string, error) {
	p := t.p
	live, err := p.Client.CoreV1().Nodes().Get(ctx, t.node, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return OutcomeNotFound, ResultContinue, nil
	case err != nil:
		return t.transient(fmt.Errorf("reading node %s: %w", t.node, err))
	case handled.Is(live, t.ev.Notice.ID):
		return OutcomeAlreadyHandled, ResultContinue, nil
	}
	deleteNode := t.ev.Action == events.ActionDrain
	res, err := p.Drainer.Drain(ctx, t.node, p.Policy.drainOptions(&t.ev, p.Clock.Now(), deleteNode))
	var incomplete *drain.IncompleteError
	var consent *drain.ConsentError
	switch {
	case ctx.Err() != nil:
		return "", "", ctx.Err()
	case err == nil && res.Missing, isNodeNotFound(err):
		return OutcomeNotFound, ResultContinue, nil
	case err == nil:
		t.log.Info("node drained", "evicted", res.Evicted, "deleted", res.Deleted, "fallbacks", res.Fallbacks,
			"nodeDeleted", res.NodeDeleted, "took", res.Duration)
		return OutcomeDrained, ResultContinue, nil
	case errors.As(err, &incomplete), errors.As(err, &consent):
		t.log.Warn("drain failed", "error", err, "lifecycleResult", p.Policy.OnDrainFailure)
		return OutcomeDrainFailed, p.Policy.OnDrainFailure, nil
	}
	return t.transient(fmt.Errorf("draining %s: %w", t.node, err))
}

// transient returns err for a retry, unless this was the last allowed
// delivery: then the work is given up as a failed drain.
func (t *Task) transient(err error) (Outcome, string, error) {
	if max := t.p.Policy.MaxAttempts; max > 0 && t.attempt >= max {
		t.p.Stats.givenUp.Add(1)
		t.log.Error("giving up after repeated failures", "attempts", t.attempt, "error", err)
		return OutcomeDrainFailed, t.p.Policy.OnDrainFailure, nil
	}
	return "", "", err
}

// launch waits for the launching instance's Node to be Ready.
func (t *Task) launch(ctx context.Context) (Outcome, string, error) {
	p := t.p
	timeout := p.Clock.NewTimer(p.Policy.LaunchTimeout)
	defer timeout.Stop()
	inst, err := p.describe(ctx, t.ev.Notice.InstanceID)
	if err != nil {
		return "", "", err
	}
	for {
		changed := p.Nodes.Changed()
		if n := p.find(t.ev.Notice.InstanceID, inst); n != nil && nodeReady(n) {
			t.node = n.Name
			return OutcomeLaunched, ResultContinue, nil
		}
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-timeout.C():
			t.log.Warn("launched instance did not become a Ready node in time", "timeout", p.Policy.LaunchTimeout)
			return OutcomeLaunchTimeout, p.Policy.OnLaunchTimeout, nil
		case <-changed:
		}
	}
}

// find looks the Node up by providerID, then by private DNS name.
func (p *Processor) find(instanceID string, inst *ec2types.Instance) *corev1.Node {
	if n, ok := p.Nodes.ByInstanceID(instanceID); ok {
		return n
	}
	if p.Policy.PrivateDNSFallback && inst != nil && inst.PrivateDnsName != nil && *inst.PrivateDnsName != "" {
		if n, ok := p.Nodes.ByDNSName(*inst.PrivateDnsName); ok {
			return n
		}
	}
	return nil
}

// describe fetches the instance when the policy needs EC2 data.
func (p *Processor) describe(ctx context.Context, id string) (*ec2types.Instance, error) {
	needs := p.Policy.ManagedTag != "" || (p.Policy.PrivateDNSFallback && !p.hasNode(id))
	if !needs || p.EC2 == nil {
		return nil, nil
	}
	out, err := p.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		if isNotFoundInstance(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("describing instance %s: %w", id, err)
	}
	for _, r := range out.Reservations {
		for i := range r.Instances {
			if r.Instances[i].InstanceId != nil && *r.Instances[i].InstanceId == id {
				return &r.Instances[i], nil
			}
		}
	}
	return nil, nil
}

func (p *Processor) hasNode(id string) bool { _, ok := p.Nodes.ByInstanceID(id); return ok }

// managed applies the managed-tag check; without a tag everything is managed.
func (p *Processor) managed(inst *ec2types.Instance) bool {
	if p.Policy.ManagedTag == "" {
		return true
	}
	if inst == nil {
		return false
	}
	key, value, hasValue := p.Policy.managedTag()
	for _, tag := range inst.Tags {
		if tag.Key != nil && *tag.Key == key {
			return !hasValue || (tag.Value != nil && *tag.Value == value)
		}
	}
	return false
}

func isNotFoundInstance(err error) bool {
	var apiErr interface{ ErrorCode() string }
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "InvalidInstanceID.NotFound"
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// taint applies the rebalance taint through the drain engine, which records
// it as lifeboat's so an uncordon removes it.
func (p *Processor) taint(ctx context.Context, node string, ev *events.Event) error {
	o := p.Policy.drainOptions(ev, p.Clock.Now(), false)
	o.Taint = &corev1.Taint{Key: TaintRebalance, Value: "true", Effect: corev1.TaintEffectPreferNoSchedule}
	changed, err := p.Drainer.Taint(ctx, node, o)
	if isNodeNotFound(err) {
		return nil
	}
	if changed {
		p.Log.Info("node tainted", logging.KeyNode, node, "taint", TaintRebalance)
	}
	return err
}

func isNodeNotFound(err error) bool {
	var nf *drain.NodeNotFoundError
	return errors.As(err, &nf) || apierrors.IsNotFound(err)
}
