package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/queue/message"
)

// Config tunes a Consumer.
type Config struct {
	// QueueURL is the SQS queue to consume.
	QueueURL string
	// Workers bounds concurrent drains (and launch waits).
	Workers int
	// Preparers bounds concurrent quick steps (node lookup, cordon).
	Preparers int
	// MaxInFlight bounds messages received and not yet finished.
	MaxInFlight int
	// VisibilityTimeout is requested on receive and re-applied while the
	// work runs (every third of it). Whole seconds.
	VisibilityTimeout time.Duration
	// WaitTime is the long-poll wait (at most 20 s).
	WaitTime time.Duration
	// Poison is what happens to unparseable messages.
	Poison PoisonPolicy
}

// DefaultConfig returns the consumer defaults.
func DefaultConfig() Config {
	return Config{
		Workers:           10,
		Preparers:         32,
		MaxInFlight:       500,
		VisibilityTimeout: 60 * time.Second,
		WaitTime:          20 * time.Second,
		Poison:            PoisonAuto,
	}
}

// Validate checks the configuration; messages name the flags.
func (c *Config) Validate() error {
	switch {
	case c.QueueURL == "":
		return errors.New("--queue-url must be set")
	case c.Workers < 1:
		return fmt.Errorf("--workers must be at least 1, got %d", c.Workers)
	case c.MaxInFlight < 1:
		return fmt.Errorf("--max-in-flight must be at least 1, got %d", c.MaxInFlight)
	case c.VisibilityTimeout < 3*time.Second || c.VisibilityTimeout > 12*time.Hour || c.VisibilityTimeout%time.Second != 0:
		return fmt.Errorf("--visibility-timeout must be whole seconds between 3s and 12h, got %s", c.VisibilityTimeout)
	case c.WaitTime < 0 || c.WaitTime > 20*time.Second:
		return fmt.Errorf("--wait-time must be between 0s and 20s, got %s", c.WaitTime)
	case c.Poison != PoisonAuto && c.Poison != PoisonDelete && c.Poison != PoisonKeep:
		return fmt.Errorf("--poison-messages must be auto, delete or keep, got %q", c.Poison)
	}
	return nil
}

// Consumer receives messages from SQS and hands their events to the
// Processor. Run it under leader election so one replica consumes.
type Consumer struct {
	// SQS is the queue client.
	SQS SQSAPI
	// Processor carries out each event.
	Processor *Processor
	// Config tunes the consumer.
	Config Config
	// Clock times polling back-off and visibility extensions.
	Clock clock.WithTicker
	// Log is the logger.
	Log *slog.Logger
	// Stats counts; share it with Processor.Stats.
	Stats *Stats

	poison poisonDecision // resolved at the start of Run
}

// Run consumes until ctx ends. In-flight work is canceled with ctx; messages
// whose work did not finish are made visible again so the next consumer
// (e.g. a new leader) picks them up at once.
func (c *Consumer) Run(ctx context.Context) error {
	tr := newTracker(c.Config.MaxInFlight)
	sch := newScheduler(c.Processor, c.Config.Preparers, c.Config.Workers,
		func(ref *msgRef, err error) { c.finish(ctx, tr, ref, err) }, c.Stats, c.Log)
	c.poison = c.resolvePoison(ctx)
	extendCtx, stopExtend := context.WithCancel(context.WithoutCancel(ctx))
	var extendWG sync.WaitGroup
	extendWG.Add(1)
	go func() { defer extendWG.Done(); c.extendLoop(extendCtx, tr) }()

	c.Log.Info("consuming queue", "queue", c.Config.QueueURL, "workers", c.Config.Workers)
	backoff := time.Second
	for ctx.Err() == nil {
		n := tr.waitSlots(ctx, 10)
		if n == 0 {
			break
		}
		out, err := c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(c.Config.QueueURL),
			MaxNumberOfMessages: int32(min(max(n, 1), 10)),
			WaitTimeSeconds:     c.waitTime(),
			VisibilityTimeout:   c.visibility(),
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{
				sqstypes.MessageSystemAttributeNameApproximateReceiveCount,
			},
		})
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			c.Log.Warn("receiving from SQS failed", "error", err, "retryIn", backoff)
			select {
			case <-ctx.Done():
			case <-c.Clock.After(backoff):
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = time.Second
		for i := range out.Messages {
			c.handle(ctx, sch, tr, &out.Messages[i])
		}
	}
	sch.wait()
	stopExtend()
	extendWG.Wait()
	c.releaseUnfinished(tr)
	c.Log.Info("stopped consuming queue", "queue", c.Config.QueueURL)
	return nil
}

// visibility is --visibility-timeout in whole seconds (SQS caps it at 12 h).
func (c *Consumer) visibility() int32 {
	return int32(min(max(c.Config.VisibilityTimeout/time.Second, 0), 12*3600))
}

