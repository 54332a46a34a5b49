package queue

import (
	"context"
	"sync"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/queue/events"
)

// workItem is one notice for one instance, with every message that carried it.
type workItem struct {
	ev      events.Event
	attempt int
	refs    []*msgRef
}

// scheduler runs notices one instance at a time (so a node never has two
// drains at once), folds duplicates of a queued or running notice into it,
// and bounds the quick and the slow steps separately.
type scheduler struct {
	c          *Consumer
	tr         *tracker
	preparers  chan struct{}
	workers    chan struct{}
	mu         sync.Mutex
	byInstance map[string][]*workItem // [0] is running
	wg         sync.WaitGroup
}

func newScheduler(c *Consumer, tr *tracker) *scheduler {
	return &scheduler{
		c: c, tr: tr,
		preparers:  make(chan struct{}, max(c.Config.Preparers, 1)),
		workers:    make(chan struct{}, c.Config.Workers),
		byInstance: map[string][]*workItem{},
	}
}

// submit queues ev for its instance, or folds it into the same notice
// already queued or running there.
func (s *scheduler) submit(ctx context.Context, ev events.Event, ref *msgRef, attempt int) {
	key := ev.Notice.InstanceID
	s.mu.Lock()
	defer s.mu.Unlock()
	items := s.byInstance[key]
	for _, it := range items {
		if notice.SameEvent(it.ev.Notice.ID, ev.Notice.ID) && it.ev.Notice.Canceled == ev.Notice.Canceled {
			it.refs = append(it.refs, ref)
			s.c.Stats.folded.Add(1)
			s.c.Log.Info("duplicate notice folded into the one in flight", "event", ev.Notice.ID, "instance", key)
			return
		}
	}
	s.byInstance[key] = append(items, &workItem{ev: ev, attempt: attempt, refs: []*msgRef{ref}})
	if len(items) == 0 {
		s.wg.Add(1)
		go s.runInstance(ctx, key)
	}
}

// runInstance works through an instance's notices in arrival order.
func (s *scheduler) runInstance(ctx context.Context, key string) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		it := s.byInstance[key][0]
		s.mu.Unlock()

		err := s.process(ctx, it)

		s.mu.Lock()
		refs := it.refs
		rest := s.byInstance[key][1:]
		if len(rest) == 0 {
			delete(s.byInstance, key)
		} else {
			s.byInstance[key] = rest
		}
		s.mu.Unlock()
		for _, r := range refs {
			s.c.finish(ctx, s.tr, r, err)
		}
		if len(rest) == 0 {
			return
		}
	}
}

func (s *scheduler) process(ctx context.Context, it *workItem) error {
	if err := acquire(ctx, s.preparers); err != nil {
		return err
	}
	task, err := s.c.Processor.Prepare(ctx, it.ev, it.attempt)
	<-s.preparers
	if err != nil {
		return err
	}
	if task.Heavy() {
		if err := acquire(ctx, s.workers); err != nil {
			task.Abort()
			return err
		}
		defer func() { <-s.workers }()
	}
	_, err = task.Run(ctx)
	return err
}

func acquire(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait blocks until every instance's work has ended.
func (s *scheduler) wait() { s.wg.Wait() }
