//go:build linux

package deploytest

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// baseValues are values every rendering test may start from: a queue URL
// (required once the queue is enabled).
func baseValues() map[string]any {
	return map[string]any{"queue": map[string]any{"queueURL": "https://sqs.us-east-1.amazonaws.com/111122223333/lifeboat"}}
}

func TestHelmLint(t *testing.T) {
	t.Parallel()
	cases := map[string]map[string]any{
		"defaults": nil,
		"queue":    set(baseValues(), "queue.enabled", true, "agent.enabled", false),
		"everything": set(baseValues(), "queue.enabled", true, "agent.windows.enabled", true,
			"serviceMonitor.enabled", true, "networkPolicy.enabled", true, "networkPolicy.egress.enabled", true,
			"notifications.slack.enabled", true, "notifications.slack.channel", "C0123",
			"notifications.secretValues.slackToken", "xoxb-lint", "rbac.bindNodeGroup", true),
	}
	for name, values := range cases {
		t.Run(name, func(t *testing.T) {
			args := []string{"lint", "--strict", chartDir(t)}
			if values != nil {
				args = append(args, "--values", writeValues(t, values))
			}
			out, err := runHelm(t, args...)
			if err != nil {
				t.Fatalf("helm lint: %v", err)
			}
			if !strings.Contains(string(out), "0 chart(s) failed") {
				t.Fatalf("helm lint output:\n%s", out)
			}
		})
	}
}

// TestChartRejectsBadValues checks that mistakes fail at install time with a
// message naming the value, instead of producing a broken pod.
func TestChartRejectsBadValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"typo in a key", set(nil, "agent.platfrm", "aws"), "platfrm"},
		{"unknown platform", set(nil, "agent.platform", "openstack"), "/agent/platform"},
		{"bad duration", set(nil, "agent.shutdownTimeout", "2 minutes"), "/agent/shutdownTimeout"},
		{"queue without URL", set(nil, "queue.enabled", true), "queueURL"},
		{"slack without channel", set(nil, "notifications.slack.enabled", true, "notifications.secretValues.slackToken", "x"), "notifications.slack.channel is required"},
		{"slack without token", set(nil, "notifications.slack.enabled", true, "notifications.slack.channel", "C1"), "notifications.secretValues.slackToken is required"},
		{"telegram without chat", set(nil, "notifications.telegram.enabled", true, "notifications.existingSecret", "s"), "notifications.telegram.chatID is required"},
		{"bad poison policy", set(baseValues(), "queue.enabled", true, "queue.poisonMessages", "drop"), "/queue/poisonMessages"},
		{"bad flag name", set(nil, "agent.flags", map[string]any{"--force": true}), "'--force' does not match pattern"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := render(t, "bad", "lifeboat", tc.values)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("helm template error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestChartFlagsPassThrough sets every flag of `lifeboat agent` and
// `lifeboat queue` through the chart's generic `flags` value and checks the
// rendered arguments parse and validate with the real commands: every flag
// is reachable from values.
func TestChartFlagsPassThrough(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ command, kind, value string }{
		{"agent", "DaemonSet", "agent"},
		{"queue", "Deployment", "queue"},
	} {
		t.Run(tc.command, func(t *testing.T) {
			flags := map[string]any{}
			cmd := subcommand(t, tc.command)
			cmd.Flags().VisitAll(func(f *pflag.Flag) {
				if v, ok := passThroughValue(f); ok {
					flags[f.Name] = v
				}
			})
			if tc.command == "queue" {
				delete(flags, "pod-selector") // queue mode empties whole nodes and refuses it
			}
			values := set(baseValues(), tc.value+".enabled", true, tc.value+".flags", flags)
			_, objs := mustRender(t, "flags", "lifeboat", values)
			pod := podSpecOf(t, one(t, objs, tc.kind, "-"+tc.command))
			args := pod.Containers[0].Args
			for name := range flags {
				if !containsPrefix(args, "--"+name+"=") {
					t.Errorf("--%s set in %s.flags is not among the arguments", name, tc.value)
				}
			}
			validateContainer(t, pod.Containers[0])
		})
	}
}

// passThroughValue is a valid value for a flag: its default, or an example
// for flags whose default is empty or that need a partner.
func passThroughValue(f *pflag.Flag) (any, bool) {
	examples := map[string]any{
		"action": []any{"spot-interruption=drain-delete"}, "webhook-header": nil, "pod-selector": "app=web",
		"taint": "lifeboat.dev/draining:NoSchedule", "kubeconfig": nil, "context": nil, "node": "node-1",
		"webhook-template": nil, "webhook-proxy": nil, "slack-token": nil, "slack-webhook-url": nil, "telegram-token": nil,
		"webhook-url": nil, "slack-token-file": nil, "telegram-token-file": nil, "slack-channel": nil, "telegram-chat-id": nil,
		"webhook-url-file": nil, "webhook-template-file": nil, "slack-webhook-url-file": nil, "enable-pprof": true,
		"managed-tag": "lifeboat=managed", "metadata-url": "http://169.254.169.254", "azure-vm-name": "vm_0",
		"aws-endpoint": "https://vpce.example", "aws-region": "eu-west-1", "cluster-name": "prod",
		"pod-name": "lifeboat-abcde", "pod-namespace": "lifeboat",
	}
	if v, ok := examples[f.Name]; ok {
		return v, v != nil
	}
	if f.DefValue == "" || f.DefValue == "[]" {
		return nil, false
	}
	return f.DefValue, true
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// subcommand returns a fresh `lifeboat <name>` command.
func subcommand(t testing.TB, name string) *cobra.Command {
	t.Helper()
	root := newRoot(nil)
	cmd, _, err := root.Find(strings.Fields(name))
	if err != nil {
		t.Fatal(err)
	}
	return cmd
}
