package awsfake

import (
	"crypto/md5" //nolint:gosec // SQS MD5OfMessageBody is part of the wire format
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// SQS is an in-memory Simple Queue Service speaking the AWS JSON 1.0
// protocol. Messages become invisible for the visibility timeout when
// received, get a fresh receipt handle on every receive (only the latest one
// deletes the message), count their receives, and move to a dead-letter
// queue once received more than a RedrivePolicy's maxReceiveCount.
type SQS struct {
	clock clock.WithTicker

	mu      sync.Mutex
	baseURL string
	queues  map[string]*sqsQueue // by name
	handles map[string]*sqsMessage
	wake    chan struct{} // closed and replaced when something may have become receivable
	faults  map[string]int
	calls   map[string]int
	// received lists each ReceiveMessage's requested VisibilityTimeout
	// (seconds; -1 when the request left it to the queue's default).
	received []int
}

type sqsQueue struct {
	name       string
	visibility time.Duration
	attrs      map[string]string
	dlq        string // dead-letter queue name
	maxRecv    int
	msgs       []*sqsMessage // in send order, deleted ones removed
	deleted    int
}

type sqsMessage struct {
	id, body, md5 string
	sent          time.Time
	visibleAt     time.Time
	receives      int
	firstReceive  time.Time
	handle        string // the latest receipt handle
	deleted       bool
}

// MessageState is what a test can observe about one message.
type MessageState struct {
	// Queue is the name of the queue now holding the message.
	Queue string
	// Receives is the ApproximateReceiveCount.
	Receives int
	// Deleted reports that DeleteMessage removed it.
	Deleted bool
	// InFlight reports that it was received and is invisible now.
	InFlight bool
}

func newSQS(clk clock.WithTicker) *SQS {
	return &SQS{
		clock: clk, baseURL: "http://localhost", queues: map[string]*sqsQueue{},
		handles: map[string]*sqsMessage{}, wake: make(chan struct{}),
		faults: map[string]int{}, calls: map[string]int{},
	}
}

func (s *SQS) setBaseURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.baseURL = u
}

func (s *SQS) queueURL(name string) string { return s.baseURL + "/" + Account + "/" + name }

func queueARN(name string) string { return "arn:aws:sqs:" + Region + ":" + Account + ":" + name }

// CreateQueue creates (or returns) a queue and returns its URL. Attributes
// understood: VisibilityTimeout (seconds, default 30) and RedrivePolicy
// ({"deadLetterTargetArn": ..., "maxReceiveCount": N}).
func (s *SQS) CreateQueue(name string, attrs map[string]string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.queues[name]; ok {
		return s.queueURL(q.name), nil
	}
	q := &sqsQueue{name: name, visibility: 30 * time.Second, attrs: map[string]string{}}
	for k, v := range attrs {
		if err := q.setAttr(k, v); err != nil {
			return "", err
		}
	}
	s.queues[name] = q
	return s.queueURL(name), nil
}

func (q *sqsQueue) setAttr(k, v string) error {
	switch k {
	case "VisibilityTimeout":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 43200 {
			return &sqsError{"InvalidAttributeValue", "Invalid value for the parameter VisibilityTimeout."}
		}
		q.visibility = time.Duration(n) * time.Second
	case "RedrivePolicy":
		var rp struct {
			Target string          `json:"deadLetterTargetArn"`
			Max    json.RawMessage `json:"maxReceiveCount"`
		}
		if err := json.Unmarshal([]byte(v), &rp); err != nil {
			return &sqsError{"InvalidAttributeValue", "Invalid value for the parameter RedrivePolicy."}
		}
		n, err := strconv.Atoi(strings.Trim(string(rp.Max), `"`))
		if err != nil || n < 1 {
			return &sqsError{"InvalidAttributeValue", "Invalid value for maxReceiveCount."}
		}
		q.dlq, q.maxRecv = rp.Target[strings.LastIndex(rp.Target, ":")+1:], n
		// SQS hands the policy back normalised, the count as a number.
		norm, _ := json.Marshal(struct {
			Target string `json:"deadLetterTargetArn"`
			Max    int    `json:"maxReceiveCount"`
		}{rp.Target, n})
		v = string(norm)
	}
	q.attrs[k] = v
	return nil
}

