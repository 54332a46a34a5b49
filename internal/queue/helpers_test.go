//go:build linux

package queue

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/awsfake"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/kube/clientset"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/metrics"
	"github.com/lifeboat-dev/lifeboat/internal/queue/nodeindex"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

var instanceSeq atomic.Int64

func newInstanceID() string { return fmt.Sprintf("i-%017x", 0xabc0000+instanceSeq.Add(1)) }

// env is a test cluster plus local AWS APIs and one queue.
type env struct {
	// client, if set, is what replicas use instead of the admin test client
	// (the benchmark uses lifeboat's production rate limits).
	client   kubernetes.Interface
	c        *testbed.Cluster
	fake     *awsfake.Server
	aws      aws.Config
	queueURL string
	queue    string
}

func newEnv(t testing.TB, queueAttrs map[string]string) *env {
	t.Helper()
	return newEnvOn(t, testbed.Get(t), queueAttrs)
}

// newEnvOn is newEnv on the given cluster.
func newEnvOn(t testing.TB, c *testbed.Cluster, queueAttrs map[string]string) *env {
	t.Helper()
	fake := awsfake.New(nil)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	fake.SetBaseURL(srv.URL)
	name := testbed.UniqueName("q")
	url, err := fake.SQS.CreateQueue(name, queueAttrs)
	if err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
	}
	return &env{c: c, fake: fake, aws: cfg, queueURL: url, queue: name}
}

// node adds a kwok node whose providerID names a new instance.
func (e *env) node(t testing.TB, mutate ...func(*corev1.Node)) (*corev1.Node, string) {
	t.Helper()
	id := newInstanceID()
	n := e.c.AddNode(t, testbed.UniqueName("qn"), append([]func(*corev1.Node){func(n *corev1.Node) {
		n.Spec.ProviderID = nodeindex.ProviderID("us-east-1a", id)
	}}, mutate...)...)
	return n, id
}

// pod puts a bare pod on node and waits until it runs.
func (e *env) pod(t testing.TB, ns, node string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	t.Helper()
	p := testbed.Pod(ns, testbed.UniqueName("p"), node, mutate...)
	if _, err := e.c.Client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.c.Eventually(t, 60*time.Second, func() (bool, error) {
		got, err := e.c.Client.CoreV1().Pods(ns).Get(context.Background(), p.Name, metav1.GetOptions{})
		return err == nil && testbed.PodReady(got), nil
	})
	return p
}

func (e *env) send(t testing.TB, body []byte) string {
	t.Helper()
	id, err := e.fake.SQS.Send(e.queueURL, string(body))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// waitDeleted waits until the message was deleted from the queue.
func (e *env) waitDeleted(t testing.TB, id string, timeout time.Duration) {
	t.Helper()
	testbed.Eventually(t, timeout, func() (bool, error) {
		st, _ := e.fake.SQS.State(id)
		return st.Deleted, nil
	})
}

func (e *env) getNode(t testing.TB, name string) *corev1.Node {
	t.Helper()
	n, err := e.c.Client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// countingDrainer wraps the real engine and records drains per node, the
// highest number running at once on one node, and in total.
type countingDrainer struct {
	Drainer
	mu      sync.Mutex
	drains  map[string]int
	running map[string]int
	maxPer  int
	order   []string // nodes in the order their drains started
	// block, when set, makes Drain wait for the context to end first
	// (a replica that dies mid-drain).
	block atomic.Bool
}

func newCountingDrainer(d Drainer) *countingDrainer {
	return &countingDrainer{Drainer: d, drains: map[string]int{}, running: map[string]int{}}
}

func (c *countingDrainer) Drain(ctx context.Context, node string, o drain.Options) (*drain.Result, error) {
	c.mu.Lock()
	c.drains[node]++
	c.order = append(c.order, node)
	c.running[node]++
	c.maxPer = max(c.maxPer, c.running[node])
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running[node]--
		c.mu.Unlock()
	}()
	if c.block.Load() {
		<-ctx.Done()
		return &drain.Result{Node: node}, ctx.Err()
	}
	return c.Drainer.Drain(ctx, node, o)
}

func (c *countingDrainer) count(node string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.drains[node]
}

// started returns the nodes in the order their drains started.
func (c *countingDrainer) started() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.order...)
}

// replica is one consumer (with its own node index) in a test.
type replica struct {
	consumer *Consumer
	drainer  *countingDrainer
	stats    *Stats
	metrics  *metrics.Metrics // what stats report to, as in production
	index    *nodeindex.Index
}

type replicaOption func(*Consumer)

func (e *env) replica(t testing.TB, shared *countingDrainer, opts ...replicaOption) *replica {
	t.Helper()
	client := e.client
	if client == nil {
		client = e.c.Client
	}
	ix, err := nodeindex.New(client, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); ix.Shutdown() })
	if err := ix.Start(ctx); err != nil {
		t.Fatal(err)
	}
	d := shared
	if d == nil {
		d = newCountingDrainer(drain.New(clientset.Wrap(client), drain.Config{Log: logging.Discard()}))
	}
	m := metrics.New("test")
	qm, err := metrics.NewQueue(m)
	if err != nil {
		t.Fatal(err)
	}
	stats := NewStats(qm)
	pol := DefaultPolicy()
	pol.HeartbeatInterval = 500 * time.Millisecond
	pol.MaxAttempts = 0
	cfg := DefaultConfig()
	cfg.QueueURL, cfg.VisibilityTimeout, cfg.WaitTime = e.queueURL, 3*time.Second, time.Second
	c := &Consumer{
		SQS: sqs.NewFromConfig(e.aws), Config: cfg, Clock: clock.RealClock{}, Log: testLog(t), Stats: stats,
		Processor: &Processor{
			Client: clientset.Wrap(client), Nodes: ix, Drainer: d, AutoScaling: autoscaling.NewFromConfig(e.aws),
			EC2: ec2.NewFromConfig(e.aws), Policy: pol, Clock: clock.RealClock{}, Log: testLog(t), Stats: stats,
		},
	}
	for _, o := range opts {
		o(c)
	}
	return &replica{consumer: c, drainer: d, stats: stats, metrics: m, index: ix}
}

// start runs the consumer until the returned stop is called (or the test ends).
func (r *replica) start(t testing.TB) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.consumer.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// testLog logs to stderr when LIFEBOAT_TEST_LOG is set, else nowhere.
func testLog(t testing.TB) *slog.Logger {
	t.Helper()
	if os.Getenv("LIFEBOAT_TEST_LOG") == "" {
		return logging.Discard()
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}
