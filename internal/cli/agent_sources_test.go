//go:build linux

package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	emugcp "github.com/lifeboat-dev/lifeboat/internal/emulate/gcp"
	emutencent "github.com/lifeboat-dev/lifeboat/internal/emulate/tencent"
	"github.com/lifeboat-dev/lifeboat/internal/kube/clientset"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
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
	if got := detectPlatform(context.Background(), clientset.Wrap(client), node, "http://127.0.0.1:1", logging.Discard()); got != "azure" {
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
	if got := detectPlatform(context.Background(), c.API, node, srv.URL, logging.Discard()); got != "gcp" {
		t.Errorf("platform = %q, want gcp from the metadata probe", got)
	}
	tc := httptest.NewServer(emutencent.New(emutencent.Options{Log: logging.Discard()}))
	t.Cleanup(tc.Close)
	if got := detectPlatform(context.Background(), c.API, node, tc.URL, logging.Discard()); got != "tencent" {
		t.Errorf("platform = %q, want tencent from the metadata probe", got)
	}
	if got := detectPlatform(context.Background(), c.API, node, "http://127.0.0.1:1", logging.Discard()); got != "none" {
		t.Errorf("platform = %q with no metadata service, want none", got)
	}
}

// --detach-from-asg wraps the AWS source (keeping its name and readiness)
// and fails at start, naming the flag, when no AWS region is configured.
func TestDetachFromASGWrapsTheAWSSource(t *testing.T) {
	o := NewAgentOptions()
	o.Node, o.MetadataURL, o.DetachFromASG = "n1", "http://127.0.0.1:1", true
	g := &Globals{Log: logging.Discard()}
	noErr := func(string) func(string) { return func(string) {} }
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	if _, err := o.platformSource(context.Background(), nil, "aws", g, noErr); err == nil || !strings.Contains(err.Error(), "--detach-from-asg") {
		t.Fatalf("without a region: %v, want an error naming --detach-from-asg", err)
	}
	t.Setenv("AWS_REGION", "eu-west-1")
	s, err := o.platformSource(context.Background(), nil, "aws", g, noErr)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(notice.Readier); !ok || s.Name() != "aws" {
		t.Errorf("source %T named %q: want the AWS source, wrapped, still a Readier", s, s.Name())
	}
}

// TestGCPercent: the agent sets its own GC target unless GOGC is set, so
// an operator's GOGC (even "off" or the default 100) is never overridden.
func TestGCPercent(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	if p, ok := gcPercent(env(nil)); !ok || p != agentGCPercent {
		t.Errorf("without GOGC: %d, %v; want %d, true", p, ok, agentGCPercent)
	}
	for _, v := range []string{"100", "off", ""} {
		if p, ok := gcPercent(env(map[string]string{"GOGC": v})); ok {
			t.Errorf("GOGC=%q: the agent would set %d", v, p)
		}
	}
}
