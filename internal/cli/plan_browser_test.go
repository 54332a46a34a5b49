//go:build linux && !lifeboat_agent

package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/atrisk"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// chromium finds or installs a headless Chromium with the project's own
// script (hack/chromium.sh; CI runs the same).
func chromium(t *testing.T) string {
	t.Helper()
	root, err := testbed.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(root, "hack", "chromium.sh"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/chromium.sh: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// headless runs Chromium on a file with extra arguments and returns its
// stdout and stderr (console messages are logged to stderr).
func headless(t *testing.T, bin, page string, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	home := t.TempDir()
	all := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--user-data-dir=" + filepath.Join(home, "profile"), "--enable-logging=stderr", "--log-level=0",
	}, args...)
	cmd := exec.CommandContext(ctx, bin, append(all, "file://"+page)...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

var (
	nodeRow = regexp.MustCompile(`<tr class="node-row" data-node="([^"]+)" data-pods="(\d+)" data-expected="([0-9.]+)" data-fits="(true|false)" data-atrisk="(\d+)"`)
	podRow  = regexp.MustCompile(`<tr class="pod-row" data-namespace="([^"]+)" data-name="([^"]+)" data-node="([^"]+)" data-reasons="([^"]+)"`)
	barRow  = regexp.MustCompile(`<g class="bar" data-pod="([^"]+)" data-start="([0-9.]+)" data-end="([0-9.]+)"`)
	sumRisk = regexp.MustCompile(`<b id="sum-risk">(\d+)</b>`)
)

// checkHTMLInBrowser loads the page in headless Chromium: it must load with
// no console message (no script error, no failed resource), fetch nothing
// from outside, and show the numbers of the JSON report r. A screenshot is
// taken too (to LIFEBOAT_PLAN_SCREENSHOT when set).
func checkHTMLInBrowser(t *testing.T, page string, r *atrisk.Report) {
	t.Helper()
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//`).FindString(page); m != "" {
		t.Errorf("the page is not self-contained: %s", m)
	}
	bin := chromium(t)
	file := filepath.Join(t.TempDir(), "plan.html")
	if err := os.WriteFile(file, []byte(page), 0o600); err != nil {
		t.Fatal(err)
	}
	dom, logs := headless(t, bin, file, "--dump-dom")
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, ":CONSOLE") {
			t.Errorf("console message while loading the page: %s", line)
		}
	}
	if !strings.Contains(dom, `data-rendered="`+strconv.Itoa(len(r.Nodes[0].Timeline))+`"`) {
		t.Errorf("the page's script did not run to its end (data-rendered missing or wrong)")
	}
	nodes := nodeRow.FindAllStringSubmatch(dom, -1)
	if len(nodes) != len(r.Nodes) {
		t.Fatalf("page shows %d nodes, JSON %d", len(nodes), len(r.Nodes))
	}
	for i, m := range nodes {
		n := r.Nodes[i]
		if m[1] != n.Name || m[2] != strconv.Itoa(n.Pods) || m[3] != strconv.FormatFloat(n.ExpectedDrainSeconds, 'g', -1, 64) ||
			m[4] != strconv.FormatBool(n.Fits) || m[5] != strconv.Itoa(n.AtRisk) {
			t.Errorf("node row %v does not match JSON %+v", m[1:], n)
		}
	}
	pods := podRow.FindAllStringSubmatch(dom, -1)
	if len(pods) != len(r.Pods) {
		t.Fatalf("page lists %d pods, JSON %d", len(pods), len(r.Pods))
	}
	for i, m := range pods {
		p := r.Pods[i]
		reasons := make([]string, len(p.Reasons))
		for j, x := range p.Reasons {
			reasons[j] = string(x)
		}
		if m[1] != p.Namespace || m[2] != p.Name || m[3] != p.Node || m[4] != strings.Join(reasons, ",") {
			t.Errorf("pod row %v does not match JSON %+v", m[1:], p)
		}
	}
	bars := barRow.FindAllStringSubmatch(dom, -1)
	if len(bars) != len(r.Nodes[0].Timeline) {
		t.Fatalf("timeline shows %d bars, JSON %d", len(bars), len(r.Nodes[0].Timeline))
	}
	for i, m := range bars {
		s := r.Nodes[0].Timeline[i]
		if m[1] != s.Namespace+"/"+s.Name || m[2] != strconv.FormatFloat(s.StartSeconds, 'g', -1, 64) || m[3] != strconv.FormatFloat(s.EndSeconds, 'g', -1, 64) {
			t.Errorf("timeline bar %v does not match JSON %+v", m[1:], s)
		}
	}
	if m := sumRisk.FindStringSubmatch(dom); m == nil || m[1] != strconv.Itoa(r.Summary.PodsAtRisk) {
		t.Errorf("summary card shows %v pods at risk, JSON %d", m, r.Summary.PodsAtRisk)
	}
	shot := os.Getenv("LIFEBOAT_PLAN_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "plan.png")
	}
	headless(t, bin, file, "--screenshot="+shot, "--window-size=1280,1500", "--hide-scrollbars")
	png, err := os.ReadFile(shot)
	if err != nil || len(png) < 1000 || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("screenshot %s: %d bytes, %v", shot, len(png), err)
	}
}
