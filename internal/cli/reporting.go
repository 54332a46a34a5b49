package cli

import (
	"context"
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/events"
	"github.com/lifeboat-dev/lifeboat/internal/metrics"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notify"
	"github.com/lifeboat-dev/lifeboat/internal/version"
)

// ReportingOptions are the flags for telling people what happened: metrics
// and health endpoints, and notifications. Shared by agent and queue.
type ReportingOptions struct {
	// Metrics configures /metrics, /healthz and /readyz.
	Metrics metrics.Options
	// Notify configures Slack, Telegram and webhook notifications.
	Notify notify.Options
}

// DefaultReportingOptions returns the defaults.
func DefaultReportingOptions() ReportingOptions {
	return ReportingOptions{Metrics: metrics.DefaultOptions(), Notify: notify.DefaultOptions()}
}

// AddFlags registers the flags.
func (o *ReportingOptions) AddFlags(fs *pflag.FlagSet) {
	o.Metrics.AddFlags(fs)
	o.Notify.AddFlags(fs)
}

// Validate checks the flags.
func (o *ReportingOptions) Validate() error {
	if err := o.Metrics.Validate(); err != nil {
		return err
	}
	return o.Notify.Validate()
}

// reporters are the running metrics server, notifier and Kubernetes Event
// recorder.
type reporters struct {
	metrics  *metrics.Metrics
	drainObs *metrics.DrainObserver
	budget   *metrics.BudgetObserver
	server   *metrics.Server
	notifier *notify.Observer
	events   *events.Recorder
	log      *slog.Logger
}

// start builds the reporters and starts the metrics server in the
// background. Events are written with their own client (a copy of cfg) so
// they never use the drain's client-side rate budget; host names the
// reporting instance (the node for the agent).
func (o *ReportingOptions) start(ctx context.Context, log *slog.Logger, cfg *rest.Config, host string) (*reporters, error) {
	m := metrics.New(version.Version)
	r := &reporters{metrics: m, drainObs: metrics.NewDrainObserver(m, nil), budget: metrics.NewBudgetObserver(m), log: log}
	if cfg != nil {
		ec := rest.CopyConfig(cfg)
		ec.QPS, ec.Burst = 10, 25
		client, err := kubernetes.NewForConfig(ec)
		if err != nil {
			return nil, err
		}
		r.events = events.New(client, events.Config{Host: host, Log: log})
	}
	n, err := notify.New(o.Notify, notify.Deps{Log: log, Metrics: m})
	if err != nil {
		return nil, err
	}
	r.notifier = n
	if o.Metrics.Address != "" {
		r.server = metrics.NewServer(o.Metrics, m, log)
		if _, err := r.server.Listen(); err != nil {
			return nil, err
		}
		go func() {
			if err := r.server.Run(ctx); err != nil {
				log.Error("metrics server stopped", "err", err)
			}
		}()
	}
	return r, nil
}

// observer is the drain observer feeding metrics and notifications.
func (r *reporters) observer(extra ...drain.Observer) drain.Observer {
	obs := drain.Observers{r.drainObs, r.budget, r.notifier}
	if r.events != nil {
		obs = append(obs, r.events)
	}
	return append(obs, extra...)
}

func (r *reporters) setReady(ready bool) {
	r.metrics.SetReady(ready)
	if r.server != nil {
		r.server.SetReady(ready)
	}
}

// setLiveness makes /healthz run check.
func (r *reporters) setLiveness(check func() error) {
	if r.server != nil {
		r.server.SetLiveness(check)
	}
}

func (r *reporters) noticeReceived(n notice.Notice) {
	r.drainObs.NoticeReceived(n)
	r.notifier.NoticeReceived(n)
	if r.events != nil {
		r.events.NoticeReceived(n)
	}
}

func (r *reporters) acknowledged(n notice.Notice) {
	r.notifier.Acknowledged(n)
	if r.events != nil {
		r.events.Acknowledged(n)
	}
}

// close flushes queued notifications, bounded by timeout.
func (r *reporters) close(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := r.notifier.Close(ctx); err != nil {
		r.log.Warn("notifications not all delivered before exit", "err", err)
	}
	if r.events != nil {
		if err := r.events.Close(ctx); err != nil {
			r.log.Warn("Kubernetes Events not all written before exit", "err", err)
		}
	}
}
