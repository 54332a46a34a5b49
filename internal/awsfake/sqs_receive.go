package awsfake

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// receive implements ReceiveMessage with long polling: it returns at once
// when a message is visible, otherwise waits up to WaitTimeSeconds for one to
// be sent or to become visible again.
func (s *SQS) receive(r *http.Request, in *sqsRequest) (any, error) {
	max := 1
	if in.MaxNumberOfMessages != nil {
		max = *in.MaxNumberOfMessages
	}
	if max < 1 || max > 10 {
		return nil, &sqsError{"InvalidParameterValue", "Value " + strconv.Itoa(max) + " for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."}
	}
	wait := 0
	if in.WaitTimeSeconds != nil {
		wait = *in.WaitTimeSeconds
	}
	if wait < 0 || wait > 20 {
		return nil, &sqsError{"InvalidParameterValue", "Value " + strconv.Itoa(wait) + " for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided."}
	}
	requested := -1
	if in.VisibilityTimeout != nil {
		requested = *in.VisibilityTimeout
	}
	s.mu.Lock()
	s.received = append(s.received, requested)
	s.mu.Unlock()
	attrs := wantAttrs(append(in.AttributeNames, in.MessageSystemAttributeNames...))
	deadline := s.clock.Now().Add(time.Duration(wait) * time.Second)
	for {
		s.mu.Lock()
		q, err := s.lookup(in.QueueURL)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		vis := q.visibility
		if in.VisibilityTimeout != nil {
			vis = time.Duration(*in.VisibilityTimeout) * time.Second
		}
		got, next := s.take(q, max, vis, attrs)
		wake := s.wake
		s.mu.Unlock()
		now := s.clock.Now()
		if len(got) > 0 || !now.Before(deadline) {
			return map[string]any{"Messages": got}, nil
		}
		d := deadline.Sub(now)
		if !next.IsZero() && next.Sub(now) < d {
			d = next.Sub(now)
		}
		t := s.clock.NewTimer(d)
		select {
		case <-wake:
		case <-t.C():
		case <-r.Context().Done():
			t.Stop()
			return nil, r.Context().Err()
		}
		t.Stop()
	}
}

// take receives up to max visible messages from q (moving over-received
// ones to the dead-letter queue) and returns them with the earliest time an
// invisible message becomes visible again.
func (s *SQS) take(q *sqsQueue, max int, vis time.Duration, attrs func(string) bool) ([]sqsMessageOut, time.Time) {
	now := s.clock.Now()
	var got []sqsMessageOut
	var next time.Time
	kept := q.msgs[:0]
	for _, m := range q.msgs {
		if m.visibleAt.After(now) || len(got) >= max {
			if m.visibleAt.After(now) && (next.IsZero() || m.visibleAt.Before(next)) {
				next = m.visibleAt
			}
			kept = append(kept, m)
			continue
		}
		if q.maxRecv > 0 && m.receives >= q.maxRecv {
			if dlq := s.queues[q.dlq]; dlq != nil {
				m.visibleAt = now
				dlq.msgs = append(dlq.msgs, m)
				continue
			}
		}
		m.receives++
		if m.receives == 1 {
			m.firstReceive = now
		}
		m.handle = "AQE" + randomID() + "/" + m.id
		s.handles[m.handle] = m
		m.visibleAt = now.Add(vis)
		out := sqsMessageOut{MessageID: m.id, ReceiptHandle: m.handle, MD5OfBody: m.md5, Body: m.body, Attributes: map[string]string{}}
		for k, v := range map[string]string{
			"ApproximateReceiveCount":          strconv.Itoa(m.receives),
			"SentTimestamp":                    strconv.FormatInt(m.sent.UnixMilli(), 10),
			"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.firstReceive.UnixMilli(), 10),
			"SenderId":                         "AIDAFAKESENDER",
		} {
			if attrs(k) {
				out.Attributes[k] = v
			}
		}
		got = append(got, out)
		kept = append(kept, m)
	}
	q.msgs = kept
	return got, next
}

func wantAttrs(names []string) func(string) bool {
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	return func(k string) bool { return set["All"] || set[k] }
}

// message finds the in-queue message a receipt handle names. Handles of
// earlier receives still name the message but are stale.
func (s *SQS) message(url, handle string) (*sqsQueue, *sqsMessage, bool, error) {
	q, err := s.lookup(url)
	if err != nil {
		return nil, nil, false, err
	}
	m, ok := s.handles[handle]
	if !ok {
		return nil, nil, false, &sqsError{"ReceiptHandleIsInvalid", "The input receipt handle \"" + handle + "\" is not a valid receipt handle."}
	}
	return q, m, m.handle == handle, nil
}

// deleteMessage removes the message if handle is its latest receipt handle.
// As on SQS, a stale handle is accepted but does not delete the message.
func (s *SQS) deleteMessage(url, handle string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, m, latest, err := s.message(url, handle)
	if err != nil || !latest || m.deleted {
		return err
	}
	for i, qm := range q.msgs {
		if qm == m {
			q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
			m.deleted = true
			q.deleted++
			break
		}
	}
	return nil
}

func (s *SQS) changeVisibility(url, handle string, secs *int) error {
	if secs == nil || *secs < 0 || *secs > 43200 {
		return &sqsError{"InvalidParameterValue", "VisibilityTimeout must be between 0 and 43200."}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, m, latest, err := s.message(url, handle)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	if !latest {
		return &sqsError{"InvalidParameterValue", "Value " + handle + " for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired."}
	}
	if m.deleted || !m.visibleAt.After(now) {
		return &sqsError{"MessageNotInflight", "Message does not exist or is not available for visibility timeout change."}
	}
	m.visibleAt = now.Add(time.Duration(*secs) * time.Second)
	s.wakeLocked()
	return nil
}

func (s *SQS) changeVisibilityBatch(in *sqsRequest) (any, error) {
	if len(in.Entries) == 0 || len(in.Entries) > 10 {
		return nil, &sqsError{"InvalidParameterValue", "A batch holds 1 to 10 entries."}
	}
	ok, failed := []map[string]string{}, []map[string]any{}
	for _, e := range in.Entries {
		secs := e.VisibilityTimeout
		if err := s.changeVisibility(in.QueueURL, e.ReceiptHandle, &secs); err != nil {
			var se *sqsError
			if !errors.As(err, &se) {
				return nil, err
			}
			failed = append(failed, map[string]any{"Id": e.ID, "SenderFault": true, "Code": se.code, "Message": se.msg})
			continue
		}
		ok = append(ok, map[string]string{"Id": e.ID})
	}
	return map[string]any{"Successful": ok, "Failed": failed}, nil
}
