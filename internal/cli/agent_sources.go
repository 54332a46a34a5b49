package cli

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
	awsnotice "github.com/lifeboat-dev/lifeboat/internal/notice/aws"
	azurenotice "github.com/lifeboat-dev/lifeboat/internal/notice/azure"
	gcpnotice "github.com/lifeboat-dev/lifeboat/internal/notice/gcp"
)

// sources builds the notice sources for the platform.
func (o *AgentOptions) sources(ctx context.Context, client kubernetes.Interface, platform string, rep *reporters, g *Globals) ([]notice.Source, error) {
	onError := func(source string) func(string) {
		return func(reason string) { rep.metrics.NoticeError(source, reason) }
	}
	switch platform {
	case "aws":
		s, err := awsnotice.New(awsnotice.Config{
			Endpoint: o.MetadataURL, AllowIMDSv1: o.AWSAllowIMDSv1, NodeName: o.Node, Log: g.Log, OnError: onError("aws"),
		})
		if err != nil {
			return nil, err
		}
		return []notice.Source{s}, nil
	case "azure":
		s, err := azurenotice.New(azurenotice.Config{
			MetadataURL: o.MetadataURL, VMName: o.AzureVMName, ProviderID: providerID(ctx, client, o.Node),
			Node: o.Node, Log: g.Log, OnError: onError("azure"),
		})
		if err != nil {
			return nil, err
		}
		return []notice.Source{s}, nil
	case "gcp":
		s, err := gcpnotice.New(gcpnotice.Config{
			MetadataURL: o.MetadataURL, Node: o.Node, PreemptionNotice: o.GCPPreemptionWindow, Log: g.Log, OnError: onError("gcp"),
		})
		if err != nil {
			return nil, err
		}
		return []notice.Source{s}, nil
	default:
		return nil, nil // host shutdown only
	}
}

func providerID(ctx context.Context, client kubernetes.Interface, node string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	return n.Spec.ProviderID
}

// detectPlatform reads the Node's providerID (aws://, azure://, gce://)
// and, failing that, probes the metadata services (in parallel, briefly).
func detectPlatform(ctx context.Context, client kubernetes.Interface, node, metadataURL string, log *slog.Logger) string {
	pid := providerID(ctx, client, node)
	switch {
	case strings.HasPrefix(pid, "aws://"):
		return "aws"
	case strings.HasPrefix(pid, "azure://"):
		return "azure"
	case strings.HasPrefix(pid, "gce://"):
		return "gcp"
	}
	base := strings.TrimRight(metadataURL, "/")
	if base == "" {
		base = "http://169.254.169.254"
	}
	probes := map[string]func() *http.Request{
		"aws": func() *http.Request {
			r, _ := http.NewRequestWithContext(ctx, http.MethodPut, base+"/latest/api/token", nil)
			r.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "60")
			return r
		},
		"azure": func() *http.Request {
			r, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metadata/instance?api-version=2021-02-01", nil)
			r.Header.Set("Metadata", "true")
			return r
		},
		"gcp": func() *http.Request {
			r, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/computeMetadata/v1/instance/id", nil)
			r.Header.Set("Metadata-Flavor", "Google")
			return r
		},
	}
	hc := &http.Client{Timeout: 700 * time.Millisecond, Transport: &http.Transport{Proxy: nil}}
	var mu sync.Mutex
	found := "none"
	var wg sync.WaitGroup
	for name, req := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := hc.Do(req())
			if err != nil {
				return
			}
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				mu.Lock()
				found = name
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	log.Info("platform detected", "node", node, "platform", found, "providerID", pid)
	return found
}
