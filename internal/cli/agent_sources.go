package cli

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/lifeboat-dev/lifeboat/internal/agent"
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
		pid, _ := providerID(ctx, client, o.Node)
		s, err := azurenotice.New(azurenotice.Config{
			MetadataURL: o.MetadataURL, VMName: o.AzureVMName, ProviderID: pid,
			Node: o.Node, Log: g.Log, OnError: onError("azure"), PeersHandled: agent.AzurePeersHandled(client),
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

// providerID reads the Node's spec.providerID; an error means the API
// could not be asked (a missing Node reads as "").
func providerID(ctx context.Context, client kubernetes.Interface, node string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return n.Spec.ProviderID, nil
}

// platformOf maps a providerID to a platform, "" when it names none.
func platformOf(pid string) string {
	switch {
	case strings.HasPrefix(pid, "aws://"):
		return "aws"
	case strings.HasPrefix(pid, "azure://"):
		return "azure"
	case strings.HasPrefix(pid, "gce://"):
		return "gcp"
	}
	return ""
}

// Platform detection pacing: the providerID is authoritative, so an API
// that does not answer is asked again (up to detectAPIWait); the metadata
// probes get detectProbeRounds tries, because a metadata service can be
// slow to answer right after boot.
const (
	detectAPIWait     = 30 * time.Second
	detectProbeRounds = 3
)

// detectPlatform reads the Node's providerID (aws://, azure://, gce://),
// asking again while the API fails, and, failing that, probes the metadata
// services (in parallel, a few rounds). "none" is logged as a warning: the
// agent then only reacts to host shutdown.
func detectPlatform(ctx context.Context, client kubernetes.Interface, node, metadataURL string, log *slog.Logger) string {
	var pid string
	for start, attempt := time.Now(), 1; ; attempt++ {
		var err error
		if pid, err = providerID(ctx, client, node); err == nil || ctx.Err() != nil || time.Since(start) > detectAPIWait {
			if err != nil {
				log.Warn("cannot read the Node's providerID; probing metadata services", "node", node, "err", err)
			}
			break
		}
		log.Warn("cannot read the Node's providerID; retrying", "node", node, "attempt", attempt, "err", err)
		if sleepCtx(ctx, agent.RetryDelay(attempt)) != nil {
			break
		}
	}
	if p := platformOf(pid); p != "" {
		log.Info("platform detected", "node", node, "platform", p, "providerID", pid)
		return p
	}
	for round := 1; round <= detectProbeRounds && ctx.Err() == nil; round++ {
		if found := probeMetadata(ctx, metadataURL); found != "none" {
			log.Info("platform detected", "node", node, "platform", found, "providerID", pid, "probe", round)
			return found
		}
		if round < detectProbeRounds && sleepCtx(ctx, time.Second) != nil {
			break
		}
	}
	log.Warn("no cloud platform detected: only host shutdown will be acted on (set --platform to be sure)",
		"node", node, "platform", "none", "providerID", pid)
	return "none"
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// probeMetadata asks every known metadata service once, in parallel.
func probeMetadata(ctx context.Context, metadataURL string) string {
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
	return found
}
