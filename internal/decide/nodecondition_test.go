package decide

import (
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// A node-condition notice carries its --on-condition rule's action; without
// a valid one the table's entry for the kind (drain) applies.
func TestNodeConditionNoticeCarriesItsAction(t *testing.T) {
	tb := DefaultTable()
	for action, want := range map[string]Action{"cordon": ActionCordon, "drain-delete": ActionDrainDelete, "none": ActionNone, "": ActionDrain, "explode": ActionDrain} {
		n := notice.Notice{ID: "c", Kind: notice.KindNodeCondition, Attributes: map[string]string{"action": action}}
		if got := tb.For(n); got != want {
			t.Errorf("action %q: For = %s, want %s", action, got, want)
		}
	}
	for _, m := range []Mode{ModeAgent, ModeQueue} {
		if err := DefaultTable().Set([]string{"node-condition=cordon"}, m); err != nil {
			t.Errorf("%s mode: %v", m, err)
		}
	}
}
