//go:build linux

package deploytest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/golden"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// manifestNamespace is where the plain manifests install lifeboat.
const manifestNamespace = "lifeboat"

// plainManifests are the files in deploy/manifests and the chart values
// they are rendered from (release "lifeboat" in namespace "lifeboat").
var plainManifests = []struct {
	file, about string
	values      map[string]any
}{
	{"lifeboat-agent.yaml", "the agent DaemonSet with the chart's default values", nil},
	{
		"lifeboat-queue.yaml", "the SQS queue consumer (2 replicas, leader election) without the agent; set --queue-url and\n" +
			"# the ServiceAccount's eks.amazonaws.com/role-arn to yours",
		map[string]any{
			"agent": map[string]any{"enabled": false},
			"queue": map[string]any{
				"enabled":        true,
				"queueURL":       "https://sqs.us-east-1.amazonaws.com/111122223333/lifeboat",
				"serviceAccount": map[string]any{"annotations": map[string]any{"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/lifeboat-queue"}},
			},
		},
	},
}

// namespaceDoc starts every plain manifest, the same in each so applying
// both files agrees on it. The agent needs host networking, which only the
// privileged Pod Security level allows (the queue consumer alone would pass
// "restricted").
const namespaceDoc = `apiVersion: v1
kind: Namespace
metadata:
  name: lifeboat
  labels:
    pod-security.kubernetes.io/enforce: privileged
`

func plainManifest(t *testing.T, file, about string, values map[string]any) []byte {
	t.Helper()
	out, err := render(t, "lifeboat", manifestNamespace, values)
	if err != nil {
		t.Fatal(err)
	}
	header := "# " + file + ": " + about + ".\n" +
		"# Rendered from deploy/helm/lifeboat; do not edit. Regenerate with\n" +
		"#   LIFEBOAT_UPDATE_GOLDEN=1 go test ./internal/deploytest -run Manifests\n" +
		"# Install: kubectl apply --server-side -f " + file + "\n---\n"
	return []byte(header + namespaceDoc + string(out))
}

// TestManifestsInSync keeps deploy/manifests equal to what the chart
// renders, and applies them (server-side dry-run) to the test API server.
func TestManifestsInSync(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "deploy", "manifests")
	var c *testbed.Cluster
	for _, m := range plainManifests {
		t.Run(m.file, func(t *testing.T) {
			want := plainManifest(t, m.file, m.about, m.values)
			path := filepath.Join(dir, m.file)
			if updateGolden() {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("rewrote %s", path)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (generate: LIFEBOAT_UPDATE_GOLDEN=1 go test ./internal/deploytest -run Manifests)", err)
			}
			if string(got) != string(want) {
				t.Fatalf("%s is out of date with the chart; regenerate with\n  LIFEBOAT_UPDATE_GOLDEN=1 go test ./internal/deploytest -run Manifests\nfirst difference: %s",
					path, golden.FirstDiff(string(want), string(got)))
			}
			if c == nil {
				c = testbed.Get(t)
				ensureNamespace(t, c, manifestNamespace)
			}
			out, stderr, err := kubectl(t, c, got, "apply", "--server-side", "--dry-run=server", "--validate=strict", "-f", "-")
			if err != nil {
				t.Fatalf("kubectl apply --dry-run=server -f %s: %v\n%s\n%s", m.file, err, stderr, out)
			}
			objs := splitObjects(t, got)
			if n := strings.Count(out, "(server dry run)"); n != len(objs) {
				t.Errorf("%d objects accepted, want %d:\n%s", n, len(objs), out)
			}
			if objs[0].GetKind() != "Namespace" || len(find(objs, "Namespace")) != 1 {
				t.Errorf("%s must start with its Namespace", m.file)
			}
		})
	}
}

// ensureNamespace creates a namespace for good (dry-run cannot create the
// namespace and its contents in one apply).
func ensureNamespace(t *testing.T, c *testbed.Cluster, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.Client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}
