//go:build linux

package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	emugcp "github.com/lifeboat-dev/lifeboat/internal/emulate/gcp"
	emutencent "github.com/lifeboat-dev/lifeboat/internal/emulate/tencent"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
	"github.com/lifeboat-dev/lifeboat/internal/testbed/faultproxy"
)

// TestDetectPlatformRetriesTheAPI: the providerID is authoritative, so an API
// that fails at start is asked again rather than falling back to "none"
// (review A5).
func TestDetectPlatformRetriesTheAPI(t *testing.T) {
	c := testbed.Get(t)
	node := testbed.UniqueName("detect")
	c.AddNode(t, node, func(n *corev1.Node) {
		n.Spec.ProviderID = "azure:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-1"
	})
	proxy := faultproxy.New(t, c.Config)
	rule := proxy.Inject(faultproxy.Rule{Match: faultproxy.Match{Method: http.MethodGet, Path: "^/api/v1/nodes/" + node + "$"}, Status: 503, Times: 2})
	client, err := kubernetes.NewForConfig(proxy.Config())
	if err != nil {
		t.Fatal(err)
	}
	// No metadata service answers: only the providerID can tell.
	if got := detectPlatform(context.Background(), client, node, "http://127.0.0.1:1", logging.Discard()); got != "azure" {
		t.Errorf("platform = %q, want azure from the providerID once the API answers", got)
	}
	if rule.Hits() != 2 {
		t.Errorf("the failing node GET was hit %d times, want 2", rule.Hits())
	}
}

// TestDetectPlatformProbesMetadata: without a providerID the metadata
// services are probed; with none answering the result is "none".
func TestDetectPlatformProbesMetadata(t *testing.T) {
	c := testbed.Get(t)
	node := testbed.UniqueName("detect")
	c.AddNode(t, node)
	srv := httptest.NewServer(emugcp.New(emugcp.Options{Log: logging.Discard()}))
	t.Cleanup(srv.Close)
	if got := detectPlatform(context.Background(), c.Client, node, srv.URL, logging.Discard()); got != "gcp" {
		t.Errorf("platform = %q, want gcp from the metadata probe", got)
	}
	tc := httptest.NewServer(emutencent.New(emutencent.Options{Log: logging.Discard()}))
	t.Cleanup(tc.Close)
	if got := detectPlatform(context.Background(), c.Client, node, tc.URL, logging.Discard()); got != "tencent" {
		t.Errorf("platform = %q, want tencent from the metadata probe", got)
	}
	if got := detectPlatform(context.Background(), c.Client, node, "http://127.0.0.1:1", logging.Discard()); got != "none" {
		t.Errorf("platform = %q with no metadata service, want none", got)
	}
}
