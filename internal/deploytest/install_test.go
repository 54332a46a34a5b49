//go:build linux

package deploytest

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// TestHelmInstall installs the chart for real with `helm install --wait`
// (agent and queue consumer), so every object is admitted and the workloads
// become ready on a kwok node, then uninstalls it and checks nothing
// cluster-wide is left behind.
func TestHelmInstall(t *testing.T) {
	c := testbed.Get(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	labelNamespace(t, c, ns, "pod-security.kubernetes.io/enforce", "privileged")
	node := c.AddNode(t, testbed.UniqueName("helm")).Name
	rel := "inst-" + ns
	values := set(baseValues(), "queue.enabled", true, "notifications.slack.enabled", true,
		"notifications.slack.channel", "C0123456", "notifications.secretValues.slackToken", "xoxb-install")
	out, err := runHelm(t, "install", rel, chartDir(t), "--namespace", ns, "--kubeconfig", c.Kubeconfig,
		"--wait", "--timeout", "3m", "--values", writeValues(t, values))
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	for _, want := range []string{
		"STATUS: deployed", "daemonset/" + rel + "-lifeboat-agent", "Lease " + ns + "/lifeboat-queue",
		"no eks.amazonaws.com/role-arn annotation",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("helm install output lacks %q:\n%s", want, out)
		}
	}
	ds, err := c.Client.AppsV1().DaemonSets(ns).Get(ctx, rel+"-lifeboat-agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Status.NumberReady < 1 {
		t.Errorf("agent DaemonSet has %d ready pods", ds.Status.NumberReady)
	}
	if n := podsOn(t, c, ns, "app.kubernetes.io/component=agent", node); n != 1 {
		t.Errorf("%d agent pods on node %s, want 1", n, node)
	}
	dep, err := c.Client.AppsV1().Deployments(ns).Get(ctx, rel+"-lifeboat-queue", metav1.GetOptions{})
	if err != nil || dep.Status.ReadyReplicas != 2 {
		t.Errorf("queue Deployment not ready with 2 replicas: %v", err)
	}

	if out, err := runHelm(t, "uninstall", rel, "--namespace", ns, "--kubeconfig", c.Kubeconfig, "--wait", "--timeout", "2m"); err != nil {
		t.Fatalf("helm uninstall: %v\n%s", err, out)
	}
	for _, name := range []string{rel + "-lifeboat-agent", rel + "-lifeboat-queue"} {
		if _, err := c.Client.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ClusterRole %s left after uninstall: %v", name, err)
		}
		if _, err := c.Client.RbacV1().ClusterRoleBindings().Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ClusterRoleBinding %s left after uninstall: %v", name, err)
		}
	}
}

// TestHelmNotes checks the post-install notes point out the mistakes that
// fail silently: no metadata token without the host network, no AWS
// credentials without IRSA, an RBAC-only install.
func TestHelmNotes(t *testing.T) {
	c := testbed.Get(t)
	ns := c.Namespace(t)
	cases := []struct {
		name   string
		values map[string]any
		want   []string
	}{
		{"defaults", nil, []string{"rollout status daemonset/notes-lifeboat-agent", "hostNetwork=true", "shutdownGracePeriodCriticalPods"}},
		{"pod network on aws", set(nil, "agent.hostNetwork", false, "agent.platform", "aws"), []string{"agent.hostNetwork is false", "hop limit"}},
		{
			"queue with IRSA", set(baseValues(), "agent.enabled", false, "queue.enabled", true,
				"queue.serviceAccount.annotations", map[string]any{"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x"}),
			[]string{"leader election over Lease " + ns + "/lifeboat-queue", "sqs.us-east-1.amazonaws.com"},
		},
		{"rbac only", set(nil, "agent.enabled", false, "rbac.bindNodeGroup", true), []string{"only the RBAC"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runHelm(t, "install", "notes", chartDir(t), "--namespace", ns, "--kubeconfig", c.Kubeconfig,
				"--dry-run=client", "--values", writeValues(t, tc.values))
			if err != nil {
				t.Fatalf("helm install --dry-run: %v", err)
			}
			_, notes, ok := strings.Cut(string(out), "NOTES:")
			if !ok {
				t.Fatalf("no NOTES in:\n%s", out)
			}
			for _, want := range tc.want {
				if !strings.Contains(notes, want) {
					t.Errorf("notes lack %q:\n%s", want, notes)
				}
			}
			if strings.Contains(tc.name, "IRSA") && strings.Contains(notes, "no eks.amazonaws.com/role-arn") {
				t.Errorf("notes warn about a missing role ARN that is set:\n%s", notes)
			}
		})
	}
}

func labelNamespace(t *testing.T, c *testbed.Cluster, ns, key, value string) {
	t.Helper()
	ctx := context.Background()
	n, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	n.Labels[key] = value
	if _, err := c.Client.CoreV1().Namespaces().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
