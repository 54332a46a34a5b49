package queue

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/queue/message"
)

// errSuperseded is the cancel cause of work taken over by a more urgent
// notice for the same instance.
var errSuperseded = errors.New("superseded by a more urgent notice for the instance")

// workItem is one notice for one instance, with every message that carried it.
type workItem struct {
	ev      message.Event
	attempt int
	refs    []*msgRef
	seq     uint64 // arrival order: the tie-break between equally urgent work
	// Set per attempt (an item superseded by a more urgent one runs again):
	task   *Task         // once prepared
	ready  bool          // prepared and waiting for its turn on the instance
	turn   chan struct{} // closed when the item may act on the instance
	cancel context.CancelCauseFunc
}

// instanceWork is one instance's unfinished work; one item at a time acts on
// the instance.
type instanceWork struct {
	items  []*workItem // every unfinished item, in arrival order
	active *workItem   // the item acting on the instance, if any
}

// scheduler runs the events of received messages:
//
//   - every event is prepared at once (bounded by the preparers: node lookup,
//     cordon, hook heartbeats start), so every affected node is cordoned even
//     while drains wait;
//   - one item at a time acts on an instance, the most urgent first (see
//     Task.MoreUrgentThan); a prepared item more urgent than the one acting
//     cancels it, and the canceled item is prepared and run again after it
//     (by then the node is usually drained or gone, so it ends quickly as
//     drained, already handled or node not found);
//   - drains hold one of the bounded workers, which go to the most urgent
//     waiting drain (earliest deadline first, arrival order on ties);
//   - launch waits only watch the Node informer: they take neither a worker
//     nor the instance's turn;
//   - a duplicate of a notice queued or in progress is folded into it.
type scheduler struct {
	prepare func(ctx context.Context, ev message.Event, attempt int) (*Task, error)
	finish  func(ref *msgRef, err error)
	stats   *Stats
	log     *slog.Logger

	preparers chan struct{}
	workers   *slots

	mu        sync.Mutex
	seq       uint64
	instances map[string]*instanceWork
	wg        sync.WaitGroup
}

func newScheduler(p *Processor, preparers, workers int, finish func(*msgRef, error), stats *Stats, log *slog.Logger) *scheduler {
	return &scheduler{
		prepare: p.Prepare, finish: finish, stats: stats, log: log,
		preparers: make(chan struct{}, max(preparers, 1)),
		workers:   &slots{free: workers},
		instances: map[string]*instanceWork{},
	}
}

// submit queues ev for its instance, or folds it into the same notice
// already queued or in progress there.
func (s *scheduler) submit(ctx context.Context, ev message.Event, ref *msgRef, attempt int) {
	key := ev.Notice.InstanceID
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.instances[key]
	if w == nil {
		w = &instanceWork{}
		s.instances[key] = w
	}
	for _, it := range w.items {
		if notice.SameEvent(it.ev.Notice.ID, ev.Notice.ID) && it.ev.Notice.Canceled == ev.Notice.Canceled {
			it.refs = append(it.refs, ref)
			s.stats.folded.Add(1)
			s.log.Info("duplicate notice folded into the one in flight", logging.KeyEvent, ev.Notice.ID, "instance", key)
			return
		}
	}
	s.seq++
	it := &workItem{ev: ev, attempt: attempt, refs: []*msgRef{ref}, seq: s.seq}
	w.items = append(w.items, it)
	s.wg.Add(1)
	go s.work(ctx, key, it)
}

// work runs an item until it ends for good, then finishes its messages.
func (s *scheduler) work(ctx context.Context, key string, it *workItem) {
	defer s.wg.Done()
	for {
		err := s.attempt(ctx, key, it)
		refs, again := s.end(key, it, err)
		if !again {
			for _, r := range refs {
				s.finish(r, err)
			}
			return
		}
	}
}

// attempt prepares and runs the item once. It returns errSuperseded when a
// more urgent item for the instance canceled it.
func (s *scheduler) attempt(ctx context.Context, key string, it *workItem) error {
	ictx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.mu.Lock()
	it.cancel, it.turn, it.task = cancel, make(chan struct{}), nil
	s.mu.Unlock()
	err := s.run(ictx, key, it)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(ictx), errSuperseded) {
		return errSuperseded
	}
	return err
}

