//go:build linux

package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

func TestMain(m *testing.M) {
	execRefusingUserfaultfdIfAsked()
	testbed.Main(m)
}

// run executes lifeboat with args and env, returning stdout and the error.
func run(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	g := &Globals{Stdout: &out, Stderr: &errOut, LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := Execute(ctx, args, g)
	t.Logf("lifeboat %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), out.String(), errOut.String())
	return out.String(), err
}

func TestDrainContractFlags(t *testing.T) {
	root := NewRootCommand(&Globals{})
	cmd, _, err := root.Find([]string{"drain"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"kubeconfig", "force", "delete-emptydir-data", "timeout", "deadline", "grace-period", "on-deadline", "delete-node", "dry-run"} {
		if cmd.Flags().Lookup(f) == nil {
			t.Errorf("drain has no --%s flag (contract)", f)
		}
	}
}

func TestAgentContractFlags(t *testing.T) {
	root := NewRootCommand(&Globals{})
	cmd, _, err := root.Find([]string{"agent"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"node", "platform", "metadata-url", "kubeconfig", "delete-node", "shutdown-timeout", "on-rebalance"} {
		if cmd.Flags().Lookup(f) == nil {
			t.Errorf("agent has no --%s flag (contract)", f)
		}
	}
	_, err = run(t, nil, "agent", "--node", "n", "--on-rebalance", "explode")
	if err == nil || !strings.Contains(err.Error(), "--on-rebalance") {
		t.Errorf("bad --on-rebalance: err = %v, want it named", err)
	}
	_, err = run(t, map[string]string{"LIFEBOAT_PLATFORM": "mars"}, "agent", "--node", "n")
	if err == nil || !strings.Contains(err.Error(), "--platform") {
		t.Errorf("bad LIFEBOAT_PLATFORM: err = %v, want --platform named", err)
	}
}

func TestDrainRejectsBadInputNamingTheFlag(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"bad policy", nil, []string{"drain", "n", "--on-deadline=maybe"}, "--on-deadline"},
		{"bad deadline", nil, []string{"drain", "n", "--deadline=tomorrow"}, "--deadline"},
		{"bad grace from env", map[string]string{"LIFEBOAT_GRACE_PERIOD": "-5"}, []string{"drain", "n"}, "--grace-period"},
		{"unparsable env", map[string]string{"LIFEBOAT_TIMEOUT": "soon"}, []string{"drain", "n"}, "LIFEBOAT_TIMEOUT"},
		{"bad taint", nil, []string{"drain", "n", "--taint=x:Sometimes"}, "--taint"},
		{"bad log format", nil, []string{"drain", "n", "--log-format=xml"}, "--log-format"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, tc.env, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to name %s", err, tc.want)
			}
		})
	}
}

func TestDrainCommandEndToEnd(t *testing.T) {
	c := testbed.Get(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	node := testbed.UniqueName("cli")
	c.AddNode(t, node)
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, testbed.Pod(ns, "bare", node), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kc := c.Kubeconfig

	// Consent is required for a pod without a controller: exit code 3.
	_, err := run(t, nil, "drain", node, "--kubeconfig", kc)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitConsent || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v, want exit %d naming --force", err, ExitConsent)
	}
	// Dry run, with the kubeconfig and --force from the environment.
	out, err := run(t, map[string]string{"LIFEBOAT_KUBECONFIG": kc, "LIFEBOAT_FORCE": "true"}, "drain", node, "--dry-run")
	if err != nil || !strings.Contains(out, "evict "+ns+"/bare") || !strings.Contains(out, "nothing was changed") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if n, _ := c.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); n.Spec.Unschedulable {
		t.Fatal("dry run cordoned the node")
	}
	out, err = run(t, nil, "drain", node, "--kubeconfig", kc, "--force", "--timeout", "60s")
	if err != nil || !strings.Contains(out, "node "+node+" drained") || !strings.Contains(out, "1 pod(s) evicted") {
		t.Fatalf("drain: %v\n%s", err, out)
	}
	out, err = run(t, nil, "uncordon", node, "--kubeconfig", kc)
	if err != nil || !strings.Contains(out, "cordon removed") {
		t.Fatalf("uncordon: %v\n%s", err, out)
	}
	if n, _ := c.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); n.Spec.Unschedulable {
		t.Fatal("node still cordoned after lifeboat uncordon")
	}
	out, err = run(t, nil, "drain", "missing-node", "--kubeconfig", kc, "--ignore-missing")
	if err != nil || !strings.Contains(out, "does not exist") {
		t.Fatalf("ignore-missing: %v\n%s", err, out)
	}
}

func TestDrainIncompleteExitCode(t *testing.T) {
	c := testbed.Get(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	node := testbed.UniqueName("cli")
	c.AddNode(t, node)
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, testbed.Deployment(ns, "db", node, 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, testbed.PDB(ns, "db", "db", 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Eventually(t, 60*time.Second, func() (bool, error) {
		b, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "db", metav1.GetOptions{})
		return err == nil && b.Status.CurrentHealthy == 1, err
	})
	out, err := run(t, nil, "drain", node, "--kubeconfig", c.Kubeconfig, "--timeout", "3s", "--on-deadline", "abort", "--progress", "always")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitIncomplete {
		t.Fatalf("err = %v, want exit code %d", err, ExitIncomplete)
	}
	if !strings.Contains(out, "NOT drained") || !strings.Contains(out, "blocked by PDB "+ns+"/db") {
		t.Errorf("summary does not say why:\n%s", out)
	}
}
