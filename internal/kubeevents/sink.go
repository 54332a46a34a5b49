package kubeevents

import (
	"context"
	"errors"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

// Write retries: transport errors are retried, API refusals are not.
const (
	maxTries   = 5
	retryDelay = 2 * time.Second
)

// sink writes broadcast events through the typed core/v1 Events client,
// after client-go's correlator has aggregated them and applied its spam
// filter. It does what record.EventBroadcaster.StartRecordingToSink does,
// but with contexts, slog, and a way for Close to know when it is done.
type sink struct {
	events     kube.CoreV1Interface // Events(ns) of each event's namespace
	correlator *record.EventCorrelator
	clock      clock.WithTicker
	log        *slog.Logger
}

func newSink(events kube.CoreV1Interface, clk clock.WithTicker, log *slog.Logger) *sink {
	return &sink{
		events:     events,
		correlator: record.NewEventCorrelatorWithOptions(record.CorrelatorOptions{Clock: clk}),
		clock:      clk,
		log:        log,
	}
}

// write records one event; it is called by the broadcaster's goroutine.
func (s *sink) write(ctx context.Context, e *corev1.Event) {
	ev := *e
	res, err := s.correlator.EventCorrelate(&ev)
	if err != nil {
		s.log.Debug("correlating Kubernetes event", logging.KeyStep, ev.Reason, logging.KeyError, err)
	}
	if res == nil || res.Skip {
		s.log.Warn("Kubernetes event dropped by client-go's spam filter", logging.KeyStep, ev.Reason, "object", ev.InvolvedObject.Name)
		return
	}
	for try := 1; ; try++ {
		err := s.writeOnce(ctx, res)
		if err == nil {
			return
		}
		var status apierrors.APIStatus
		if errors.As(err, &status) || try == maxTries || ctx.Err() != nil {
			s.log.Warn("writing Kubernetes event failed", logging.KeyStep, ev.Reason, "object", ev.InvolvedObject.Name, logging.KeyError, err)
			return
		}
		t := s.clock.NewTimer(retryDelay)
		select {
		case <-t.C():
		case <-ctx.Done():
		}
		t.Stop()
	}
}

// writeOnce patches an aggregated event (creating it if it vanished) or
// creates a new one.
func (s *sink) writeOnce(ctx context.Context, res *record.EventCorrelateResult) error {
	var (
		out *corev1.Event
		err error
	)
	if res.Event.Count > 1 {
		out, err = s.events.Events(res.Event.Namespace).Patch(ctx, res.Event.Name, types.StrategicMergePatchType, res.Patch, metav1.PatchOptions{})
	}
	if res.Event.Count <= 1 || apierrors.IsNotFound(err) {
		res.Event.ResourceVersion = ""
		out, err = s.events.Events(res.Event.Namespace).Create(ctx, res.Event, metav1.CreateOptions{})
	}
	if err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	s.correlator.UpdateState(out)
	return nil
}