// waitTime is --wait-time in whole seconds (SQS allows 0 to 20).
func (c *Consumer) waitTime() int32 {
	return int32(min(max(c.Config.WaitTime/time.Second, 0), 20))
}

// handle parses one message and schedules its message.
func (c *Consumer) handle(ctx context.Context, sch *scheduler, tr *tracker, m *sqstypes.Message) {
	c.Stats.received.Add(1)
	attempt, _ := strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
	log := c.Log.With("messageId", aws.ToString(m.MessageId), "receiveCount", attempt)
	parsed, err := message.Parse([]byte(aws.ToString(m.Body)), c.Clock.Now())
	if err != nil {
		c.handlePoison(ctx, log, m, err)
		return
	}
	if len(parsed.Events) == 0 {
		c.Stats.ignored.Add(1)
		log.Info("message asks for nothing", "why", parsed.Ignored, "detailType", parsed.DetailType)
		c.deleteMessage(context.WithoutCancel(ctx), m)
		return
	}
	ref := tr.add(m, len(parsed.Events))
	for _, ev := range parsed.Events {
		ev.Notice.Source = "sqs"
		log.Info("notice received", logging.KeyEvent, ev.Notice.ID, "kind", string(ev.Notice.Kind),
			"instance", ev.Notice.InstanceID, "canceled", ev.Notice.Canceled, logging.KeySource, "sqs")
		sch.submit(ctx, ev, ref, max(attempt, 1))
	}
}

// handlePoison logs and counts an unparseable message and deletes it or
// leaves it to the dead-letter queue, per the poison policy.
func (c *Consumer) handlePoison(ctx context.Context, log *slog.Logger, m *sqstypes.Message, err error) {
	c.Stats.poison.Add(1)
	if !c.poison.known {
		c.poison = c.resolvePoison(ctx)
	}
	log.Error("poison message", "error", err, "policy", string(c.Config.Poison), "kept", c.poison.keep)
	if !c.poison.keep {
		c.deleteMessage(context.WithoutCancel(ctx), m)
	}
}

// finish records one event's end for its message; the message is deleted
// once all its events ended without a transient error.
func (c *Consumer) finish(ctx context.Context, tr *tracker, ref *msgRef, err error) {
	if err != nil {
		c.Stats.transient.Add(1)
		c.Log.Warn("work left for redelivery", "messageId", aws.ToString(ref.msg.MessageId), "error", err)
	}
	if last, ok := tr.done(ref, err, ctx.Err() != nil); last && ok {
		c.deleteMessage(context.WithoutCancel(ctx), ref.msg)
	}
}

func (c *Consumer) deleteMessage(ctx context.Context, m *sqstypes.Message) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := c.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{
		QueueUrl:      aws.String(c.Config.QueueURL),
		ReceiptHandle: m.ReceiptHandle,
	})
	if err != nil {
		c.Stats.deleteErrors.Add(1)
		c.Log.Warn("deleting message failed; it will be redelivered and recognised as handled", "messageId", aws.ToString(m.MessageId), "error", err)
		return
	}
	c.Stats.deleted.Add(1)
}

// extendLoop keeps in-flight messages invisible while their work runs.
func (c *Consumer) extendLoop(ctx context.Context, tr *tracker) {
	t := c.Clock.NewTicker(max(c.Config.VisibilityTimeout/3, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		c.changeVisibility(ctx, tr.inFlight(), c.visibility())
	}
}

// changeVisibility sets the visibility timeout of messages, ten at a time.
func (c *Consumer) changeVisibility(ctx context.Context, msgs []*sqstypes.Message, secs int32) {
	for start := 0; start < len(msgs); start += 10 {
		batch := msgs[start:min(start+10, len(msgs))]
		entries := make([]sqstypes.ChangeMessageVisibilityBatchRequestEntry, len(batch))
		for i, m := range batch {
			entries[i] = sqstypes.ChangeMessageVisibilityBatchRequestEntry{
				Id:                aws.String(strconv.Itoa(i)),
				ReceiptHandle:     m.ReceiptHandle,
				VisibilityTimeout: secs,
			}
		}
		out, err := c.SQS.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{
			QueueUrl: aws.String(c.Config.QueueURL),
			Entries:  entries,
		})
		if err != nil {
			c.Stats.extendErrors.Add(int64(len(batch)))
			c.Log.Warn("changing message visibility failed", "messages", len(batch), "error", err)
			continue
		}
		c.Stats.extended.Add(int64(len(out.Successful)))
		for _, f := range out.Failed {
			c.Stats.extendErrors.Add(1)
			c.Log.Warn("changing message visibility failed", "code", aws.ToString(f.Code), "error", aws.ToString(f.Message))
		}
	}
}

// releaseUnfinished makes messages whose work was interrupted visible again.
func (c *Consumer) releaseUnfinished(tr *tracker) {
	msgs := tr.unfinished()
	if len(msgs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.changeVisibility(ctx, msgs, 0)
	c.Log.Info("released unfinished messages for the next consumer", "messages", len(msgs))
}
