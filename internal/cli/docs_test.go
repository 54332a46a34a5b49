//go:build !lifeboat_agent

package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/golden"

	"github.com/spf13/pflag"

	"github.com/lifeboat-dev/lifeboat/internal/envflag"
)

// flagsDoc is the checked-in reference; LIFEBOAT_UPDATE_GOLDEN=1 rewrites it.
const flagsDoc = "../../docs/FLAGS.md"

func generateDocs(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteMarkdown(&b, NewRootCommand(&Globals{})); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestDocsFlagsMarkdownUpToDate(t *testing.T) {
	got := generateDocs(t)
	if golden.Update() {
		if err := os.WriteFile(flagsDoc, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s", flagsDoc)
		return
	}
	want, err := os.ReadFile(flagsDoc)
	if err != nil {
		t.Fatalf("%v (generate it: go run ./cmd/lifeboat docs --output docs/FLAGS.md)", err)
	}
	if got != string(want) {
		t.Errorf("docs/FLAGS.md is out of date with the flags in the code; regenerate it with\n"+
			"  go run ./cmd/lifeboat docs --output docs/FLAGS.md\n(or LIFEBOAT_UPDATE_GOLDEN=1 go test ./internal/cli -run Docs)\nfirst difference:\n%s",
			golden.FirstDiff(string(want), got))
	}
}

// TestDocsDescribeEveryFlag checks the generated reference against the
// command tree itself: each command has a section listing each of its own
// flags with its environment variable, and the global flags are listed once.
func TestDocsDescribeEveryFlag(t *testing.T) {
	doc := generateDocs(t)
	root := NewRootCommand(&Globals{})
	sections := map[string]string{}
	for _, part := range strings.Split(doc, "\n## ")[1:] {
		title, body, _ := strings.Cut(part, "\n")
		sections[title] = body
	}
	for _, name := range []string{"agent", "drain", "uncordon", "queue", "docs", "version", "emulate aws"} {
		t.Run(name, func(t *testing.T) {
			cmd, _, err := root.Find(strings.Fields(name))
			if err != nil {
				t.Fatal(err)
			}
			body, ok := sections[cmd.CommandPath()]
			if !ok {
				t.Fatalf("no section %q in the reference", cmd.CommandPath())
			}
			cmd.NonInheritedFlags().VisitAll(func(f *pflag.Flag) {
				if f.Name == "help" {
					return
				}
				row := "`--" + f.Name + "` | `" + envflag.Name(f.Name) + "` | " + f.Value.Type() + " |"
				if !strings.Contains(body, row) {
					t.Errorf("section %q lacks the row for --%s (want it to contain %q)", cmd.CommandPath(), f.Name, row)
				}
			})
		})
	}
	global := sections["Global flags"]
	for _, f := range []string{"log-format", "log-level"} {
		if !strings.Contains(global, "`--"+f+"` | `"+envflag.Name(f)+"`") {
			t.Errorf("global flag --%s missing from the Global flags section", f)
		}
		if strings.Contains(sections["lifeboat agent"], "`--"+f+"`") {
			t.Errorf("global flag --%s repeated in the agent section", f)
		}
	}
}

// TestDocsDefaults checks the Default column: plain defaults verbatim,
// defaults the usage states (resolved at run time) from the usage text, so
// the reference does not depend on the machine that generated it.
func TestDocsDefaults(t *testing.T) {
	t.Setenv("POD_NAME", "generated-on-a-pod")
	t.Setenv("POD_NAMESPACE", "some-namespace")
	doc := generateDocs(t)
	for _, want := range []string{
		"| `--shutdown-timeout` | `LIFEBOAT_SHUTDOWN_TIMEOUT` | duration | `2m30s` |",
		"| `--pod-name` | `LIFEBOAT_POD_NAME` | string | *$POD_NAME* |",
		"| `--metrics-address` | `LIFEBOAT_METRICS_ADDRESS` | string | `:9101` |",
		"| `--force` | `LIFEBOAT_FORCE` | bool | `false` |", // drain: consent flags off
		"| `--force` | `LIFEBOAT_FORCE` | bool | `true` |",  // agent: the machine is going away
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("reference lacks %q", want)
		}
	}
	for _, leak := range []string{"generated-on-a-pod", "some-namespace"} {
		if strings.Contains(doc, leak) {
			t.Errorf("reference contains %q from this machine's environment", leak)
		}
	}
}

// TestDocsCommandOutput runs `lifeboat docs` both ways: to standard output
// and to --output (also set through LIFEBOAT_OUTPUT).
func TestDocsCommandOutput(t *testing.T) {
	want := generateDocs(t)
	var stdout bytes.Buffer
	if err := Execute(context.Background(), []string{"docs"}, &Globals{Stdout: &stdout, Stderr: &bytes.Buffer{}, LookupEnv: noEnv}); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != want {
		t.Errorf("`lifeboat docs` printed something else than the reference:\n%s", golden.FirstDiff(want, stdout.String()))
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"flag", []string{"docs", "--output", "%s"}, nil},
		{"env", []string{"docs"}, map[string]string{"LIFEBOAT_OUTPUT": "%s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "FLAGS.md")
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, "%s", path)
			}
			lookup := func(k string) (string, bool) {
				v, ok := tc.env[k]
				return strings.ReplaceAll(v, "%s", path), ok
			}
			var out bytes.Buffer
			if err := Execute(context.Background(), args, &Globals{Stdout: &out, Stderr: &bytes.Buffer{}, LookupEnv: lookup}); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != want {
				t.Errorf("%s differs from the reference:\n%s", path, golden.FirstDiff(want, string(got)))
			}
			if out.Len() != 0 {
				t.Errorf("with an output file, stdout should stay empty, got %d bytes", out.Len())
			}
		})
	}
}

func noEnv(string) (string, bool) { return "", false }
