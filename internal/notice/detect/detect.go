// Package detect decides which cloud a node runs on, for `lifeboat agent
// --platform auto`: from the Node's spec.providerID when it names a cloud
// (authoritative; a failing API is asked again for a while), else by
// probing the metadata services once per round, in parallel, for a few
// rounds. It knows every platform that has a notice source.
package detect

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

// The platforms, as --platform spells them.
const (
	AWS          = "aws"
	Azure        = "azure"
	GCP          = "gcp"
	Alibaba      = "alibaba"
	Tencent      = "tencent"
	DigitalOcean = "digitalocean"
	// None: no cloud detected; only host shutdown is acted on.
	None = "none"
)

// Platforms lists every cloud platform, in probe priority order.
var Platforms = []string{AWS, Azure, GCP, Alibaba, Tencent, DigitalOcean}

// providerPrefixes maps spec.providerID prefixes to platforms.
var providerPrefixes = []struct{ prefix, platform string }{
	{"aws://", AWS},
	{"azure://", Azure},
	{"gce://", GCP},
	{"alicloud://", Alibaba},
	{"tencentcloud://", Tencent},
	{"qcloud://", Tencent},
	{"digitalocean://", DigitalOcean},
}

// FromProviderID maps a Node's spec.providerID to a platform, "" when it
// names none.
func FromProviderID(pid string) string {
	for _, p := range providerPrefixes {
		if strings.HasPrefix(pid, p.prefix) {
			return p.platform
		}
	}
	return ""
}

// Defaults for Config fields left zero.
const (
	DefaultAPIWait      = 30 * time.Second
	DefaultProbeRounds  = 3
	DefaultProbeTimeout = 700 * time.Millisecond
	DefaultProbePause   = time.Second
)

// Config configures Detect.
type Config struct {
	// ProviderID reads the Node's spec.providerID ("" for a missing Node);
	// an error means the API could not be asked and is retried.
	ProviderID func(ctx context.Context) (string, error)
	// MetadataURL, if set, is the base URL every probe goes to (an
	// emulator); else each platform's own metadata address.
	MetadataURL string
	// Node names the node in logs.
	Node string
	// Log receives the outcome (slog.Default if nil).
	Log *slog.Logger
	// APIWait bounds the retries of ProviderID (DefaultAPIWait if zero).
	APIWait time.Duration
	// RetryDelay is the wait before ProviderID attempt n+1 (one second if nil).
	RetryDelay func(attempt int) time.Duration
	// ProbeRounds, ProbeTimeout and ProbePause pace the metadata probes.
	ProbeRounds  int
	ProbeTimeout time.Duration
	ProbePause   time.Duration
}

func (c *Config) defaults() {
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.APIWait == 0 {
		c.APIWait = DefaultAPIWait
	}
	if c.RetryDelay == nil {
		c.RetryDelay = func(int) time.Duration { return time.Second }
	}
	if c.ProbeRounds == 0 {
		c.ProbeRounds = DefaultProbeRounds
	}
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = DefaultProbeTimeout
	}
	if c.ProbePause == 0 {
		c.ProbePause = DefaultProbePause
	}
}

// Detect returns the platform (one of Platforms) or None, which is logged
// as a warning: the agent then only reacts to host shutdown.
func Detect(ctx context.Context, c Config) string {
	c.defaults()
	pid := providerID(ctx, c)
	if p := FromProviderID(pid); p != "" {
		c.Log.Info("platform detected", logging.KeyNode, c.Node, "platform", p, "providerID", pid)
		return p
	}
	for round := 1; round <= c.ProbeRounds && ctx.Err() == nil; round++ {
		if found := Probe(ctx, c.MetadataURL, c.ProbeTimeout); found != None {
			c.Log.Info("platform detected", logging.KeyNode, c.Node, "platform", found, "providerID", pid, "probe", round)
			return found
		}
		if round < c.ProbeRounds && sleep(ctx, c.ProbePause) != nil {
			break
		}
	}
	c.Log.Warn("no cloud platform detected: only host shutdown will be acted on (set --platform to be sure)",
		logging.KeyNode, c.Node, "platform", None, "providerID", pid)
	return None
}

// providerID asks for the providerID while the API fails, up to APIWait.
func providerID(ctx context.Context, c Config) string {
	if c.ProviderID == nil {
		return ""
	}
	for start, attempt := time.Now(), 1; ; attempt++ {
		pid, err := c.ProviderID(ctx)
		if err == nil {
			return pid
		}
		if ctx.Err() != nil || time.Since(start) > c.APIWait {
			c.Log.Warn("cannot read the Node's providerID; probing metadata services", logging.KeyNode, c.Node, "err", err)
			return ""
		}
		c.Log.Warn("cannot read the Node's providerID; retrying", logging.KeyNode, c.Node, "attempt", attempt, "err", err)
		if sleep(ctx, c.RetryDelay(attempt)) != nil {
			return ""
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// probe is one platform's metadata request: it answers 200 only there.
type probe struct {
	base   string // default base URL
	method string
	path   string
	header [2]string
}

// probes are requests only one platform answers with 200, also when they
// all go to one emulator address: AWS and Alibaba both serve
// PUT /latest/api/token but each needs its own TTL header (400 otherwise).
var probes = map[string]probe{
	AWS:          {"http://169.254.169.254", http.MethodPut, "/latest/api/token", [2]string{"X-aws-ec2-metadata-token-ttl-seconds", "60"}},
	Azure:        {"http://169.254.169.254", http.MethodGet, "/metadata/instance/compute?api-version=2021-02-01", [2]string{"Metadata", "true"}},
	GCP:          {"http://169.254.169.254", http.MethodGet, "/computeMetadata/v1/instance/id", [2]string{"Metadata-Flavor", "Google"}},
	Alibaba:      {"http://100.100.100.200", http.MethodPut, "/latest/api/token", [2]string{"X-aliyun-ecs-metadata-token-ttl-seconds", "60"}},
	Tencent:      {"http://metadata.tencentyun.com", http.MethodGet, "/latest/meta-data/placement/zone", [2]string{}},
	DigitalOcean: {"http://169.254.169.254", http.MethodGet, "/metadata/v1/id", [2]string{}},
}

// Probe asks every platform's metadata service once, in parallel, and
// returns the first platform of Platforms that answered 200, or None.
// metadataURL, if set, replaces every default base URL.
func Probe(ctx context.Context, metadataURL string, timeout time.Duration) string {
	hc := &http.Client{
		Timeout:       timeout,
		Transport:     &http.Transport{Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer hc.CloseIdleConnections()
	var mu sync.Mutex
	var found []string
	var wg sync.WaitGroup
	for name, p := range probes {
		base := strings.TrimRight(metadataURL, "/")
		if base == "" {
			base = p.base
		}
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, p.method, base+p.path, nil)
			if err != nil {
				return
			}
			if p.header[0] != "" {
				req.Header.Set(p.header[0], p.header[1])
			}
			resp, err := hc.Do(req)
			if err != nil {
				return
			}
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				mu.Lock()
				found = append(found, name)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, p := range Platforms {
		if slices.Contains(found, p) {
			return p
		}
	}
	return None
}
