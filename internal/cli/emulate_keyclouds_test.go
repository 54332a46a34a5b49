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

func TestEmulateKeyCloudsRejectBadFlagsNamingThem(t *testing.T) {
	cases := []struct {
		cloud string
		args  []string
		want  string
	}{
		{"alibaba", []string{"--reclaim-in=soon"}, "--reclaim-in"},
		{"alibaba", []string{"--notice=0s"}, "--notice"},
		{"tencent", []string{"--reclaim-in=-1s"}, "--reclaim-in"},
		{"tencent", []string{"--instance-id="}, "--instance-id"},
		{"digitalocean", []string{"--migrate-in=later"}, "--migrate-in"},
		{"digitalocean", []string{"--migrate-for=-1m"}, "--migrate-for"},
		{"digitalocean", []string{"--address=localhost"}, "--address"},
	}
	for _, tc := range cases {
		t.Run(tc.cloud+tc.want, func(t *testing.T) {
			g := &Globals{Stdout: io.Discard, Stderr: io.Discard, LookupEnv: func(string) (string, bool) { return "", false }}
			err := Execute(context.Background(), append([]string{"emulate", tc.cloud, "--address=127.0.0.1:0"}, tc.args...), g)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// Each command serves its scheduled event at its documented path, and stops
// when its context ends.
func TestEmulateKeyCloudsServeUntilCanceled(t *testing.T) {
	cases := []struct {
		args []string
		path string
		want *regexp.Regexp
	}{
		{[]string{"alibaba", "--reclaim-in=0s"}, "/latest/meta-data/instance/spot/termination-time", regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)},
		{[]string{"tencent", "--reclaim-in=0s"}, "/latest/meta-data/spot/termination-time", regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`)},
		{[]string{"digitalocean", "--migrate-in=0s"}, "/v1/maintenance_event", regexp.MustCompile(`^live_migrate$`)},
	}
	for _, tc := range cases {
		t.Run(tc.args[0], func(t *testing.T) {
			pr, pw := io.Pipe()
			g := &Globals{Stdout: pw, Stderr: io.Discard, LookupEnv: func(string) (string, bool) { return "", false }}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				done <- Execute(ctx, append(append([]string{"emulate"}, tc.args...), "--address=127.0.0.1:0"), g)
				_ = pw.Close()
			}()
			line, err := bufio.NewReader(pr).ReadString('\n')
			if err != nil {
				t.Fatalf("reading the printed URL: %v", err)
			}
			go func() { _, _ = io.Copy(io.Discard, pr) }()
			url := regexp.MustCompile(`http://127\.0\.0\.1:\d+`).FindString(line)
			resp, err := http.Get(url + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !tc.want.Match(body) {
				t.Fatalf("%s: %d %q", tc.path, resp.StatusCode, body)
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("returned %v after cancel, want nil", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("did not stop after its context ended")
			}
		})
	}
}
