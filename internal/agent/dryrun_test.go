//go:build linux

package agent_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/agent"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/handled"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	awsnotice "github.com/lifeboat-dev/lifeboat/internal/notice/aws"
)

type stepLog struct {
	mu    sync.Mutex
	steps []drain.Step
}

func (s *stepLog) Observe(e drain.Step) { s.mu.Lock(); s.steps = append(s.steps, e); s.mu.Unlock() }

func (s *stepLog) of(t drain.StepType) []drain.Step {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []drain.Step
	for _, e := range s.steps {
		if e.Type == t {
			out = append(out, e)
		}
	}
	return out
}

// TestDryRunChangesNothing: in observe mode a spot interruption is detected,
// decided and reported ("would drain node X, N pods, by T"), and the node is
// neither cordoned nor drained nor deleted, nothing is recorded on it.
func TestDryRunChangesNothing(t *testing.T) {
	f := newFixture(t)
	f.workload(2)
	src, err := awsnotice.New(awsnotice.Config{Endpoint: f.url, NodeName: f.node, Log: logging.Discard(), EventsInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	steps := &stepLog{}
	engine := drain.New(f.c.API, drain.Config{Log: logging.Discard(), Observer: steps})
	a := agent.New(agent.Config{
		Client: f.c.API, Node: f.node, Drainer: drain.DryRun{Drainer: engine}, Sources: []notice.Source{src},
		Drain: drain.Options{Force: true, GracePeriodSeconds: -1}, DeleteNode: true, DryRun: true, Log: logging.Discard(),
	})
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx, nil) }()
	defer func() { cancel(); <-done }()
	if _, err := f.emu.ScheduleSpot(0, "terminate", 0); err != nil {
		t.Fatal(err)
	}
	f.c.Eventually(t, 30*time.Second, func() (bool, error) { return len(steps.of(drain.StepWouldDrain)) > 0, nil })
	t.Logf("reported: %s", steps.of(drain.StepWouldDrain)[0].Message)
	time.Sleep(time.Second)
	n, err := f.getNode()
	if err != nil {
		t.Fatalf("dry run deleted the Node: %v", err)
	}
	if n.Spec.Unschedulable || n.Annotations[drain.AnnotationCordon] != "" || len(handled.IDs(n)) != 0 {
		t.Errorf("dry run changed the node: unschedulable=%v annotations=%v", n.Spec.Unschedulable, n.Annotations)
	}
	for _, c := range n.Status.Conditions {
		if c.Type == drain.ConditionDrainInProgress || c.Type == drain.ConditionDrained {
			t.Errorf("dry run wrote condition %s", c.Type)
		}
	}
	if ready, err := f.c.ReadyPods(f.ctx, f.ns, "app=web"); err != nil || ready != 2 {
		t.Errorf("%d ready pods (%v), want both", ready, err)
	}
	if evicted := steps.of(drain.StepPodEvicted); len(evicted) != 0 {
		t.Errorf("dry run evicted %d pods", len(evicted))
	}
}