func (s *scheduler) run(ctx context.Context, key string, it *workItem) error {
	if err := acquire(ctx, s.preparers); err != nil {
		return err
	}
	task, err := s.prepare(ctx, it.ev, it.attempt)
	<-s.preparers
	if err != nil {
		return err
	}
	switch {
	case task.Done():
	case task.Waits():
		s.stats.launchWaits.add(1)
		defer s.stats.launchWaits.add(-1)
	default:
		s.stats.waiting.add(1)
		err := s.awaitTurn(ctx, key, it, task)
		if err == nil && task.Heavy() {
			err = s.workers.acquire(ctx, task, it.seq)
		}
		s.stats.waiting.add(-1)
		if err != nil {
			task.Abort()
			return err
		}
		if task.Heavy() {
			s.stats.running.add(1)
			defer func() { s.workers.release(); s.stats.running.add(-1) }()
		}
	}
	_, err = task.Run(ctx)
	return err
}

// awaitTurn waits until the prepared item may act on its instance,
// superseding the item acting now if this one is more urgent.
func (s *scheduler) awaitTurn(ctx context.Context, key string, it *workItem, task *Task) error {
	s.mu.Lock()
	w := s.instances[key]
	it.task, it.ready = task, true
	if a := w.active; a != nil && task.MoreUrgentThan(a.task) {
		s.log.Info("a more urgent notice supersedes the work in progress", "instance", key,
			logging.KeyEvent, it.ev.Notice.ID, "superseded", a.ev.Notice.ID)
		a.cancel(errSuperseded)
	}
	s.dispatch(w)
	turn := it.turn
	s.mu.Unlock()
	select {
	case <-turn:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// dispatch gives the instance's turn to its most urgent ready item when no
// item acts on it. Callers hold s.mu.
func (s *scheduler) dispatch(w *instanceWork) {
	if w.active != nil {
		return
	}
	var next *workItem
	for _, it := range w.items {
		if it.ready && (next == nil || before(it.task, it.seq, next.task, next.seq)) {
			next = it
		}
	}
	if next != nil {
		next.ready = false
		w.active = next
		close(next.turn)
	}
}

// end records the end of one attempt. A superseded item goes round again
// (again); otherwise it leaves its instance and refs are the messages to
// finish.
func (s *scheduler) end(key string, it *workItem, err error) (refs []*msgRef, again bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.instances[key]
	if w.active == it {
		w.active = nil
	}
	it.ready = false
	if errors.Is(err, errSuperseded) {
		s.stats.superseded.Add(1)
		s.log.Info("superseded work will run again after the more urgent one", "instance", key, logging.KeyEvent, it.ev.Notice.ID)
		s.dispatch(w)
		return nil, true
	}
	for i, x := range w.items {
		if x == it {
			w.items = append(w.items[:i], w.items[i+1:]...)
			break
		}
	}
	s.dispatch(w)
	if len(w.items) == 0 {
		delete(s.instances, key)
	}
	return it.refs, false
}

func acquire(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// wait blocks until every item's work has ended.
func (s *scheduler) wait() { s.wg.Wait() }

// before orders work: the more urgent task first, arrival order on ties.
func before(a *Task, aseq uint64, b *Task, bseq uint64) bool {
	if a.MoreUrgentThan(b) {
		return true
	}
	return !b.MoreUrgentThan(a) && aseq < bseq
}

// slots hands a fixed number of drain workers to waiting tasks, the most
// urgent first.
type slots struct {
	mu      sync.Mutex
	free    int
	waiting []*slotWaiter
}

type slotWaiter struct {
	task    *Task
	seq     uint64
	granted chan struct{}
}

// acquire waits for a worker; on an error (ctx ended) none is held.
func (s *slots) acquire(ctx context.Context, task *Task, seq uint64) error {
	s.mu.Lock()
	if s.free > 0 {
		s.free--
		s.mu.Unlock()
		return nil
	}
	w := &slotWaiter{task: task, seq: seq, granted: make(chan struct{})}
	s.waiting = append(s.waiting, w)
	s.mu.Unlock()
	select {
	case <-w.granted:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for i, x := range s.waiting {
		if x == w {
			s.waiting = append(s.waiting[:i], s.waiting[i+1:]...)
			s.mu.Unlock()
			return context.Cause(ctx)
		}
	}
	s.mu.Unlock()
	s.release() // granted just as ctx ended: pass it on
	return context.Cause(ctx)
}

// release frees a worker: the most urgent waiting task gets it.
func (s *slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.waiting) == 0 {
		s.free++
		return
	}
	next := 0
	for i, w := range s.waiting[1:] {
		if before(w.task, w.seq, s.waiting[next].task, s.waiting[next].seq) {
			next = i + 1
		}
	}
	w := s.waiting[next]
	s.waiting = append(s.waiting[:next], s.waiting[next+1:]...)
	close(w.granted)
}
