package agent

import (
	"fmt"
	"sort"
	"strings"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// Action is what the agent does about a notice.
type Action string

// The actions, from mildest to strongest.
const (
	// ActionNone only logs and counts the notice.
	ActionNone Action = "none"
	// ActionTaint adds lifeboat's PreferNoSchedule taint (no cordon).
	ActionTaint Action = "taint"
	// ActionCordon cordons the node without evicting anything.
	ActionCordon Action = "cordon"
	// ActionDrain cordons and drains, keeping the Node object (it comes back).
	ActionDrain Action = "drain"
	// ActionDrainDelete cordons, drains and deletes the Node object (it is
	// gone for good), unless --delete-node=false.
	ActionDrainDelete Action = "drain-delete"
)

var actions = []Action{ActionNone, ActionTaint, ActionCordon, ActionDrain, ActionDrainDelete}

// ParseAction parses an action name.
func ParseAction(s string) (Action, error) {
	for _, a := range actions {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown action %q (want one of none, taint, cordon, drain, drain-delete)", s)
}

// Policy maps each notice kind to an action.
type Policy map[notice.Kind]Action

// DefaultPolicy is what a cautious operator wants: act fully on anything
// with a deadline, only taint on a rebalance recommendation, keep the Node
// when the machine comes back, and ignore pauses and live migrations.
func DefaultPolicy() Policy {
	return Policy{
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
		notice.KindManual:               ActionDrain,
		notice.KindNodeCondition:        ActionDrain,
	}
}

// For returns the action for a kind (none for unknown kinds).
func (p Policy) For(k notice.Kind) Action {
	if a, ok := p[k]; ok {
		return a
	}
	return ActionNone
}

// ForNotice returns the action for a notice. It is For(n.Kind), except that
// a node-condition notice carries its rule's action, and that
// an AWS spot interruption whose action is stop or hibernate keeps the Node
// (drain-delete becomes drain): the instance comes back, and a hibernated
// kubelet resumes without registering its Node again.
func (p Policy) ForNotice(n notice.Notice) Action {
	if n.Kind == notice.KindNodeCondition { // the --on-condition rule names its action
		if a, err := ParseAction(n.Attributes["action"]); err == nil {
			return a
		}
	}
	a := p.For(n.Kind)
	if n.Kind == notice.KindSpotInterruption && a == ActionDrainDelete {
		switch n.Attributes["action"] {
		case "stop", "hibernate":
			return ActionDrain
		}
	}
	return a
}

// Set applies "kind=action" overrides.
func (p Policy) Set(overrides []string) error {
	for _, o := range overrides {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			return fmt.Errorf("%q is not kind=action", o)
		}
		kind := notice.Kind(strings.TrimSpace(k))
		if _, known := DefaultPolicy()[kind]; !known {
			return fmt.Errorf("unknown notice kind %q (want one of %s)", k, strings.Join(Kinds(), ", "))
		}
		a, err := ParseAction(strings.TrimSpace(v))
		if err != nil {
			return err
		}
		p[kind] = a
	}
	return nil
}

// Kinds lists the notice kinds a policy covers.
func Kinds() []string {
	var ks []string
	for k := range DefaultPolicy() {
		ks = append(ks, string(k))
	}
	sort.Strings(ks)
	return ks
}