// Send enqueues a message body on the queue at url and returns its id.
func (s *SQS) Send(url, body string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(url)
	if err != nil {
		return "", err
	}
	return s.enqueue(q, body, 0).id, nil
}

func (s *SQS) enqueue(q *sqsQueue, body string, delay time.Duration) *sqsMessage {
	now := s.clock.Now()
	sum := md5.Sum([]byte(body)) //nolint:gosec // SQS's wire format mandates MD5OfMessageBody
	m := &sqsMessage{id: randomID(), body: body, md5: hex.EncodeToString(sum[:]), sent: now, visibleAt: now.Add(delay)}
	q.msgs = append(q.msgs, m)
	s.wakeLocked()
	return m
}

// State reports a message's state by id.
func (s *SQS) State(id string) (MessageState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	for _, q := range s.queues {
		for _, m := range q.msgs {
			if m.id == id {
				return MessageState{Queue: q.name, Receives: m.receives, InFlight: m.receives > 0 && m.visibleAt.After(now)}, true
			}
		}
	}
	for _, m := range s.handles {
		if m.id == id && m.deleted {
			return MessageState{Receives: m.receives, Deleted: true}, true
		}
	}
	return MessageState{}, false
}

// QueueCounts are a queue's message counts.
type QueueCounts struct {
	// Visible can be received now; InFlight were received and are invisible;
	// Delayed were sent with a delay that has not passed. Deleted counts
	// DeleteMessage calls that removed a message.
	Visible, InFlight, Delayed, Deleted int
}

// Counts returns the queue's counts by name.
func (s *SQS) Counts(name string) QueueCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[name]
	if q == nil {
		return QueueCounts{}
	}
	return q.counts(s.clock.Now())
}

func (q *sqsQueue) counts(now time.Time) QueueCounts {
	c := QueueCounts{Deleted: q.deleted}
	for _, m := range q.msgs {
		switch {
		case !m.visibleAt.After(now):
			c.Visible++
		case m.receives > 0:
			c.InFlight++
		default:
			c.Delayed++
		}
	}
	return c
}

// FailNext makes the next n calls of an operation ("DeleteMessage", ...)
// fail with a 500 InternalError, as a flaky network or service would.
func (s *SQS) FailNext(op string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[op] += n
}

// ReceiveVisibility returns the VisibilityTimeout each ReceiveMessage asked
// for, in seconds, oldest first; -1 for a request that did not set it.
func (s *SQS) ReceiveVisibility() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.received...)
}

// Calls returns how many times an operation was called.
func (s *SQS) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

func (s *SQS) wakeLocked() {
	close(s.wake)
	s.wake = make(chan struct{})
}

func (s *SQS) lookup(url string) (*sqsQueue, error) {
	name := url[strings.LastIndex(url, "/")+1:]
	if q, ok := s.queues[name]; ok && url != "" {
		return q, nil
	}
	return nil, &sqsError{"QueueDoesNotExist", "The specified queue does not exist."}
}

// sqsError is an SQS error reply.
type sqsError struct{ code, msg string }

func (e *sqsError) Error() string { return e.code + ": " + e.msg }

// queryCodes are the legacy query-protocol codes SQS sends in the
// x-amzn-query-error header next to the JSON error.
var queryCodes = map[string]string{
	"QueueDoesNotExist":      "AWS.SimpleQueueService.NonExistentQueue",
	"MessageNotInflight":     "AWS.SimpleQueueService.MessageNotInflight",
	"ReceiptHandleIsInvalid": "ReceiptHandleIsInvalid",
	"InvalidParameterValue":  "InvalidParameterValue",
	"InvalidAttributeValue":  "InvalidAttributeValue",
	"InvalidAttributeName":   "InvalidAttributeName",
	"UnsupportedOperation":   "AWS.SimpleQueueService.UnsupportedOperation",
	"InternalError":          "InternalError",
}

