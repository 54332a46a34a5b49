package asgdetach

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// detachTimeout bounds one Detach call made for a notice.
const detachTimeout = 30 * time.Second

// OnSpot wraps a notice source so that every spot-interruption notice it
// sends (not canceled, with an instance ID) also detaches that instance
// from its Auto Scaling group, once per instance, in the background: the
// notice goes on to the agent at once and a failing Auto Scaling API never
// delays the drain. Failures are logged and reported to onError
// ("asg-detach"). The wrapper keeps the source's name and readiness.
func OnSpot(src notice.Source, api API, log *slog.Logger, onError func(reason string)) notice.Source {
	if log == nil {
		log = slog.Default()
	}
	if onError == nil {
		onError = func(string) {}
	}
	return &detaching{Source: src, api: api, log: log, onError: onError, done: map[string]bool{}}
}

// ReasonDetach is the OnError reason of a failed detach.
const ReasonDetach = "asg-detach"

type detaching struct {
	notice.Source
	api     API
	log     *slog.Logger
	onError func(string)

	mu   sync.Mutex
	done map[string]bool // instance IDs detached or being detached
	wg   sync.WaitGroup
}

// ReadOnce forwards the wrapped source's readiness (ready at once if it
// has none).
func (d *detaching) ReadOnce() <-chan struct{} {
	if r, ok := d.Source.(notice.Readier); ok {
		return r.ReadOnce()
	}
	ch := make(chan struct{})
	close(ch)
	return ch
}

// Run runs the wrapped source, forwarding its notices.
func (d *detaching) Run(ctx context.Context, out chan<- notice.Notice) error {
	in := make(chan notice.Notice)
	errc := make(chan error, 1)
	go func() { errc <- d.Source.Run(ctx, in) }()
	defer d.wg.Wait()
	for {
		select {
		case err := <-errc:
			return err
		case n := <-in:
			d.maybeDetach(ctx, n)
			select {
			case out <- n:
			case <-ctx.Done():
				return <-errc
			}
		}
	}
}

func (d *detaching) maybeDetach(ctx context.Context, n notice.Notice) {
	if n.Kind != notice.KindSpotInterruption || n.Canceled || n.InstanceID == "" {
		return
	}
	d.mu.Lock()
	seen := d.done[n.InstanceID]
	d.done[n.InstanceID] = true
	d.mu.Unlock()
	if seen {
		return
	}
	d.wg.Go(func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), detachTimeout)
		defer cancel()
		res, err := Detach(cctx, d.api, n.InstanceID, "")
		if err != nil {
			d.onError(ReasonDetach)
			d.log.Warn("detaching the interrupted instance from its Auto Scaling group failed",
				logging.KeyEvent, n.ID, "instance", n.InstanceID, "err", err)
			d.mu.Lock()
			delete(d.done, n.InstanceID) // a later notice may try again
			d.mu.Unlock()
			return
		}
		d.log.Info("interrupted instance detached from its Auto Scaling group; a replacement is launching",
			logging.KeyEvent, n.ID, "instance", n.InstanceID, "group", res.Group, "detached", res.Detached, "activity", res.ActivityID)
	})
}
