package detect_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	emualibaba "github.com/lifeboat-dev/lifeboat/internal/emulate/alibaba"
	emuaws "github.com/lifeboat-dev/lifeboat/internal/emulate/aws"
	emuazure "github.com/lifeboat-dev/lifeboat/internal/emulate/azure"
	emudo "github.com/lifeboat-dev/lifeboat/internal/emulate/digitalocean"
	emugcp "github.com/lifeboat-dev/lifeboat/internal/emulate/gcp"
	emutencent "github.com/lifeboat-dev/lifeboat/internal/emulate/tencent"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice/detect"
)

func TestFromProviderID(t *testing.T) {
	for pid, want := range map[string]string{
		"aws:///eu-west-1a/i-0abc":                 detect.AWS,
		"azure:///subscriptions/s/resourceGroups/": detect.Azure,
		"gce://project/us-central1-a/vm":           detect.GCP,
		"alicloud://cn-hangzhou.i-bp67acfmxazb4p":  detect.Alibaba,
		"tencentcloud://ins-abc":                   detect.Tencent,
		"qcloud:///800002/ins-abc":                 detect.Tencent,
		"digitalocean://3164494":                   detect.DigitalOcean,
		"kind://docker/kind/kind-worker":           "",
		"":                                         "",
	} {
		if got := detect.FromProviderID(pid); got != want {
			t.Errorf("FromProviderID(%q) = %q, want %q", pid, got, want)
		}
	}
}

// Each emulator is told apart from the others at the same address.
func TestProbeTellsTheEmulatorsApart(t *testing.T) {
	for want, h := range map[string]http.Handler{
		detect.AWS:          emuaws.New(emuaws.Options{Log: logging.Discard()}),
		detect.Azure:        emuazure.New(emuazure.Options{Log: logging.Discard()}),
		detect.GCP:          emugcp.New(emugcp.Options{Log: logging.Discard()}),
		detect.Alibaba:      emualibaba.New(emualibaba.Options{Log: logging.Discard()}),
		detect.Tencent:      emutencent.New(emutencent.Options{Log: logging.Discard()}),
		detect.DigitalOcean: emudo.New(emudo.Options{Log: logging.Discard()}),
	} {
		t.Run(want, func(t *testing.T) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			if got := detect.Probe(context.Background(), srv.URL, 5*time.Second); got != want {
				t.Errorf("Probe = %q, want %q", got, want)
			}
		})
	}
	if got := detect.Probe(context.Background(), "http://127.0.0.1:1", time.Second); got != detect.None {
		t.Errorf("Probe with nothing listening = %q", got)
	}
}

func TestDetectRetriesTheProviderIDThenProbes(t *testing.T) {
	calls := 0
	cfg := detect.Config{
		ProviderID: func(context.Context) (string, error) {
			if calls++; calls < 3 {
				return "", errors.New("503")
			}
			return "alicloud://cn-hangzhou.i-x", nil
		},
		MetadataURL: "http://127.0.0.1:1",
		RetryDelay:  func(int) time.Duration { return time.Millisecond },
		Log:         logging.Discard(),
	}
	if got := detect.Detect(context.Background(), cfg); got != detect.Alibaba || calls != 3 {
		t.Errorf("Detect = %q after %d calls, want alibaba after 3", got, calls)
	}
	srv := httptest.NewServer(emudo.New(emudo.Options{Log: logging.Discard()}))
	defer srv.Close()
	cfg.ProviderID = func(context.Context) (string, error) { return "kind://x", nil }
	cfg.MetadataURL = srv.URL
	if got := detect.Detect(context.Background(), cfg); got != detect.DigitalOcean {
		t.Errorf("Detect by probe = %q, want digitalocean", got)
	}
	cfg.MetadataURL, cfg.ProbeRounds, cfg.ProbePause = "http://127.0.0.1:1", 2, time.Millisecond
	if got := detect.Detect(context.Background(), cfg); got != detect.None {
		t.Errorf("Detect with nothing = %q, want none", got)
	}
}
