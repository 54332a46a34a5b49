//go:build linux

package deploytest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/golden"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func systemdDir(t *testing.T) string { return filepath.Join(repoRoot(t), "deploy", "systemd") }

// unitFile is a parsed systemd unit: section -> key -> values in order.
type unitFile map[string]map[string][]string

// parseUnit reads a unit file the way systemd does for what matters here:
// sections, comments, line continuations and repeated keys (an empty
// assignment resets a list, as in a drop-in's "ExecStart=").
func parseUnit(t *testing.T, text string) unitFile {
	t.Helper()
	u := unitFile{}
	section := ""
	var logical strings.Builder
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if logical.Len() == 0 && (line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";")) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			logical.WriteString(cont + " ")
			continue
		}
		logical.WriteString(line)
		full := logical.String()
		logical.Reset()
		if strings.HasPrefix(full, "[") && strings.HasSuffix(full, "]") {
			section = full[1 : len(full)-1]
			u[section] = map[string][]string{}
			continue
		}
		k, v, ok := strings.Cut(full, "=")
		if !ok || section == "" {
			t.Fatalf("unit line %q is not key=value in a section", full)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if v == "" {
			u[section][k] = nil
			continue
		}
		u[section][k] = append(u[section][k], v)
	}
	return u
}

// get returns the single value of key, failing if it is absent or repeated.
func (u unitFile) get(t *testing.T, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 {
		t.Fatalf("[%s] %s: want one value, have %q", section, key, v)
	}
	return v[0]
}

// words splits space-separated list values (After=a b, SuccessExitStatus=...).
func (u unitFile) words(section, key string) []string {
	var out []string
	for _, v := range u[section][key] {
		out = append(out, strings.Fields(v)...)
	}
	return out
}

func readUnit(t *testing.T, name string) (string, unitFile) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(systemdDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b), parseUnit(t, string(b))
}

// TestSystemdVerify runs systemd's own checker on the units. The binary
// path is pointed at an existing executable (verify insists on one).
func TestSystemdVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd); the unit settings are still checked by TestSystemdUnits")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"lifeboat.service", "lifeboat.path"} {
		text, _ := readUnit(t, name)
		text = strings.ReplaceAll(text, "/usr/local/bin/lifeboat-agent", self)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(analyze, "verify", "--man=no", filepath.Join(dir, "lifeboat.service"), filepath.Join(dir, "lifeboat.path"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, stderr.String())
	}
	// verify exits 0 on settings it ignores; any complaint about our units fails.
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, "lifeboat") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
}

// TestSystemdUnits checks what the host install relies on.
func TestSystemdUnits(t *testing.T) {
	_, svc := readUnit(t, "lifeboat.service")
	_, path := readUnit(t, "lifeboat.path")

	after := svc.words("Unit", "After")
	for _, dep := range []string{"kubelet.service", "containerd.service", "network-online.target"} {
		if !slices.Contains(after, dep) {
			t.Errorf("After= lacks %s: lifeboat must stop (and drain) before it at shutdown", dep)
		}
	}
	if !slices.Contains(svc.words("Unit", "Wants"), "network-online.target") {
		t.Error("Wants=network-online.target missing")
	}
	if slices.Contains(svc.words("Unit", "Before"), "kubelet.service") {
		t.Error("Before=kubelet.service would stop lifeboat after the kubelet")
	}

	execStart := strings.Fields(svc.get(t, "Service", "ExecStart"))
	if len(execStart) < 2 || execStart[0] != "/usr/local/bin/lifeboat-agent" || execStart[1] != "agent" {
		t.Fatalf("ExecStart = %q, want /usr/local/bin/lifeboat-agent agent ...", execStart)
	}
	args := execStart[1:]
	flag := func(name string) string {
		for _, a := range args {
			if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
				return v
			}
		}
		t.Fatalf("ExecStart lacks --%s", name)
		return ""
	}
	if flag("run-mode") != "host" {
		t.Error("--run-mode must be host: SIGTERM from systemd means the machine goes down")
	}
	// SIGTERM must drain only when the host goes down, never on a restart
	// of the unit (--shutdown-drain=auto, the default).
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--shutdown-drain="); ok && v != "auto" {
			t.Errorf("--shutdown-drain=%s: a restart or upgrade of the unit would drain the node", v)
		}
	}
	kubeconfig := flag("kubeconfig")
	if kubeconfig != "/var/lib/kubelet/kubeconfig" {
		t.Errorf("--kubeconfig = %s, want the kubelet's", kubeconfig)
	}
	drain, err := time.ParseDuration(flag("shutdown-timeout"))
	if err != nil {
		t.Fatal(err)
	}
	stopSec, err := strconv.Atoi(svc.get(t, "Service", "TimeoutStopSec"))
	if err != nil {
		t.Fatal(err)
	}
	if stop := time.Duration(stopSec) * time.Second; stop != 180*time.Second || drain != 150*time.Second || stop-drain < 15*time.Second {
		t.Errorf("TimeoutStopSec=%s, --shutdown-timeout=%s: want 180s and 150s, leaving time to flush notifications", stop, drain)
	}
	if km := svc.get(t, "Service", "KillMode"); km != "mixed" && km != "process" {
		t.Errorf("KillMode=%s: SIGTERM must reach lifeboat alone (mixed or process)", km)
	}
	if !slices.Contains(svc.words("Service", "SuccessExitStatus"), "143") {
		t.Error("SuccessExitStatus must include 143 (terminated by SIGTERM)")
	}
	if r := svc.get(t, "Service", "Restart"); r != "on-failure" {
		t.Errorf("Restart=%s, want on-failure", r)
	}
	if c := svc.get(t, "Unit", "ConditionPathExists"); c != kubeconfig {
		t.Errorf("ConditionPathExists=%s, want the --kubeconfig path %s", c, kubeconfig)
	}
	// The arguments are valid for the real `lifeboat agent`.
	validateContainer(t, corev1.Container{Name: "systemd", Args: args})

	if p := path.get(t, "Path", "PathExists"); p != kubeconfig {
		t.Errorf("lifeboat.path waits for %s, want the --kubeconfig path %s", p, kubeconfig)
	}
	if u := path.get(t, "Path", "Unit"); u != "lifeboat.service" {
		t.Errorf("lifeboat.path starts %s", u)
	}
	if w := path.get(t, "Install", "WantedBy"); w != "multi-user.target" {
		t.Errorf("lifeboat.path WantedBy=%s, want multi-user.target", w)
	}
}

