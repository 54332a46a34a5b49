package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/asgdetach"
	"github.com/lifeboat-dev/lifeboat/internal/decide"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/handled"
	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/queue/message"
	"github.com/lifeboat-dev/lifeboat/internal/report"
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
	OutcomeReleased       Outcome = "released"
)

// Processor carries out one event: find the Node, act per Policy, heartbeat
// and complete the lifecycle hook, record the notice as handled. Queue mode
// and Lambda mode share it.
type Processor struct {
	// Client writes the handled-notices annotation and re-reads Nodes.
	Client kube.Interface
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
	// Reporter hears every notice acted on and how it was finished (drain
	// steps reach it through the Drainer's observer); nil reports nothing.
	Reporter report.Reporter
	// Detacher, if set, detaches a spot-interrupted instance from its Auto
	// Scaling group without decrementing the desired capacity, so the group
	// launches the replacement at once (--detach-from-asg).
	Detacher asgdetach.API
	// DryRun is observe mode (--dry-run): Drainer is a drain.DryRun, and
	// nothing is recorded on Nodes and no lifecycle hook is heartbeated or
	// completed (the handler in charge does that).
	DryRun bool
	// Actor names the mode in lifeboat's mark ("queue" or "lambda"), so the
	// agent and this mode act once on an event both see; "" means "queue".
	Actor string
}

func (p *Processor) reporter() report.Reporter {
	if p.Reporter == nil {
		return report.Discard{}
	}
	return p.Reporter
}

func (p *Processor) actor() string {
	if p.Actor == "" {
		return string(decide.ModeQueue)
	}
	return p.Actor
}

func (p *Processor) hooks() *hooks {
	return &hooks{api: p.AutoScaling, clock: p.Clock, log: p.Log, stats: p.Stats}
}

