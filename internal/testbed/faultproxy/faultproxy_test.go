//go:build linux

package faultproxy_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/lifeboat-dev/lifeboat/internal/testbed"
	"github.com/lifeboat-dev/lifeboat/internal/testbed/faultproxy"
)

func TestMain(m *testing.M) { testbed.Main(m) }

// setup returns the shared cluster, a proxy in front of it, a client through
// the proxy and a bare Node (no kubelet) to read.
func setup(t *testing.T) (*testbed.Cluster, *faultproxy.Proxy, kubernetes.Interface, string) {
	t.Helper()
	c := testbed.Get(t)
	p := faultproxy.New(t, c.Config)
	client, err := kubernetes.NewForConfig(p.Config())
	if err != nil {
		t.Fatal(err)
	}
	name := testbed.UniqueName("fp")
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.Client.CoreV1().Nodes().Create(context.Background(), node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	return c, p, client, name
}

func nodeGET(name string) faultproxy.Match {
	return faultproxy.Match{Method: http.MethodGet, Path: "^/api/v1/nodes/" + name + "$"}
}

// TestStatusRulesAreClassifiedLikeTheServers: each injected status reaches
// client-go as the API server's own would, for the first Times requests only.
func TestStatusRulesAreClassifiedLikeTheServers(t *testing.T) {
	_, p, client, node := setup(t)
	ctx := context.Background()
	for _, tc := range []struct {
		code int
		is   func(error) bool
	}{
		{http.StatusServiceUnavailable, apierrors.IsServiceUnavailable},
		{http.StatusInternalServerError, apierrors.IsInternalError},
		{http.StatusConflict, apierrors.IsConflict},
		{http.StatusTooManyRequests, apierrors.IsTooManyRequests},
		{http.StatusGatewayTimeout, apierrors.IsTimeout},
		{http.StatusForbidden, apierrors.IsForbidden},
		{http.StatusNotFound, apierrors.IsNotFound},
		{http.StatusGone, apierrors.IsResourceExpired},
	} {
		t.Run(http.StatusText(tc.code), func(t *testing.T) {
			p.Clear()
			rule := p.Inject(faultproxy.Rule{Match: nodeGET(node), Status: tc.code, Times: 2})
			for i := range 2 {
				_, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
				if !tc.is(err) {
					t.Fatalf("GET %d: error %v (reason %q), want the %d classification", i+1, err, apierrors.ReasonForError(err), tc.code)
				}
				var status apierrors.APIStatus
				if !errors.As(err, &status) || int(status.Status().Code) != tc.code {
					t.Fatalf("GET %d: %v is not an API status with code %d", i+1, err, tc.code)
				}
			}
			if _, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); err != nil {
				t.Fatalf("third GET: %v, want it forwarded", err)
			}
			if got := rule.Hits(); got != 2 {
				t.Errorf("rule hits = %d, want 2", got)
			}
		})
	}
}

// TestRetryAfter: a 429 with Retry-After is visible to a caller that does not
// retry, and client-go's default client waits it out and retries by itself.
func TestRetryAfter(t *testing.T) {
	_, p, client, node := setup(t)
	ctx := context.Background()
	rule := p.Inject(faultproxy.Rule{Match: nodeGET(node), Status: http.StatusTooManyRequests, RetryAfter: "1", Times: 1})
	err := client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", node).MaxRetries(0).Do(ctx).Error()
	if !apierrors.IsTooManyRequests(err) {
		t.Fatalf("error %v, want TooManyRequests", err)
	}
	if secs, ok := apierrors.SuggestsClientDelay(err); !ok || secs != 1 {
		t.Fatalf("SuggestsClientDelay = %d, %v; want 1 s", secs, ok)
	}

	p.Inject(faultproxy.Rule{Match: nodeGET(node), Status: http.StatusServiceUnavailable, RetryAfter: "1", Times: 2})
	start := time.Now()
	if _, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); err != nil {
		t.Fatalf("GET with client-go's retries: %v", err)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("two 503s with Retry-After: 1 were retried within %s; client-go did not wait", took)
	}
	if got := p.Count(nodeGET(node)); got != 4 {
		t.Errorf("proxy saw %d GETs of the node, want 4 (1 + 2 refused + 1 forwarded)", got)
	}
	if rule.Hits() != 1 {
		t.Errorf("the 429 rule acted %d times, want 1", rule.Hits())
	}
}