func writeSQSError(w http.ResponseWriter, err error) {
	var se *sqsError
	if !errors.As(err, &se) {
		se = &sqsError{"InternalError", err.Error()}
	}
	status, fault := http.StatusBadRequest, "Sender"
	if se.code == "InternalError" {
		status, fault = http.StatusInternalServerError, "Receiver"
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("x-amzn-query-error", queryCodes[se.code]+";"+fault)
	w.Header().Set("x-amzn-RequestId", randomID())
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.sqs#" + se.code, "message": se.msg})
}

// ServeHTTP answers one AWS JSON 1.0 request.
func (s *SQS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	var in sqsRequest
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeSQSError(w, &sqsError{"InvalidParameterValue", "malformed JSON body: " + err.Error()})
		return
	}
	s.mu.Lock()
	s.calls[op]++
	fail := s.faults[op] > 0
	if fail {
		s.faults[op]--
	}
	s.mu.Unlock()
	if fail {
		writeSQSError(w, &sqsError{"InternalError", "injected failure"})
		return
	}
	var out any
	var err error
	switch op {
	case "ReceiveMessage":
		out, err = s.receive(r, &in)
	case "SendMessage":
		out, err = s.sendMessage(&in)
	case "SendMessageBatch":
		out, err = s.sendBatch(&in)
	case "DeleteMessage":
		err = s.deleteMessage(in.QueueURL, in.ReceiptHandle)
		out = struct{}{}
	case "ChangeMessageVisibility":
		err = s.changeVisibility(in.QueueURL, in.ReceiptHandle, in.VisibilityTimeout)
		out = struct{}{}
	case "ChangeMessageVisibilityBatch":
		out, err = s.changeVisibilityBatch(&in)
	case "CreateQueue":
		var url string
		url, err = s.CreateQueue(in.QueueName, in.Attributes)
		out = map[string]string{"QueueUrl": url}
	case "GetQueueUrl":
		out, err = s.getQueueURL(in.QueueName)
	case "GetQueueAttributes":
		out, err = s.getAttributes(&in)
	default:
		err = &sqsError{"UnsupportedOperation", "awsfake does not implement " + op}
	}
	if err != nil {
		writeSQSError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("x-amzn-RequestId", randomID())
	_ = json.NewEncoder(w).Encode(out)
}

// sqsRequest is the union of the request members the fake reads.
type sqsRequest struct {
	QueueURL                    string            `json:"QueueUrl"`
	QueueName                   string            `json:"QueueName"`
	Attributes                  map[string]string `json:"Attributes"`
	AttributeNames              []string          `json:"AttributeNames"`
	MessageSystemAttributeNames []string          `json:"MessageSystemAttributeNames"`
	MaxNumberOfMessages         *int              `json:"MaxNumberOfMessages"`
	VisibilityTimeout           *int              `json:"VisibilityTimeout"`
	WaitTimeSeconds             *int              `json:"WaitTimeSeconds"`
	MessageBody                 string            `json:"MessageBody"`
	DelaySeconds                int               `json:"DelaySeconds"`
	ReceiptHandle               string            `json:"ReceiptHandle"`
	Entries                     []sqsEntry        `json:"Entries"`
}

type sqsEntry struct {
	ID                string `json:"Id"`
	MessageBody       string `json:"MessageBody"`
	DelaySeconds      int    `json:"DelaySeconds"`
	ReceiptHandle     string `json:"ReceiptHandle"`
	VisibilityTimeout int    `json:"VisibilityTimeout"`
}

type sqsMessageOut struct {
	MessageID     string            `json:"MessageId"`
	ReceiptHandle string            `json:"ReceiptHandle"`
	MD5OfBody     string            `json:"MD5OfBody"`
	Body          string            `json:"Body"`
	Attributes    map[string]string `json:"Attributes,omitempty"`
}

func (s *SQS) sendMessage(in *sqsRequest) (any, error) {
	if in.MessageBody == "" {
		return nil, &sqsError{"InvalidParameterValue", "The request must contain the parameter MessageBody."}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueURL)
	if err != nil {
		return nil, err
	}
	m := s.enqueue(q, in.MessageBody, time.Duration(in.DelaySeconds)*time.Second)
	return map[string]string{"MessageId": m.id, "MD5OfMessageBody": m.md5}, nil
}

func (s *SQS) sendBatch(in *sqsRequest) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueURL)
	if err != nil {
		return nil, err
	}
	if len(in.Entries) == 0 || len(in.Entries) > 10 {
		return nil, &sqsError{"InvalidParameterValue", "A batch holds 1 to 10 entries."}
	}
	ok := []map[string]string{}
	for _, e := range in.Entries {
		m := s.enqueue(q, e.MessageBody, time.Duration(e.DelaySeconds)*time.Second)
		ok = append(ok, map[string]string{"Id": e.ID, "MessageId": m.id, "MD5OfMessageBody": m.md5})
	}
	return map[string]any{"Successful": ok, "Failed": []any{}}, nil
}

