package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
)

func TestBudgetObserver(t *testing.T) {
	b := NewBudgetObserver(New("test"))
	steps := []struct {
		e           drain.Step
		waiting     float64
		waitsSoFar  float64
		description string
	}{
		{drain.Step{Type: drain.StepWaitingForBudget, Node: "a"}, 1, 1, "a waits"},
		{drain.Step{Type: drain.StepWaitingForBudget, Node: "a"}, 1, 1, "a reports new holders: still one wait"},
		{drain.Step{Type: drain.StepWaitingForBudget, Node: "b"}, 2, 2, "b waits too"},
		{drain.Step{Type: drain.StepCordoned, Node: "a"}, 1, 2, "a got its slot"},
		{drain.Step{Type: drain.StepDrainFailed, Node: "b"}, 0, 2, "b gave up"},
		{drain.Step{Type: drain.StepDrained, Node: "c"}, 0, 2, "a drain that never waited"},
	}
	for _, s := range steps {
		b.Observe(s.e)
		if got := testutil.ToFloat64(b.Waiting); got != s.waiting {
			t.Errorf("%s: waiting %v, want %v", s.description, got, s.waiting)
		}
		if got := testutil.ToFloat64(b.Waits); got != s.waitsSoFar {
			t.Errorf("%s: waits %v, want %v", s.description, got, s.waitsSoFar)
		}
	}
	var none *BudgetObserver
	none.Observe(drain.Step{Type: drain.StepWaitingForBudget, Node: "a"})
}
