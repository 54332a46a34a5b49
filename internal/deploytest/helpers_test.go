//go:build linux

package deploytest

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/golden"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

var update = flag.Bool("update", false, "rewrite deploy/manifests from the chart")

// updateGolden reports whether generated files should be rewritten.
func updateGolden() bool { return *update || golden.Update() }

// repoRoot is the repository root.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := testbed.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func chartDir(t testing.TB) string { return filepath.Join(repoRoot(t), "deploy", "helm", "lifeboat") }

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helm returns the pinned helm binary: $LIFEBOAT_HELM, or the one
// hack/helm.sh installs from the Go module proxy (once, then cached).
func helm(t testing.TB) string {
	t.Helper()
	helmOnce.Do(func() {
		if p := os.Getenv("LIFEBOAT_HELM"); p != "" {
			helmPath = p
			return
		}
		cmd := exec.Command("bash", filepath.Join(repoRoot(t), "hack", "helm.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		helmPath, helmErr = strings.TrimSpace(string(out)), err
	})
	if helmErr != nil {
		t.Fatalf("installing helm (hack/helm.sh): %v", helmErr)
	}
	return helmPath
}

// runHelm runs helm with args and returns stdout; stderr is in the error.
func runHelm(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(helm(t), args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, errors.New(err.Error() + ": " + stderr.String() + string(out))
	}
	return out, nil
}

// writeValues writes a values file and returns its path.
func writeValues(t testing.TB, values map[string]any) string {
	t.Helper()
	b, err := yaml.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its path holds the test name, and helm splits --values
	// at commas.
	dir, err := os.MkdirTemp("", "lifeboat-values-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	path := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// render runs `helm template` with values and returns the manifest.
func render(t testing.TB, release, namespace string, values map[string]any) ([]byte, error) {
	t.Helper()
	return runHelm(t, "template", release, chartDir(t), "--namespace", namespace, "--values", writeValues(t, values))
}

// mustRender renders and splits the manifest into objects.
func mustRender(t testing.TB, release, namespace string, values map[string]any) (manifest []byte, objs []*unstructured.Unstructured) {
	t.Helper()
	out, err := render(t, release, namespace, values)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	return out, splitObjects(t, out)
}

// splitObjects decodes a multi-document YAML manifest.
func splitObjects(t testing.TB, manifest []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("decoding manifest: %v\n%s", err, manifest)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// find returns the objects of a kind.
func find(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// one returns the single object of a kind and name suffix, failing otherwise.
func one(t testing.TB, objs []*unstructured.Unstructured, kind, nameSuffix string) *unstructured.Unstructured {
	t.Helper()
	var hit []*unstructured.Unstructured
	for _, o := range find(objs, kind) {
		if strings.HasSuffix(o.GetName(), nameSuffix) {
			hit = append(hit, o)
		}
	}
	if len(hit) != 1 {
		t.Fatalf("want one %s *%s, found %d", kind, nameSuffix, len(hit))
	}
	return hit[0]
}

// typed converts an unstructured object into a typed one.
func typed[T any](t testing.TB, o *unstructured.Unstructured) *T {
	t.Helper()
	v := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, v, true); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return v
}

// kubectl runs the test control plane's kubectl with the admin kubeconfig.
func kubectl(t testing.TB, c *testbed.Cluster, stdin []byte, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(c.BinDir, "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// set returns a copy of values with dotted paths set ("agent.enabled").
func set(values map[string]any, kv ...any) map[string]any {
	out := deepCopy(values)
	for i := 0; i+1 < len(kv); i += 2 {
		parts := strings.Split(kv[i].(string), ".")
		m := out
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = kv[i+1]
	}
	return out
}

func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			out[k] = deepCopy(sub)
		} else {
			out[k] = v
		}
	}
	return out
}