// TestDropIsATransportError: a dropped connection is not an API status.
func TestDropIsATransportError(t *testing.T) {
	_, p, client, node := setup(t)
	ctx := context.Background()
	p.Inject(faultproxy.Rule{Match: faultproxy.Match{Method: http.MethodPatch, Path: "^/api/v1/nodes/" + node + "$"}, Drop: true, Times: 1})
	patch := []byte(`{"metadata":{"labels":{"dropped":"no"}}}`)
	_, err := client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{})
	if err == nil {
		t.Fatal("PATCH through a dropped connection succeeded")
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		t.Fatalf("dropped connection gave an API status %v, want a transport error", status.Status())
	}
	if _, err := client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("second PATCH: %v", err)
	}
}

// TestStallDelaysThenForwardsOrAnswers: a stall holds the request, then
// forwards it, or answers with the rule's status when one is set.
func TestStallDelaysThenForwardsOrAnswers(t *testing.T) {
	_, p, client, node := setup(t)
	ctx := context.Background()
	p.Inject(faultproxy.Rule{Match: nodeGET(node), Stall: time.Second, Times: 1})
	p.Inject(faultproxy.Rule{Match: nodeGET(node), Stall: time.Second, Status: http.StatusGatewayTimeout, Times: 1})
	start := time.Now()
	if _, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); err != nil {
		t.Fatalf("stalled GET: %v", err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("stalled GET answered after %s, want ≥ 1 s", took)
	}
	start = time.Now()
	if _, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); !apierrors.IsTimeout(err) {
		t.Fatalf("stalled 504: %v, want Timeout", err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("stalled 504 answered after %s, want ≥ 1 s", took)
	}
	// A caller that gives up ends the stall.
	p.Inject(faultproxy.Rule{Match: nodeGET(node), Stall: time.Hour})
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := client.CoreV1().Nodes().Get(short, node, metav1.GetOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GET stalled past its context: %v, want context.DeadlineExceeded", err)
	}
}

// TestTimeWindow: a rule acts only inside [From, Until).
func TestTimeWindow(t *testing.T) {
	_, p, client, node := setup(t)
	ctx := context.Background()
	now := time.Now()
	future := p.Inject(faultproxy.Rule{Match: nodeGET(node), Status: http.StatusServiceUnavailable, From: now.Add(time.Hour)})
	past := p.Inject(faultproxy.Rule{Match: nodeGET(node), Status: http.StatusServiceUnavailable, Until: now.Add(-time.Second)})
	if _, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); err != nil {
		t.Fatalf("GET outside every window: %v", err)
	}
	open := p.Inject(faultproxy.Rule{Match: nodeGET(node), Status: http.StatusServiceUnavailable, From: now.Add(-time.Second), Until: now.Add(time.Hour)})
	if _, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("GET inside the window: %v, want ServiceUnavailable", err)
	}
	if future.Hits() != 0 || past.Hits() != 0 || open.Hits() != 1 {
		t.Errorf("hits future=%d past=%d open=%d, want 0 0 1", future.Hits(), past.Hits(), open.Hits())
	}
}

// TestWatchStreamsThroughTheProxy: a watch opened through the proxy receives
// events as they happen, and Count sees the watch request.
func TestWatchStreamsThroughTheProxy(t *testing.T) {
	c, p, client, node := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w, err := client.CoreV1().Nodes().Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", node).String()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if got := p.Count(faultproxy.Match{Method: http.MethodGet, Path: "^/api/v1/nodes$", Query: "watch=true"}); got != 1 {
		t.Errorf("Count(watch) = %d, want 1", got)
	}
	for i, value := range []string{"a", "b"} {
		patch := []byte(`{"metadata":{"labels":{"step":"` + value + `"}}}`)
		if _, err := c.Client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		waitLabel(ctx, t, w, value, i)
	}
}

func waitLabel(ctx context.Context, t *testing.T, w watch.Interface, value string, step int) {
	t.Helper()
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("step %d: watch closed", step)
			}
			n, isNode := ev.Object.(*corev1.Node)
			if ev.Type == watch.Modified && isNode && n.Labels["step"] == value {
				return
			}
		case <-ctx.Done():
			t.Fatalf("step %d: no watch event with label %q", step, value)
		}
	}
}

// TestKubeconfig: the written kubeconfig reaches the API server through the
// proxy.
func TestKubeconfig(t *testing.T) {
	_, p, _, node := setup(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", p.Kubeconfig(t))
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{}); err != nil {
		t.Fatalf("GET through the kubeconfig: %v", err)
	}
	if p.Count(nodeGET(node)) != 1 {
		t.Errorf("the proxy did not see the kubeconfig client's GET")
	}
}
