//go:build linux

package deploytest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	emuaws "github.com/lifeboat-dev/lifeboat/internal/emulate/aws"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// monitoringValues turn on everything this file checks.
func monitoringValues() map[string]any {
	return set(baseValues(), "plan.enabled", true, "prometheusRule.enabled", true, "dashboard.enabled", true,
		"serviceMonitor.enabled", true, "queue.enabled", true)
}

// promtool installs (once) the pinned promtool with the project's script.
func promtool(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(repoRoot(t), "hack", "promtool.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/promtool.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// renderedRules returns the PrometheusRule's spec as a Prometheus rule file.
func renderedRules(t *testing.T, objs []*unstructured.Unstructured) []byte {
	t.Helper()
	pr := one(t, objs, "PrometheusRule", "")
	groups, ok, err := unstructured.NestedSlice(pr.Object, "spec", "groups")
	if err != nil || !ok || len(groups) == 0 {
		t.Fatalf("PrometheusRule has no groups: %v", err)
	}
	b, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPrometheusRulesPassPromtool checks the rendered rules with promtool.
func TestPrometheusRulesPassPromtool(t *testing.T) {
	_, objs := mustRender(t, "mon", "lifeboat", monitoringValues())
	file := filepath.Join(t.TempDir(), "rules.yaml")
	rules := renderedRules(t, objs)
	if err := os.WriteFile(file, rules, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool(t), "check", "rules", file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS: 5 rules found") {
		t.Fatalf("promtool check rules: %v\n%s\n%s", err, out, rules)
	}
	for _, alert := range []string{"LifeboatNoticeSourceUnhealthy", "LifeboatDrainsFailing", "LifeboatDeadlineFallbacks", "LifeboatPodsAtRisk", "LifeboatDrainBudgetStarving"} {
		if !strings.Contains(string(rules), "alert: "+alert) {
			t.Errorf("alert %s missing", alert)
		}
	}
	_, off := mustRender(t, "mon", "lifeboat", baseValues())
	for _, o := range off {
		if o.GetKind() == "PrometheusRule" || strings.HasSuffix(o.GetName(), "-dashboard") || strings.HasSuffix(o.GetName(), "-plan") {
			t.Errorf("%s %s rendered by default; each is behind its value", o.GetKind(), o.GetName())
		}
	}
}

// dashboardJSON returns the dashboard of the rendered ConfigMap, checking
// the sidecar label kube-prometheus-stack's Grafana selects.
func dashboardJSON(t *testing.T, objs []*unstructured.Unstructured) map[string]any {
	t.Helper()
	cm := one(t, objs, "ConfigMap", "-dashboard")
	if cm.GetLabels()["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap labels %v: want grafana_dashboard=\"1\"", cm.GetLabels())
	}
	data, _, _ := unstructured.NestedString(cm.Object, "data", "lifeboat.json")
	var d map[string]any
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	return d
}

// TestDashboardSchema checks the dashboard against the dashboard model of
// the Grafana version it targets, Grafana 11 (schemaVersion 39): the
// required top-level fields and their types, unique panel ids, grid
// positions inside the 24-column grid without overlaps, known panel types,
// Prometheus targets with unique refIds, and template variables of known
// types. Grafana migrates dashboards up from older schema versions but not
// down, so a newer schemaVersion is refused too.
func TestDashboardSchema(t *testing.T) {
	_, objs := mustRender(t, "mon", "lifeboat", monitoringValues())
	d := dashboardJSON(t, objs)
	if v, _ := d["schemaVersion"].(float64); v != 39 {
		t.Errorf("schemaVersion %v, want 39 (Grafana 11)", d["schemaVersion"])
	}
	for field, kind := range map[string]string{
		"title": "string", "uid": "string", "panels": "array", "templating": "object", "time": "object",
		"tags": "array", "editable": "bool", "refresh": "string", "annotations": "object", "graphTooltip": "number",
	} {
		if got := jsonKind(d[field]); got != kind {
			t.Errorf("%s: %s, want %s", field, got, kind)
		}
	}
	if uid, _ := d["uid"].(string); len(uid) == 0 || len(uid) > 40 {
		t.Errorf("uid %q: Grafana needs 1 to 40 characters", uid)
	}
	panels, _ := d["panels"].([]any)
	if len(panels) == 0 {
		t.Fatal("no panels")
	}
	ids := map[float64]bool{}
	var cells [][4]float64
	for i, p := range panels {
		pm, _ := p.(map[string]any)
		id, _ := pm["id"].(float64)
		if id <= 0 || ids[id] {
			t.Errorf("panel %d: id %v missing or repeated", i, pm["id"])
		}
		ids[id] = true
		typ, _ := pm["type"].(string)
		if !slices.Contains([]string{"row", "timeseries", "stat", "gauge", "table", "bargauge", "text"}, typ) {
			t.Errorf("panel %d: unknown type %q", i, typ)
		}
		g, _ := pm["gridPos"].(map[string]any)
		x, y, w, h := num(g["x"]), num(g["y"]), num(g["w"]), num(g["h"])
		if w <= 0 || h <= 0 || x < 0 || y < 0 || x+w > 24 {
			t.Errorf("panel %d (%v): gridPos %v outside the 24-column grid", i, pm["title"], g)
		}
		for _, c := range cells {
			if x < c[0]+c[2] && c[0] < x+w && y < c[1]+c[3] && c[1] < y+h {
				t.Errorf("panel %d (%v) overlaps another panel", i, pm["title"])
			}
		}
		cells = append(cells, [4]float64{x, y, w, h})
		if typ == "row" {
			continue
		}
		targets, _ := pm["targets"].([]any)
		if len(targets) == 0 {
			t.Errorf("panel %d (%v): no targets", i, pm["title"])
		}
		refs := map[string]bool{}
		for _, tg := range targets {
			tm, _ := tg.(map[string]any)
			ref, _ := tm["refId"].(string)
			if ref == "" || refs[ref] || tm["expr"] == nil {
				t.Errorf("panel %d (%v): target %v without expr or with a missing/repeated refId", i, pm["title"], tm)
			}
			refs[ref] = true
		}
	}
	tl, _ := d["templating"].(map[string]any)
	vars, _ := tl["list"].([]any)
	for _, v := range vars {
		vm, _ := v.(map[string]any)
		if typ, _ := vm["type"].(string); !slices.Contains([]string{"datasource", "query", "custom", "constant", "interval"}, typ) || vm["name"] == "" {
			t.Errorf("template variable %v: unknown type or no name", vm)
		}
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "missing"
}

func num(v any) float64 {
	f, ok := v.(float64)
	if !ok {
		return -1
	}
	return f
}

var metricName = regexp.MustCompile(`\blifeboat_[a-z_]+\b`)

// queriedMetrics returns every lifeboat metric the rules and the dashboard
// query.
func queriedMetrics(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	set := map[string]bool{}
	for _, m := range metricName.FindAllString(string(renderedRules(t, objs)), -1) {
		set[m] = true
	}
	b, err := json.Marshal(dashboardJSON(t, objs)["panels"])
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metricName.FindAllString(string(b), -1) {
		set[m] = true
	}
	out := make([]string, 0, len(set))
	for m := range set {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// TestMonitoringQueriesExportedMetrics runs the real binary (an agent
// draining its node on a spot notice, and `lifeboat plan --serve` under the
// chart's plan ServiceAccount with the chart's arguments) and checks that
// every metric the chart's rules and dashboard query is on one of their
// live /metrics pages.
func TestMonitoringQueriesExportedMetrics(t *testing.T) {
	c := testbed.Get(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	_, objs := mustRender(t, "mon-"+ns, ns, monitoringValues())
	applyRBAC(t, c, ns, objs)
	dir := t.TempDir()
	bin := buildLifeboat(t, dir)
	planID := serviceAccountIdentity(t, c, dir, ns, one(t, objs, "ServiceAccount", "-plan").GetName())

	node := c.AddNode(t, testbed.UniqueName("mon")).Name
	// A spare node in the same pool takes the evicted pods' replacements.
	c.AddNode(t, testbed.UniqueName("mon"), func(n *corev1.Node) { n.Labels[testbed.LabelPool] = node })
	web := testbed.Deployment(ns, "web", node, 2)
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, web, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Eventually(t, time.Minute, func() (bool, error) {
		n, err := c.ReadyPods(ctx, ns, "app=web")
		return n == 2, err
	})

	// plan --serve with the chart's own arguments, as the plan ServiceAccount.
	planAddr := freeAddr(t)
	args := append(containerArgs(t, objs, "Deployment", "-plan"), "--kubeconfig", planID.kubeconfig, "--metrics-address", planAddr)
	planProc := start(t, bin, args...)
	waitReady(t, planAddr)

	// An agent that drains its node on a spot notice.
	emu := emuaws.New(emuaws.Options{Log: logging.Discard()})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	agentAddr := freeAddr(t)
	agent := start(t, bin, "agent", "--node", node, "--platform", "aws", "--metadata-url", srv.URL, "--kubeconfig", c.Kubeconfig,
		"--metrics-address", agentAddr, "--delete-node=false")
	waitReady(t, agentAddr)
	if _, err := emu.ScheduleSpot(0, "terminate", 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	var agentMetrics string
	testbed.Eventually(t, 2*time.Minute, func() (bool, error) {
		agentMetrics = get(agentAddr)
		return strings.Contains(agentMetrics, `lifeboat_drains_total{result="succeeded"} 1`), nil
	})
	planMetrics := get(planAddr)
	exported := map[string]bool{}
	for _, page := range []string{agentMetrics, planMetrics} {
		for _, line := range strings.Split(page, "\n") {
			if name := metricName.FindString(line); name != "" && strings.HasPrefix(line, name) {
				exported[name] = true
			}
		}
	}
	queried := queriedMetrics(t, objs)
	if len(queried) < 10 {
		t.Fatalf("only %d metrics queried: %v", len(queried), queried)
	}
	for _, m := range queried {
		if !exported[m] {
			t.Errorf("%s is queried by the chart's rules or dashboard but exported by neither the agent nor plan --serve", m)
		}
	}
	t.Logf("queried and exported: %s", strings.Join(queried, ", "))
	for _, p := range []*proc{planProc, agent} {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		if code := p.wait(t, time.Minute); code != 0 {
			t.Errorf("lifeboat %s exited %d\n%s", p.cmd.Args[1], code, p.stderr)
		}
	}
	noForbidden(t, planProc.stderr.String())
}

func get(addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// prometheusRuleCRD is a minimal monitoring.coreos.com/v1 PrometheusRule CRD
// (the Prometheus Operator's, with only the required groups), so the chart's
// rules are checked by the API server too.
const prometheusRuleCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: prometheusrules.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names: {kind: PrometheusRule, listKind: PrometheusRuleList, plural: prometheusrules, singular: prometheusrule}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [groups]
              x-kubernetes-preserve-unknown-fields: true
`

// TestMonitoringObjectsApply applies the plan Deployment, the
// PrometheusRule, the dashboard ConfigMap and the ServiceMonitor with
// server-side dry-run (strict field validation) in a namespace that warns
// about pods violating the restricted Pod Security Standard: the plan pod
// must be restricted.
func TestMonitoringObjectsApply(t *testing.T) {
	c := testbed.Get(t)
	installServiceMonitorCRD(t, c)
	if _, stderr, err := kubectl(t, c, []byte(prometheusRuleCRD), "apply", "-f", "-"); err != nil {
		t.Fatalf("PrometheusRule CRD: %v\n%s", err, stderr)
	}
	t.Cleanup(func() {
		_, _, _ = kubectl(t, c, nil, "delete", "--ignore-not-found", "crd/prometheusrules.monitoring.coreos.com")
	})
	if _, stderr, err := kubectl(t, c, nil, "wait", "--for=condition=Established", "--timeout=60s", "crd/prometheusrules.monitoring.coreos.com"); err != nil {
		t.Fatalf("PrometheusRule CRD: %v\n%s", err, stderr)
	}
	ns := restrictedNamespace(t, c)
	values := set(monitoringValues(), "agent.enabled", false)
	manifest, objs := mustRender(t, "mon", ns, values)
	for _, want := range [][2]string{{"Deployment", "-plan"}, {"PrometheusRule", ""}, {"ConfigMap", "-dashboard"}, {"ServiceMonitor", ""}, {"Service", "-plan-metrics"}, {"ClusterRole", "-plan"}} {
		one(t, objs, want[0], want[1])
	}
	out, stderr, err := kubectl(t, c, manifest, "apply", "--server-side", "--dry-run=server", "--validate=strict",
		"--field-manager=lifeboat-deploytest", "-n", ns, "-f", "-")
	if err != nil {
		t.Fatalf("server-side dry-run apply failed: %v\n%s\n%s", err, stderr, out)
	}
	if podSecurityWarning.MatchString(stderr) {
		t.Errorf("pods would violate the restricted Pod Security Standard:\n%s", stderr)
	}
	if got, want := strings.Count(out, "serverside-applied (server dry run)"), len(objs); got != want {
		t.Errorf("%d objects accepted, want %d:\n%s", got, want, out)
	}
}
