// Package nodecondition is a notice source that watches Node conditions:
// --on-condition TYPE[=STATUS]=ACTION rules turn a condition such as AKS
// node-problem-detector's VMEventScheduled or PreemptScheduled, or any
// node-problem-detector condition, into a notice of kind node-condition
// that carries the rule's action, with the deadline taken from the
// condition's message when it has one. It serves clusters whose pods
// cannot reach instance metadata. The agent watches its own Node; queue
// mode watches every Node (Config.Node empty).
package nodecondition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// Name is the source name in notices, logs and metrics.
const Name = "node-condition"

// AttributeAction carries the rule's action on a notice.
const AttributeAction = "action"

// Reasons passed to Config.OnError.
const (
	// ReasonNoDeadline: a matching condition's message carries no time; the
	// notice goes out without a deadline (the agent's --notice-timeout applies).
	ReasonNoDeadline = "no-deadline"
)

// DefaultResync is how often the informer re-delivers every Node.
const DefaultResync = 10 * time.Minute

// Config configures the source.
type Config struct {
	// Client reads and watches Nodes.
	Client kube.Interface
	// Node limits the watch to one Node (the agent); empty watches all
	// Nodes (queue mode).
	Node string
	// Rules are the --on-condition rules; at least one.
	Rules []Rule
	// Resync is the informer's resync period (DefaultResync if zero).
	Resync time.Duration
	// Clock stamps Detected (clock.RealClock if nil).
	Clock clock.PassiveClock
	// Log receives what the source does (slog.Default if nil).
	Log *slog.Logger
	// OnError, if set, is called with a Reason constant; it must not block.
	OnError func(reason string)
}

// Source watches Node conditions; it implements notice.Source and
// notice.Readier (ready once the Node cache synced).
type Source struct {
	cfg  Config
	read notice.FirstRead

	mu     sync.Mutex
	active map[string]notice.Notice // node/type -> notice in force
}

var (
	_ notice.Source  = (*Source)(nil)
	_ notice.Readier = (*Source)(nil)
)

// New checks cfg and returns a source; it does no I/O.
func New(cfg Config) (*Source, error) {
	if cfg.Client == nil {
		return nil, errors.New("node-condition source: Client is required")
	}
	if len(cfg.Rules) == 0 {
		return nil, errors.New("node-condition source: at least one rule is required")
	}
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.OnError == nil {
		cfg.OnError = func(string) {}
	}
	return &Source{cfg: cfg, active: map[string]notice.Notice{}}, nil
}

// Name returns "node-condition".
func (s *Source) Name() string { return Name }

// ReadOnce is closed once the Node cache has synced.
func (s *Source) ReadOnce() <-chan struct{} { return s.read.ReadOnce() }

// Run watches Nodes until ctx ends and returns nil.
func (s *Source) Run(ctx context.Context, out chan<- notice.Notice) error {
	sel := s.selector().String()
	lw := kube.ListWatch(s.cfg.Client, s.cfg.Client.CoreV1().Nodes(), func(o *metav1.ListOptions) { o.FieldSelector = sel })
	inf := cache.NewSharedIndexInformer(lw, &corev1.Node{}, s.cfg.Resync, cache.Indexers{})
	events := make(chan *corev1.Node, 64)
	deleted := make(chan string, 64)
	push := func(obj any) {
		if n, ok := obj.(*corev1.Node); ok {
			select {
			case events <- n:
			case <-ctx.Done():
			}
		}
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    push,
		UpdateFunc: func(_, obj any) { push(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if n, ok := obj.(*corev1.Node); ok {
				select {
				case deleted <- n.Name:
				case <-ctx.Done():
				}
			}
		},
	})
	if err != nil {
		return fmt.Errorf("node-condition source: %w", err)
	}
	go inf.Run(ctx.Done())
	go func() {
		if cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			s.read.Done()
		}
	}()
	s.cfg.Log.Info("watching node conditions", logging.KeySource, Name, logging.KeyNode, s.cfg.Node, "rules", len(s.cfg.Rules))
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-events:
			s.emit(ctx, out, s.Observe(n, s.cfg.Clock.Now()))
		case name := <-deleted:
			s.Forget(name)
		}
	}
}

func (s *Source) selector() fields.Selector {
	if s.cfg.Node == "" {
		return fields.Everything()
	}
	return fields.OneTermEqualSelector("metadata.name", s.cfg.Node)
}

func (s *Source) emit(ctx context.Context, out chan<- notice.Notice, ns []notice.Notice) {
	for _, n := range ns {
		s.cfg.Log.Info("notice", logging.KeySource, Name, logging.KeyNode, n.Node, logging.KeyNotice, n.ID,
			"canceled", n.Canceled, "deadline", n.Deadline, "action", n.Attributes[AttributeAction])
		select {
		case out <- n:
		case <-ctx.Done():
			return
		}
	}
}

// Observe compares a Node's conditions with the rules and returns the
// notices that changed: a new notice for a condition that now matches, a
// canceled one for a notice whose condition no longer does. It is the
// source's decision, pure but for the record of notices in force.
func (s *Source) Observe(node *corev1.Node, now time.Time) []notice.Notice {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []notice.Notice
	for _, r := range s.cfg.Rules {
		key := node.Name + "/" + string(r.Type) + "=" + string(r.Status)
		was, active := s.active[key]
		c := findCondition(node, r.Type)
		if c == nil || c.Status != r.Status {
			if active {
				out = append(out, cancelNotice(was, now, "condition "+string(r.Type)+" is no longer "+string(r.Status)))
				delete(s.active, key)
			}
			continue
		}
		n := s.newNotice(node, r, c, now)
		if active && was.ID == n.ID && was.Deadline.Equal(n.Deadline) {
			continue
		}
		if active && was.ID != n.ID {
			out = append(out, cancelNotice(was, now, "condition "+string(r.Type)+" changed"))
		}
		s.active[key] = n
		if n.Deadline.IsZero() {
			s.cfg.OnError(ReasonNoDeadline)
		}
		out = append(out, n)
	}
	return out
}

// Forget drops the notices in force for a deleted Node without
// withdrawing them: a Node that is gone has nothing to uncordon, and its
// deletion is usually the notice's own outcome (drain-delete).
func (s *Source) Forget(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.cfg.Rules {
		delete(s.active, node+"/"+string(r.Type)+"="+string(r.Status))
	}
}

func (s *Source) newNotice(node *corev1.Node, r Rule, c *corev1.NodeCondition, now time.Time) notice.Notice {
	deadline, _ := DeadlineFromMessage(c.Message)
	since := c.LastTransitionTime.UTC().Format(time.RFC3339)
	return notice.Notice{
		ID:         "node-condition/" + node.Name + "/" + string(r.Type) + "/" + string(r.Status) + "/" + since,
		Source:     Name,
		Kind:       notice.KindNodeCondition,
		Node:       node.Name,
		InstanceID: node.Spec.ProviderID,
		Deadline:   deadline,
		Issued:     c.LastTransitionTime.UTC(),
		Detected:   now,
		Reason:     fmt.Sprintf("Node condition %s is %s (%s): %s", r.Type, r.Status, c.Reason, c.Message),
		Attributes: map[string]string{
			AttributeAction: r.Action, "condition": string(r.Type), "status": string(r.Status), "condition-reason": c.Reason,
		},
	}
}

func cancelNotice(n notice.Notice, now time.Time, why string) notice.Notice {
	n.Canceled, n.Detected, n.Reason = true, now, why
	return n
}

func findCondition(n *corev1.Node, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == t {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}