// butaneConfig is the part of a Butane config the test reads.
type butaneConfig struct {
	Variant string `json:"variant"`
	Version string `json:"version"`
	Storage struct {
		Files []struct {
			Path     string `json:"path"`
			Mode     int    `json:"mode"`
			Contents struct {
				Source string `json:"source"`
				Inline string `json:"inline"`
			} `json:"contents"`
		} `json:"files"`
	} `json:"storage"`
	Systemd struct {
		Units []struct {
			Name     string `json:"name"`
			Enabled  *bool  `json:"enabled"`
			Contents string `json:"contents"`
			Dropins  []struct {
				Name     string `json:"name"`
				Contents string `json:"contents"`
			} `json:"dropins"`
		} `json:"units"`
	} `json:"systemd"`
}

// TestButane checks deploy/systemd/lifeboat.bu: it parses, embeds the unit
// files verbatim, enables the .path unit, installs the binary where its
// drop-in runs it with exactly the unit's arguments, and installs the
// environment file the unit reads.
func TestButane(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(systemdDir(t), "lifeboat.bu"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg butaneConfig
	if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
		t.Fatalf("lifeboat.bu: %v", err)
	}
	if cfg.Variant != "flatcar" && cfg.Variant != "fcos" {
		t.Errorf("variant %q, want flatcar or fcos", cfg.Variant)
	}
	if cfg.Version == "" {
		t.Error("no Butane spec version")
	}
	svcText, svc := readUnit(t, "lifeboat.service")
	pathText, _ := readUnit(t, "lifeboat.path")
	units := map[string]int{}
	for i, u := range cfg.Systemd.Units {
		units[u.Name] = i
	}
	for name, want := range map[string]string{"lifeboat.service": svcText, "lifeboat.path": pathText} {
		i, ok := units[name]
		if !ok {
			t.Fatalf("lifeboat.bu does not install %s", name)
		}
		if got := cfg.Systemd.Units[i].Contents; got != want {
			t.Errorf("%s in lifeboat.bu differs from deploy/systemd/%s: %s", name, name, golden.FirstDiff(want, got))
		}
	}
	if p := cfg.Systemd.Units[units["lifeboat.path"]]; p.Enabled == nil || !*p.Enabled {
		t.Error("lifeboat.path must be enabled")
	}
	files := map[string]int{}
	for _, f := range cfg.Storage.Files {
		files[f.Path] = f.Mode
	}
	// A drop-in may move the binary (Flatcar's /usr is read-only) but must
	// keep the unit's arguments.
	bin := "/usr/local/bin/lifeboat-agent"
	unitArgs := strings.Fields(svc.get(t, "Service", "ExecStart"))[1:]
	for _, d := range cfg.Systemd.Units[units["lifeboat.service"]].Dropins {
		drop := parseUnit(t, d.Contents)
		execs, ok := drop["Service"]["ExecStart"]
		if !ok {
			continue
		}
		if len(execs) != 1 {
			t.Fatalf("drop-in %s must reset ExecStart= and set one, has %q", d.Name, execs)
		}
		fields := strings.Fields(execs[0])
		bin = fields[0]
		if !slices.Equal(fields[1:], unitArgs) {
			t.Errorf("drop-in %s runs %q, want the unit's arguments %q", d.Name, fields[1:], unitArgs)
		}
	}
	if mode, ok := files[bin]; !ok || mode != 0o755 {
		t.Errorf("lifeboat.bu must install the binary the unit runs, %s, with mode 0755 (have %v, mode %o)", bin, ok, mode)
	}
	for _, env := range svc.words("Service", "EnvironmentFile") {
		if _, ok := files[strings.TrimPrefix(env, "-")]; !ok {
			t.Errorf("lifeboat.bu does not install the EnvironmentFile %s", env)
		}
	}
	// The environment file it installs holds valid LIFEBOAT_<FLAG> settings
	// for the unit's command.
	ctr := corev1.Container{Name: "butane", Args: unitArgs}
	for _, f := range cfg.Storage.Files {
		if !slices.Contains(svc.words("Service", "EnvironmentFile"), "-"+f.Path) {
			continue
		}
		for _, line := range strings.Split(f.Contents.Inline, "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(k, "#") {
				ctr.Env = append(ctr.Env, corev1.EnvVar{Name: k, Value: v})
			}
		}
	}
	if len(ctr.Env) == 0 {
		t.Error("lifeboat.bu's environment file sets nothing")
	}
	for _, e := range ctr.Env {
		if e.Name == "LIFEBOAT_SHUTDOWN_DRAIN" && e.Value != "auto" {
			t.Errorf("lifeboat.bu sets %s=%s: a restart or upgrade of the unit would drain the node", e.Name, e.Value)
		}
	}
	validateContainer(t, ctr)
}