func (s *SQS) getQueueURL(name string) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.queues[name]; !ok {
		return nil, &sqsError{"QueueDoesNotExist", "The specified queue does not exist."}
	}
	return map[string]string{"QueueUrl": s.queueURL(name)}, nil
}

func (s *SQS) getAttributes(in *sqsRequest) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueURL)
	if err != nil {
		return nil, err
	}
	c := q.counts(s.clock.Now())
	all := map[string]string{
		"QueueArn":                              queueARN(q.name),
		"VisibilityTimeout":                     strconv.Itoa(int(q.visibility / time.Second)),
		"ApproximateNumberOfMessages":           strconv.Itoa(c.Visible),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(c.InFlight),
		"ApproximateNumberOfMessagesDelayed":    strconv.Itoa(c.Delayed),
	}
	for k, v := range q.attrs {
		if _, ok := all[k]; !ok {
			all[k] = v
		}
	}
	out := map[string]string{}
	for _, n := range in.AttributeNames {
		switch {
		case n == "All":
			return map[string]any{"Attributes": all}, nil
		case !knownQueueAttrs[n]:
			return nil, &sqsError{"InvalidAttributeName", "Unknown Attribute " + n + "."}
		}
		if v, ok := all[n]; ok { // an attribute never set (RedrivePolicy) is left out
			out[n] = v
		}
	}
	return map[string]any{"Attributes": out}, nil
}

// knownQueueAttrs are the queue attribute names SQS accepts in
// GetQueueAttributes (QueueAttributeName).
var knownQueueAttrs = map[string]bool{
	"Policy": true, "VisibilityTimeout": true, "MaximumMessageSize": true, "MessageRetentionPeriod": true,
	"ApproximateNumberOfMessages": true, "ApproximateNumberOfMessagesNotVisible": true, "CreatedTimestamp": true,
	"LastModifiedTimestamp": true, "QueueArn": true, "ApproximateNumberOfMessagesDelayed": true,
	"DelaySeconds": true, "ReceiveMessageWaitTimeSeconds": true, "RedrivePolicy": true, "FifoQueue": true,
	"ContentBasedDeduplication": true, "KmsMasterKeyId": true, "KmsDataKeyReusePeriodSeconds": true,
	"DeduplicationScope": true, "FifoThroughputLimit": true, "RedriveAllowPolicy": true, "SqsManagedSseEnabled": true,
}
