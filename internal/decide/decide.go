// Package decide is the one place that decides what lifeboat does about a
// notice, for every mode: the agent on each node, queue mode, Lambda and a
// host shutdown. Sources and parsers produce facts only (a notice.Notice);
// Decide turns a notice into a typed Plan — the action, whether the Node is
// deleted, the deadline and what happens when it passes, and how the notice
// is finished (acknowledged, lifecycle hook completed, cordon released).
// It is a pure function of the notice, the per-kind Table, the Settings and
// the time.
package decide

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// Action is what lifeboat does about a notice.
type Action string

// The actions, from mildest to strongest.
const (
	// ActionNone only logs, counts and reports the notice.
	ActionNone Action = "none"
	// ActionTaint adds lifeboat's PreferNoSchedule at-risk taint (no cordon).
	ActionTaint Action = "taint"
	// ActionCordon cordons the node without evicting anything.
	ActionCordon Action = "cordon"
	// ActionDrain cordons and drains, keeping the Node object (it comes back).
	ActionDrain Action = "drain"
	// ActionDrainDelete cordons, drains and deletes the Node object (it is
	// gone for good), unless deleting Nodes is not allowed.
	ActionDrainDelete Action = "drain-delete"
)

var actions = []Action{ActionNone, ActionTaint, ActionCordon, ActionDrain, ActionDrainDelete}

// ParseAction parses an action name.
func ParseAction(s string) (Action, error) {
	if slices.Contains(actions, Action(s)) {
		return Action(s), nil
	}
	return "", fmt.Errorf("unknown action %q (want one of none, taint, cordon, drain, drain-delete)", s)
}

// Rank orders actions from mildest (0) to strongest.
func Rank(a Action) int { return slices.Index(actions, a) }

// IsDrain reports actions carried out by a drain.
func (a Action) IsDrain() bool { return a == ActionDrain || a == ActionDrainDelete }

// Marks reports actions that change the Node (taint, cordon, drain).
func (a Action) Marks() bool { return Rank(a) > Rank(ActionNone) }

// Mode is a way of running lifeboat; each mode's sources produce some kinds.
type Mode string

// The modes.
const (
	// ModeAgent is `lifeboat agent` on a node (cloud metadata, host shutdown).
	ModeAgent Mode = "agent"
	// ModeQueue is `lifeboat queue` (EventBridge / Auto Scaling messages);
	// Lambda mode produces the same kinds.
	ModeQueue Mode = "queue"
)

// kindsByMode lists the notice kinds each mode's sources can produce.
var kindsByMode = map[Mode][]notice.Kind{
	ModeAgent: {
		notice.KindSpotInterruption, notice.KindRebalance, notice.KindScheduledReboot,
		notice.KindScheduledTermination, notice.KindASGTermination, notice.KindPreemption,
		notice.KindTermination, notice.KindHostMaintenance, notice.KindMigration,
		notice.KindFreeze, notice.KindShutdown,
		notice.KindNodeCondition,
	},
	ModeQueue: {
		notice.KindSpotInterruption, notice.KindRebalance, notice.KindScheduledReboot,
		notice.KindScheduledTermination, notice.KindASGTermination, notice.KindTermination,
		notice.KindNodeCondition,
	},
}

// Kinds lists, sorted, the notice kinds a mode can produce.
func Kinds(m Mode) []string {
	var ks []string
	for _, k := range kindsByMode[m] {
		ks = append(ks, string(k))
	}
	sort.Strings(ks)
	return ks
}

// Table maps each notice kind to an action: `--action KIND=ACTION`, the
// same in every mode.
type Table map[notice.Kind]Action

// DefaultTable is what a cautious operator wants: act fully on anything with
// a deadline, only taint on a rebalance recommendation, keep the Node when
// the machine comes back, and ignore pauses and live migrations.
func DefaultTable() Table {
	return Table{
		notice.KindSpotInterruption:     ActionDrainDelete,
		notice.KindRebalance:            ActionTaint,
		notice.KindScheduledReboot:      ActionDrain,
		notice.KindScheduledTermination: ActionDrainDelete,
		notice.KindASGTermination:       ActionDrainDelete,
		notice.KindPreemption:           ActionDrainDelete,
		notice.KindTermination:          ActionDrainDelete,
		notice.KindHostMaintenance:      ActionDrain,
		notice.KindMigration:            ActionNone,
		notice.KindFreeze:               ActionNone,
		notice.KindShutdown:             ActionDrain,
		notice.KindNodeCondition:        ActionDrain,
	}
}

// KindError is a `--action` override naming a kind the mode never produces.
type KindError struct {
	// Kind is the kind given.
	Kind string
	// Mode is the mode that was configured.
	Mode Mode
}

func (e *KindError) Error() string {
	return fmt.Sprintf("--action: %s mode never sees notice kind %q (want one of %s)",
		e.Mode, e.Kind, strings.Join(Kinds(e.Mode), ", "))
}

// Set applies "kind=action" overrides for mode m. A kind the mode cannot
// produce is refused, so a typo or a kind meant for another mode fails at
// start instead of being silently ignored.
func (t Table) Set(overrides []string, m Mode) error {
	for _, o := range overrides {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			return fmt.Errorf("--action: %q is not kind=action", o)
		}
		kind := notice.Kind(strings.TrimSpace(k))
		if !slices.Contains(kindsByMode[m], kind) {
			return &KindError{Kind: string(kind), Mode: m}
		}
		a, err := ParseAction(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("--action %s: %w", kind, err)
		}
		t[kind] = a
	}
	return nil
}

// For returns the action for a notice: the action a node-condition notice
// carries from its --on-condition rule, else the table's entry for its kind
// (none for kinds not in the table), except that a notice whose machine comes back
// (an AWS spot stop or hibernate, an EC2 stop) keeps its Node: drain-delete
// becomes drain, because a hibernated or restarted kubelet resumes without
// registering its Node again.
func (t Table) For(n notice.Notice) Action {
	if n.Kind == notice.KindNodeCondition { // an --on-condition rule names its action
		if a, err := ParseAction(n.Attributes["action"]); err == nil {
			return a
		}
	}
	a, ok := t[n.Kind]
	if !ok {
		return ActionNone
	}
	if a == ActionDrainDelete && comesBack(n) {
		return ActionDrain
	}
	return a
}

// comesBack reports notices whose instance survives: a spot stop or
// hibernate, an EC2 stop.
func comesBack(n notice.Notice) bool {
	switch n.Kind {
	case notice.KindSpotInterruption:
		return n.Attributes["action"] == "stop" || n.Attributes["action"] == "hibernate"
	case notice.KindTermination:
		return n.Attributes["state"] == "stopping" || n.Attributes["state"] == "stopped"
	case notice.KindScheduledTermination:
		return strings.Contains(n.Attributes["health-event"], "STOP") || n.Attributes["code"] == "instance-stop"
	}
	return false
}
