//go:build linux

package agent_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/agent"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/handled"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// chanSource is a notice source the test feeds by hand: the input side of
// the agent. Everything after it (policy, drain engine, API server) is real.
type chanSource struct{ ch chan notice.Notice }

func (s *chanSource) Name() string { return "test" }

func (s *chanSource) Run(ctx context.Context, out chan<- notice.Notice) error {
	for {
		select {
		case n := <-s.ch:
			select {
			case out <- n:
			case <-ctx.Done():
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// recordingDrainer is the real drain engine; it remembers the options of
// every Drain call so the test can assert deadlines and DeleteNode.
type recordingDrainer struct {
	*drain.Drainer
	mu    sync.Mutex
	calls []drain.Options
}

func (r *recordingDrainer) Drain(ctx context.Context, node string, opts drain.Options) (*drain.Result, error) {
	r.mu.Lock()
	r.calls = append(r.calls, opts)
	r.mu.Unlock()
	return r.Drainer.Drain(ctx, node, opts)
}

func (r *recordingDrainer) last() (drain.Options, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) == 0 {
		return drain.Options{}, false
	}
	return r.calls[len(r.calls)-1], true
}

// step is one move in an overlap scenario.
type step struct {
	send     *notice.Notice // a notice arrives (Canceled: it is withdrawn)
	unblock  bool           // the PDB goes, so the running drain can finish
	cordoned *bool          // the node must (not) be cordoned, with exactly markIDs in lifeboat's mark
	markIDs  []string
	drain    *wantDrain // the latest drain's options
	gone     bool       // the Node must be deleted
	handled  []string   // notices that must be recorded as handled
	notDone  []string   // notices that must not be
}

type wantDrain struct {
	notice     string
	deadline   time.Time
	deleteNode bool
}

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

func TestOverlappingNotices(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	spotAt, rebootAt, maintAt := now.Add(150*time.Second), now.Add(7*24*time.Hour), now.Add(100*time.Second)
	spot := notice.Notice{ID: "aws-spot/x", Source: "test", Kind: notice.KindSpotInterruption, Deadline: spotAt, Attributes: map[string]string{"action": "terminate"}}
	reboot := notice.Notice{ID: "maint-reboot", Source: "test", Kind: notice.KindScheduledReboot, Deadline: rebootAt}
	preempt := notice.Notice{ID: "azure-preempt", Source: "test", Kind: notice.KindPreemption, Deadline: spotAt}
	azReboot := notice.Notice{ID: "azure-reboot", Source: "test", Kind: notice.KindScheduledReboot, Deadline: rebootAt}
	gcpPreempt := notice.Notice{ID: "gcp-preempted", Source: "test", Kind: notice.KindPreemption, Deadline: spotAt}
	gcpMaint := notice.Notice{ID: "gcp-maintenance", Source: "test", Kind: notice.KindHostMaintenance, Deadline: maintAt}
	rebalance := notice.Notice{ID: "rebalance", Source: "test", Kind: notice.KindRebalance}
	withdrawn := func(n notice.Notice) *notice.Notice { n.Canceled = true; return &n }
	send := func(n notice.Notice) *notice.Notice { return &n }

	cases := []struct {
		name  string
		steps []step
	}{
		{"spot after a scheduled reboot takes the drain over; withdrawing the reboot keeps it", []step{
			{send: send(reboot)},
			{cordoned: yes(), markIDs: []string{"maint-reboot"}, drain: &wantDrain{"maint-reboot", rebootAt, false}},
			{send: send(spot)},
			{cordoned: yes(), markIDs: []string{"aws-spot/x", "maint-reboot"}, drain: &wantDrain{"aws-spot/x", spotAt, true}},
			{send: withdrawn(reboot)},
			{cordoned: yes(), markIDs: []string{"aws-spot/x"}, drain: &wantDrain{"aws-spot/x", spotAt, true}},
			{unblock: true},
			{gone: true},
		}},
		{"a reboot after a spot joins without taking over; withdrawing the spot leaves the reboot's drain", []step{
			{send: send(spot)},
			{cordoned: yes(), markIDs: []string{"aws-spot/x"}, drain: &wantDrain{"aws-spot/x", spotAt, true}},
			{send: send(reboot)},
			{cordoned: yes(), markIDs: []string{"aws-spot/x", "maint-reboot"}, drain: &wantDrain{"aws-spot/x", spotAt, true}},
			{send: withdrawn(spot)},
			{cordoned: yes(), markIDs: []string{"maint-reboot"}, drain: &wantDrain{"maint-reboot", rebootAt, false}},
			{send: withdrawn(reboot)},
			{cordoned: no(), markIDs: nil, notDone: []string{"aws-spot/x", "maint-reboot"}},
		}},
		{"azure preempt and reboot: withdrawing the preempt first, then the reboot, uncordons only at the end", []step{
			{send: send(preempt)},
			{send: send(azReboot)},
			{cordoned: yes(), markIDs: []string{"azure-preempt", "azure-reboot"}, drain: &wantDrain{"azure-preempt", spotAt, true}},
			{send: withdrawn(preempt)},
			{cordoned: yes(), markIDs: []string{"azure-reboot"}, drain: &wantDrain{"azure-reboot", rebootAt, false}},
			{send: withdrawn(azReboot)},
			{cordoned: no(), markIDs: nil},
		}},
		{"gcp maintenance then preemption: the earlier deadline leads, delete from the preemption", []step{
			{send: send(gcpMaint)},
			{cordoned: yes(), markIDs: []string{"gcp-maintenance"}, drain: &wantDrain{"gcp-maintenance", maintAt, false}},
			{send: send(gcpPreempt)},
			{cordoned: yes(), markIDs: []string{"gcp-maintenance", "gcp-preempted"}, drain: &wantDrain{"gcp-maintenance", maintAt, true}},
			{send: withdrawn(gcpMaint)},
			{cordoned: yes(), markIDs: []string{"gcp-preempted"}, drain: &wantDrain{"gcp-preempted", spotAt, true}},
			{unblock: true},
			{gone: true},
		}},
		{"a rebalance taint and a reboot cordon: each release undoes only its own part", []step{
			{send: send(rebalance)},
			{cordoned: no(), markIDs: []string{"rebalance"}},
			{send: send(reboot)},
			{cordoned: yes(), markIDs: []string{"maint-reboot", "rebalance"}},
			{send: withdrawn(reboot)},
			{cordoned: no(), markIDs: []string{"rebalance"}},
			{send: withdrawn(rebalance)},
			{cordoned: no(), markIDs: nil},
		}},
		{"a finished drain leaks neither its deadline nor its delete into the next", []step{
			{send: send(gcpPreempt)},
			{send: send(gcpMaint)},
			{drain: &wantDrain{"gcp-maintenance", maintAt, true}},
			{send: withdrawn(gcpPreempt)},
			{drain: &wantDrain{"gcp-maintenance", maintAt, false}},
			{unblock: true},
			{cordoned: yes(), markIDs: []string{"gcp-maintenance"}, handled: []string{"gcp-maintenance"}},
			{send: send(reboot)},
			{cordoned: yes(), markIDs: []string{"gcp-maintenance", "maint-reboot"}, drain: &wantDrain{"maint-reboot", rebootAt, false}, handled: []string{"maint-reboot"}},
		}},
		{"a second notice long after a canceled first gets its own deadline and keeps the node", []step{
			{send: send(spot)},
			{drain: &wantDrain{"aws-spot/x", spotAt, true}},
			{send: withdrawn(spot)},
			{cordoned: no(), markIDs: nil},
			{send: send(reboot)},
			{cordoned: yes(), markIDs: []string{"maint-reboot"}, drain: &wantDrain{"maint-reboot", rebootAt, false}},
			{unblock: true},
			{cordoned: yes(), markIDs: []string{"maint-reboot"}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.workload(2)
			// maxUnavailable 0: every drain blocks until the test lifts the PDB.
			if _, err := f.c.Client.PolicyV1().PodDisruptionBudgets(f.ns).Create(f.ctx, testbed.PDB(f.ns, "web", "web", 0), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			src := &chanSource{ch: make(chan notice.Notice)}
			rd := &recordingDrainer{Drainer: drain.New(f.c.API, drain.Config{Log: logging.Discard()})}
			a := agent.New(agent.Config{
				Client: f.c.API, Node: f.node, Drainer: rd, Sources: []notice.Source{src},
				Drain:      drain.Options{Force: true, DeleteEmptyDirData: true, GracePeriodSeconds: -1},
				DeleteNode: true, Log: logging.Discard(),
			})
			ctx, cancel := context.WithCancel(f.ctx)
			done := make(chan struct{})
			go func() { defer close(done); _ = a.Run(ctx, nil) }()
			defer func() { cancel(); <-done }()
			for i, s := range tc.steps {
				switch {
				case s.send != nil:
					select {
					case src.ch <- *s.send:
					case <-f.ctx.Done():
						t.Fatal("agent did not take the notice")
					}
				case s.unblock:
					if err := f.c.Client.PolicyV1().PodDisruptionBudgets(f.ns).Delete(f.ctx, "web", metav1.DeleteOptions{}); err != nil {
						t.Fatal(err)
					}
				case s.gone:
					f.c.Eventually(t, 60*time.Second, func() (bool, error) {
						_, err := f.getNode()
						return apierrors.IsNotFound(err), nil
					})
				default:
					expectState(t, f, rd, i, s)
				}
			}
		})
	}
}

// expectState waits until the node and the latest drain look as the step
// says (the agent acts asynchronously).
func expectState(t *testing.T, f *fixture, rd *recordingDrainer, i int, s step) {
	t.Helper()
	var last string
	deadline := time.Now().Add(30 * time.Second)
	for {
		last = checkState(f, rd, s)
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("step %d: %s", i, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func checkState(f *fixture, rd *recordingDrainer, s step) string {
	n, err := f.getNode()
	if err != nil {
		return err.Error()
	}
	if s.cordoned != nil {
		if n.Spec.Unschedulable != *s.cordoned {
			return "node unschedulable = " + boolString(n.Spec.Unschedulable)
		}
		var ids []string
		if m, has, err := drain.ReadMark(n); err != nil {
			return err.Error()
		} else if has {
			for _, e := range m.Notices {
				ids = append(ids, e.ID)
			}
		}
		slices.Sort(ids)
		if !slices.Equal(ids, s.markIDs) {
			return "mark notices = " + join(ids) + ", want " + join(s.markIDs)
		}
		if len(s.markIDs) == 0 && n.Annotations[drain.AnnotationCordon] != "" {
			return "mark left on the node: " + n.Annotations[drain.AnnotationCordon]
		}
	}
	for _, id := range s.handled {
		if !handled.Is(n, id) {
			return id + " not recorded as handled"
		}
	}
	for _, id := range s.notDone {
		if handled.Is(n, id) {
			return id + " recorded as handled"
		}
	}
	if w := s.drain; w != nil {
		o, ok := rd.last()
		switch {
		case !ok:
			return "no drain ran"
		case o.NoticeID != w.notice:
			return "latest drain for " + o.NoticeID + ", want " + w.notice
		case !o.Deadline.Equal(w.deadline):
			return "latest drain's deadline " + o.Deadline.String() + ", want " + w.deadline.String()
		case o.DeleteNode != w.deleteNode:
			return "latest drain's DeleteNode = " + boolString(o.DeleteNode)
		}
	}
	return ""
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func join(s []string) string {
	if len(s) == 0 {
		return "[]"
	}
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}

// TestWithdrawnNoticeIsNotRecordedAsHandled: an event that vanishes and comes
// back (an IMDS glitch, a rescheduled event) is acted on again.
func TestWithdrawnNoticeIsNotRecordedAsHandled(t *testing.T) {
	f := newFixture(t)
	src := &chanSource{ch: make(chan notice.Notice)}
	a := agent.New(agent.Config{
		Client: f.c.API, Node: f.node, Sources: []notice.Source{src}, Log: logging.Discard(),
		Drainer: drain.New(f.c.API, drain.Config{Log: logging.Discard()}),
		Drain:   drain.Options{Force: true, DeleteEmptyDirData: true, GracePeriodSeconds: -1},
	})
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx, nil) }()
	defer func() { cancel(); <-done }()
	ev := notice.Notice{ID: "azure-ev-1", Source: "test", Kind: notice.KindScheduledReboot, Deadline: time.Now().Add(time.Hour)}
	gone := ev
	gone.Canceled = true
	src.ch <- ev
	f.waitNode(30*time.Second, func(n *corev1.Node) bool { return n.Spec.Unschedulable })
	src.ch <- gone
	f.waitNode(30*time.Second, func(n *corev1.Node) bool { return !n.Spec.Unschedulable })
	if n := f.getNodeT(); handled.Is(n, ev.ID) {
		t.Fatal("a withdrawn notice was recorded as handled")
	}
	src.ch <- ev // listed again
	f.waitNode(30*time.Second, func(n *corev1.Node) bool { return n.Spec.Unschedulable && handled.Is(n, ev.ID) })
}
