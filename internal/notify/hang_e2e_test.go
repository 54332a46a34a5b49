//go:build linux

package notify_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notify"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

// TestHangingNotifiersNeverDelayARealDrain drains a node on the test
// control plane while every notifier's endpoint accepts the connection and
// never answers: the drain finishes as fast as without notifications.
func TestHangingNotifiersNeverDelayARealDrain(t *testing.T) {
	c := testbed.Get(t)
	ctx := context.Background()
	var hits atomic.Int32
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })

	o := notify.DefaultOptions()
	o.SlackToken, o.SlackChannel, o.SlackAPIURL = "xoxb-test", "#ops", hang.URL+"/api/"
	o.WebhookURL = notify.Secret(hang.URL + "/hook")
	o.TelegramToken, o.TelegramChatID, o.TelegramAPIURL = "123:abc", "42", hang.URL
	o.WebhookTimeout, o.Timeout = time.Minute, time.Minute // the endpoints outlast any drain
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	obs, err := notify.New(o, notify.Deps{Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}

	ns := c.Namespace(t)
	node := testbed.UniqueName("hang")
	c.AddNode(t, node)
	for _, name := range []string{"a", "b", "c"} {
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, testbed.Pod(ns, name, node), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	start := time.Now()
	res, err := drain.New(c.API, drain.Config{Observer: obs, Log: logging.Discard()}).Drain(ctx, node,
		drain.Options{Force: true, GracePeriodSeconds: -1, Deadline: deadline})
	took := time.Since(start)
	if err != nil || res.Evicted != 3 {
		t.Fatalf("drain: %+v, %v", res, err)
	}
	if took > 20*time.Second {
		t.Errorf("drain took %s with hanging notifiers", took)
	}
	testbed.Eventually(t, 10*time.Second, func() (bool, error) { return hits.Load() > 0, nil })
	closeCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	closeStart := time.Now()
	_ = obs.Close(closeCtx)
	if d := time.Since(closeStart); d > 5*time.Second {
		t.Errorf("closing the notifiers took %s, beyond its context's bound", d)
	}
}
