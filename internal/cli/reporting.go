package cli

import (
	"context"
	"log/slog"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"

	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/kubeevents"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/metrics"
	"github.com/lifeboat-dev/lifeboat/internal/notify"
	"github.com/lifeboat-dev/lifeboat/internal/report"
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
// recorder, and the one Reporter that feeds them.
type reporters struct {
	// fanout is the one seam every mode reports through (see reporter).
	fanout   report.Fanout
	metrics  *metrics.Metrics
	server   *metrics.Server
	notifier *notify.Observer
	events   *kubeevents.Recorder
	log      *slog.Logger
}

// start builds the reporters and starts the metrics server in the
// background. Events are written with their own client (a copy of cfg) so
// they never use the drain's client-side rate budget; host names the
// reporting instance (the node for the agent).
func (o *ReportingOptions) start(ctx context.Context, log *slog.Logger, cfg *rest.Config, host string) (*reporters, error) {
	m := metrics.New(version.Version)
	r := &reporters{metrics: m, log: log}
	if cfg != nil {
		ec := rest.CopyConfig(cfg)
		ec.QPS, ec.Burst = 10, 25
		client, err := kube.NewForConfig(ec)
		if err != nil {
			return nil, err
		}
		r.events = kubeevents.New(client, kubeevents.Config{Host: host, Log: log})
	}
	n, err := notify.New(o.Notify, notify.Deps{Log: log, Metrics: m})
	if err != nil {
		return nil, err
	}
	r.notifier = n
	r.fanout = report.Fanout{metrics.NewReporter(m), metrics.NewBudgetObserver(m), n}
	if r.events != nil {
		r.fanout = append(r.fanout, r.events)
	}
	if o.Metrics.Address != "" {
		r.server = metrics.NewServer(o.Metrics, m, log)
		if _, err := r.server.Listen(); err != nil {
			return nil, err
		}
		go func() {
			if err := r.server.Run(ctx); err != nil {
				log.Error("metrics server stopped", logging.KeyError, err)
			}
		}()
	}
	return r, nil
}

// reporter is the one report.Reporter every mode reports through: notices,
// drain steps (it is the drain.Config Observer) and finishes go to
// Kubernetes Events, metrics and notifications alike, in one loop.
func (r *reporters) reporter() report.Reporter { return r.fanout }

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

// close flushes queued notifications, bounded by timeout.
func (r *reporters) close(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := r.notifier.Close(ctx); err != nil {
		r.log.Warn("notifications not all delivered before exit", logging.KeyError, err)
	}
	if r.events != nil {
		if err := r.events.Close(ctx); err != nil {
			r.log.Warn("Kubernetes Events not all written before exit", logging.KeyError, err)
		}
	}
}
