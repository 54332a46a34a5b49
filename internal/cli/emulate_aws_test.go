//go:build !lifeboat_agent

package cli

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestEmulateAWSRejectsBadFlagsNamingThem(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"bad spot-in", nil, []string{"--spot-in=soon"}, "--spot-in"},
		{"negative rebalance-in", nil, []string{"--rebalance-in=-1s"}, "--rebalance-in"},
		{"bad action", nil, []string{"--spot-action=explode"}, "--spot-action"},
		{"bad code", nil, []string{"--maintenance-in=1m", "--maintenance-code=system-upgrade"}, "--maintenance-code"},
		{"ttl too long", nil, []string{"--token-ttl-max=7h"}, "--token-ttl-max"},
		{"bad address", nil, []string{"--address=localhost"}, "--address"},
		{"bad env", map[string]string{"LIFEBOAT_ASG_TERMINATE_IN": "later"}, nil, "--asg-terminate-in"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := &Globals{
				Stdout: io.Discard, Stderr: io.Discard,
				LookupEnv: func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok },
			}
			args := append([]string{"emulate", "aws", "--address=127.0.0.1:0"}, tc.args...)
			err := Execute(context.Background(), args, g)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// TestEmulateAWSServesUntilCanceled runs the command, reads the URL it
// prints, checks a flag-scheduled spot interruption is served over IMDSv2,
// and stops it through the context.
func TestEmulateAWSServesUntilCanceled(t *testing.T) {
	pr, pw := io.Pipe()
	g := &Globals{
		Stdout: pw, Stderr: io.Discard,
		LookupEnv: func(k string) (string, bool) {
			v, ok := map[string]string{"LIFEBOAT_SPOT_ACTION": "stop"}[k]
			return v, ok
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Execute(ctx, []string{"emulate", "aws", "--address=127.0.0.1:0", "--spot-in=0s", "--imdsv1"}, g)
		_ = pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the printed URL: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	url := regexp.MustCompile(`http://127\.0\.0\.1:\d+`).FindString(line)
	if url == "" {
		t.Fatalf("no URL in %q", line)
	}
	resp, err := http.Get(url + "/latest/meta-data/spot/instance-action")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"action":"stop"`) {
		t.Fatalf("instance-action: %d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("emulate aws returned %v after cancel, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("emulate aws did not stop after its context ended")
	}
}