// Task is one event in progress, between Prepare and Run.
type Task struct {
	p       *Processor
	ev      message.Event
	plan    decide.Plan
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
func (p *Processor) Process(ctx context.Context, ev message.Event, attempt int) (Outcome, error) {
	t, err := p.Prepare(ctx, ev, attempt)
	if err != nil {
		return "", err
	}
	return t.Run(ctx)
}

// Prepare does the quick part: decide the plan, resolve the Node, skip
// notices already handled or instances not managed, release what a
// canceled notice did, and cordon for a drain, so every affected node is
// cordoned at once even when drains queue for a worker. Lifecycle hooks are
// heartbeated from here until Run returns. An error is transient: the event
// should be retried later.
func (p *Processor) Prepare(ctx context.Context, ev message.Event, attempt int) (*Task, error) {
	n := ev.Notice
	plan := p.Policy.decide(&ev, p.Clock.Now())
	t := &Task{p: p, ev: ev, plan: plan, attempt: attempt, stop: func() {}, log: p.Log.With(logging.KeyNotice, n.ID, "kind", string(n.Kind), "instance", n.InstanceID)}
	inst, err := p.describe(ctx, n.InstanceID)
	if err != nil {
		return nil, err
	}
	if !p.managed(inst) {
		t.log.Info("instance lacks the managed tag; not acting", "tag", p.Policy.ManagedTag)
		return t.finishEarly(ctx, OutcomeNotManaged, ResultContinue)
	}
	node := p.find(n.InstanceID, inst)
	if node == nil && n.Node != "" {
		// A notice about a Node (a node condition) names it.
		node, _ = p.Nodes.ByDNSName(n.Node)
	}
	if node != nil {
		t.node = node.Name
		t.log = t.log.With(logging.KeyNode, node.Name)
	}
	switch {
	case plan.Finish == decide.FinishRelease:
		return t.release(ctx)
	case plan.AwaitReady:
		if node != nil && handled.Is(node, n.ID) {
			return t.finishEarly(ctx, OutcomeAlreadyHandled, ResultContinue)
		}
	case node == nil:
		if p.mayAppear(ev, attempt) {
			t.log.Info("no node for the instance yet; looking again later")
			return nil, &NodePendingError{Instance: n.InstanceID}
		}
		t.log.Info("no node for the instance; it never joined the cluster or is gone")
		return t.finishEarly(ctx, OutcomeNotFound, ResultContinue)
	case handled.Is(node, n.ID):
		result := recordedResult(node, n.ID)
		t.log.Info("notice already handled for this node", "lifecycleResult", result)
		return t.finishEarly(ctx, OutcomeAlreadyHandled, result)
	case plan.Action == decide.ActionNone:
		return t.finishEarly(ctx, OutcomeIgnored, ResultContinue)
	}
	p.reporter().NoticeReceived(n)
	p.detachFromASG(n)
	if ev.Hook != nil && !p.DryRun {
		t.stop = p.hooks().keepAlive(ctx, ev.Hook, p.Policy.HeartbeatInterval, t.node)
	}
	if decide.Rank(plan.Action) >= decide.Rank(decide.ActionCordon) {
		if _, err := p.Drainer.Cordon(ctx, t.node, p.Policy.drainOptions(&ev, plan, p.actor())); err != nil && !isNodeNotFound(err) {
			t.stop()
			return nil, fmt.Errorf("cordoning %s: %w", t.node, err)
		}
	}
	return t, nil
}

// detachFromASG starts, in the background, the detach of a spot-interrupted
// instance from its Auto Scaling group (Detacher); a failure is logged and
// never touches the drain. Detaching twice is harmless.
func (p *Processor) detachFromASG(n notice.Notice) {
	if p.Detacher == nil || p.DryRun || n.Kind != notice.KindSpotInterruption || n.Canceled || !strings.HasPrefix(n.InstanceID, "i-") {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := asgdetach.Detach(ctx, p.Detacher, n.InstanceID, "")
		if err != nil {
			p.Log.Warn("cannot detach the interrupted instance from its Auto Scaling group", logging.KeyNotice, n.ID, "instance", n.InstanceID, logging.KeyError, err)
			return
		}
		if res.Detached {
			p.Log.Info("interrupted instance detached from its Auto Scaling group: the replacement launches now", logging.KeyNotice, n.ID, "instance", n.InstanceID, "group", res.Group)
		}
	}()
}

// NodePendingError is a transient failure: no Node has the instance yet,
// but the notice is recent and has a deadline, so the informer may lag or
// the Node may be joining; the event is tried again.
type NodePendingError struct {
	// Instance is the EC2 instance.
	Instance string
}

func (e *NodePendingError) Error() string {
	return "no node for instance " + e.Instance + " yet"
}

// mayAppear reports whether a Node not found for ev's instance may still
// show up: the notice has a deadline not passed yet and was issued (or
// first seen) less than NodeWait ago.
func (p *Processor) mayAppear(ev message.Event, attempt int) bool {
	n := ev.Notice
	now := p.Clock.Now()
	if n.Deadline.IsZero() || !now.Before(n.Deadline) || p.Policy.NodeWait <= 0 {
		return false
	}
	since := n.Issued
	if since.IsZero() {
		since = n.Detected
	}
	return now.Sub(since) < p.Policy.NodeWait && (p.Policy.MaxAttempts == 0 || attempt < p.Policy.MaxAttempts)
}

// abandonSuffix marks, next to a notice ID in the handled record, that its
// lifecycle hook was completed with ABANDON, so a redelivery completes it
// with the same result.
const abandonSuffix = "#abandon"

// recordedResult is the lifecycle result recorded for notice id on node.
func recordedResult(node *corev1.Node, id string) string {
	if handled.Is(node, id+abandonSuffix) {
		return ResultAbandon
	}
	return ResultContinue
}

// release undoes lifeboat's mark entry for a canceled notice (a closed
// Health event): the node is uncordoned and untainted if no other notice
// holds it and lifeboat was the one that cordoned it.
func (t *Task) release(ctx context.Context) (*Task, error) {
	p := t.p
	if t.node == "" {
		return t.finishEarly(ctx, OutcomeNotFound, ResultContinue)
	}
	m, err := p.Drainer.Release(ctx, t.node, t.ev.Notice.ID)
	switch {
	case isNodeNotFound(err):
		return t.finishEarly(ctx, OutcomeNotFound, ResultContinue)
	case err != nil:
		return nil, fmt.Errorf("releasing notice %s on %s: %w", t.ev.Notice.ID, t.node, err)
	}
	t.log.Info("notice canceled: lifeboat's mark for it released", "notices left", len(marksLeft(m)))
	p.reporter().NoticeReceived(t.ev.Notice)
	p.reporter().Finished(t.ev.Notice, report.Finish{Kind: report.FinishReleased, Node: t.node})
	return t.finishEarly(ctx, OutcomeReleased, ResultContinue)
}

func marksLeft(m *drain.Mark) []drain.MarkNotice {
	if m == nil {
		return nil
	}
	return m.Notices
}

// finishEarly completes the hook (if any) and marks the task done.
func (t *Task) finishEarly(ctx context.Context, o Outcome, result string) (*Task, error) {
	if t.ev.Hook != nil && !t.p.DryRun {
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
	return !t.Done() && (t.plan.Action.IsDrain() || t.plan.AwaitReady)
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
	case t.plan.AwaitReady:
		o, result, err = t.launch(ctx)
	case t.plan.Action == decide.ActionTaint:
		o, result, err = OutcomeTainted, ResultContinue, t.p.taint(ctx, t.node, &t.ev, t.plan)
	case t.plan.Action == decide.ActionCordon:
		o, result = OutcomeCordoned, ResultContinue
	default:
		o, result, err = t.drain(ctx)
	}
	if err != nil {
		return "", err
	}
	if t.node != "" && o != OutcomeNotFound && !t.plan.Deferred() {
		// A deferred maintenance is recorded once its drain ran (TendMarks).
		if err := t.record(ctx, result); err != nil {
			return "", err
		}
	}
	if o != OutcomeNotFound && o != OutcomeAlreadyHandled {
		t.p.reporter().Finished(t.ev.Notice, report.Finish{Kind: report.FinishDone, Node: t.node})
	}
	if t.ev.Hook != nil && !t.p.DryRun {
		t.stop()
		if err := t.p.hooks().complete(ctx, t.ev.Hook, result); err != nil {
			return "", err
		}
		t.p.reporter().Finished(t.ev.Notice, report.Finish{Kind: report.FinishHookCompleted, Node: t.node, Result: result})
	}
	t.p.Stats.outcome(o)
	t.log.Info("notice handled", "outcome", string(o))
	return o, nil
}

// record writes the notice into the Node's handled list, with the ABANDON
// marker first when that is the hook's result (so a redelivery that finds
// the notice handled completes the hook the same way).
func (t *Task) record(ctx context.Context, result string) error {
	if t.p.DryRun {
		t.log.Info("dry run: the notice is not recorded as handled")
		return nil
	}
	ids := []string{t.ev.Notice.ID}
	if t.ev.Hook != nil && result == ResultAbandon {
		ids = []string{t.ev.Notice.ID + abandonSuffix, t.ev.Notice.ID}
	}
	for _, id := range ids {
		if err := handled.Record(ctx, t.p.Client, t.node, id); err != nil {
			return fmt.Errorf("recording notice %s on node %s: %w", id, t.node, err)
		}
	}
	return nil
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
		return OutcomeAlreadyHandled, recordedResult(live, t.ev.Notice.ID), nil
	}
	res, err := p.Drainer.Drain(ctx, t.node, p.Policy.drainOptions(&t.ev, t.plan, p.actor()))
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
		if !res.NodeDeleted && instanceGone(t.ev.Notice) {
			t.watchOutOfService(ctx)
		}
		return OutcomeDrained, ResultContinue, nil
	case errors.As(err, &incomplete), errors.As(err, &consent):
		t.log.Warn("drain failed", "error", err, "lifecycleResult", t.plan.HookResultOnFailure)
		return OutcomeDrainFailed, t.failureResult(), nil
	}
	return t.transient(fmt.Errorf("draining %s: %w", t.node, err))
}

// transient returns err for a retry, unless this was the last allowed
// delivery: then the work is given up as a failed drain.
func (t *Task) transient(err error) (Outcome, string, error) {
	if max := t.p.Policy.MaxAttempts; max > 0 && t.attempt >= max {
		t.p.Stats.givenUp.Add(1)
		t.log.Error("giving up after repeated failures", "attempts", t.attempt, "error", err)
		return OutcomeDrainFailed, t.failureResult(), nil
	}
	return "", "", err
}

// failureResult is the lifecycle result after a drain failed for good.
func (t *Task) failureResult() string {
	if t.plan.HookResultOnFailure != "" {
		return t.plan.HookResultOnFailure
	}
	return t.p.Policy.OnDrainFailure
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
	if !needs || p.EC2 == nil || !strings.HasPrefix(id, "i-") {
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
func (p *Processor) taint(ctx context.Context, node string, ev *message.Event, plan decide.Plan) error {
	o := p.Policy.drainOptions(ev, plan, p.actor())
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
