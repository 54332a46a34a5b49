package notify

import (
	"context"
	"errors"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/metrics"
	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
)

// deliver tries m on w's notifier until it is sent, refused for good,
// out of retries or expired, and counts the outcome once.
func (d *Dispatcher) deliver(w *worker, m notifier.Message) {
	name := w.n.Name()
	for attempt := 0; ; attempt++ {
		if d.ctx.Err() != nil {
			d.finish(name, m, metrics.NotificationCanceled, attempt, nil)
			return
		}
		left := m.Expires.Sub(d.cfg.Clock.Now())
		if left <= 0 {
			d.finish(name, m, metrics.NotificationExpired, attempt, nil)
			return
		}
		err := d.attempt(w.n, m, left)
		switch {
		case err == nil:
			d.finish(name, m, metrics.NotificationSent, attempt+1, nil)
			return
		case errors.Is(err, notifier.ErrSkipped):
			d.finish(name, m, metrics.NotificationSkipped, attempt+1, nil)
			return
		case d.ctx.Err() != nil:
			d.finish(name, m, metrics.NotificationCanceled, attempt+1, err)
			return
		case errors.Is(err, context.DeadlineExceeded) && !d.cfg.Clock.Now().Before(m.Expires):
			d.finish(name, m, metrics.NotificationExpired, attempt+1, err)
			return
		}
		wait, retry := d.backoff(err, attempt, w.retries)
		if !retry {
			d.finish(name, m, metrics.NotificationFailed, attempt+1, err)
			return
		}
		if !d.cfg.Clock.Now().Add(wait).Before(m.Expires) {
			d.finish(name, m, metrics.NotificationExpired, attempt+1, err)
			return
		}
		d.cfg.Log.Debug("notification failed, will retry", "notifier", name, logging.KeyStep, m.Step,
			logging.KeyNode, m.Node, logging.KeyNotice, m.NoticeID, "attempt", attempt+1, "retryIn", wait, logging.KeyError, err)
		if !d.sleep(wait) {
			d.finish(name, m, metrics.NotificationCanceled, attempt+1, err)
			return
		}
	}
}

// attempt calls the notifier once, bounded by the message's expiry.
func (d *Dispatcher) attempt(n notifier.Notifier, m notifier.Message, left time.Duration) error {
	ctx, cancel := context.WithTimeout(d.ctx, left)
	defer cancel()
	return n.Notify(ctx, m)
}

// backoff says whether to retry after err and how long to wait first.
func (d *Dispatcher) backoff(err error, attempt, retries int) (time.Duration, bool) {
	if attempt >= retries {
		return 0, false
	}
	var de *notifier.DeliveryError
	if errors.As(err, &de) && de.Permanent {
		return 0, false
	}
	wait := d.cfg.Backoff << min(attempt, 16)
	if wait > d.cfg.MaxBackoff || wait <= 0 {
		wait = d.cfg.MaxBackoff
	}
	if de != nil && de.RetryAfter > wait {
		wait = de.RetryAfter
	}
	return wait, true
}

// sleep waits for wait; it returns false if the dispatcher was aborted.
func (d *Dispatcher) sleep(wait time.Duration) bool {
	t := d.cfg.Clock.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-d.ctx.Done():
		return false
	}
}

// finish counts and logs a message's outcome. Errors come from notifiers,
// which redact secrets from them.
func (d *Dispatcher) finish(name string, m notifier.Message, result string, attempts int, err error) {
	d.cfg.Metrics.Notification(name, result)
	args := []any{"notifier", name, logging.KeyStep, m.Step, logging.KeyNode, m.Node, logging.KeyNotice, m.NoticeID, "attempts", attempts}
	if err != nil {
		args = append(args, logging.KeyError, err)
	}
	switch result {
	case metrics.NotificationSent, metrics.NotificationSkipped:
		d.cfg.Log.Debug("notification "+result, args...)
	default:
		d.cfg.Log.Warn("notification "+result, args...)
	}
}
