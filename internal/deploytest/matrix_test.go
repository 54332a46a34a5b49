//go:build linux

package deploytest

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// combo is one combination of the chart's main switches.
type combo struct {
	agent, windows, queue, hostNetwork, existingSecret, serviceMonitor, networkPolicy bool
}

// allCombos is every combination of the main switches (2^7).
func allCombos() []combo {
	var out []combo
	for i := range 1 << 7 {
		b := func(bit int) bool { return i&(1<<bit) != 0 }
		out = append(out, combo{b(0), b(1), b(2), b(3), b(4), b(5), b(6)})
	}
	return out
}

func (c combo) String() string {
	var parts []string
	for _, f := range []struct {
		on   bool
		name string
	}{
		{c.agent, "agent"},
		{c.windows, "windows"},
		{c.queue, "queue"},
		{c.hostNetwork, "hostnet"},
		{c.existingSecret, "existing-secret"},
		{c.serviceMonitor, "servicemonitor"},
		{c.networkPolicy, "netpol"},
	} {
		if f.on {
			parts = append(parts, f.name)
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "+")
}

// Credentials of the created Secret: they must appear nowhere else.
const (
	slackToken    = "xoxb-deploytest-slack-token"
	telegramToken = "123456:deploytest-telegram-token"
	webhookURL    = "https://hooks.example/deploytest-webhook-secret"
	existingName  = "lifeboat-notify-existing"
)

func (c combo) values() map[string]any {
	v := set(baseValues(),
		"agent.enabled", c.agent, "agent.windows.enabled", c.windows, "queue.enabled", c.queue,
		"agent.hostNetwork", c.hostNetwork, "serviceMonitor.enabled", c.serviceMonitor,
		"networkPolicy.enabled", c.networkPolicy, "networkPolicy.egress.enabled", c.networkPolicy,
		"notifications.clusterName", "deploytest",
		"notifications.slack.enabled", true, "notifications.slack.channel", "C0123456",
		"notifications.telegram.enabled", true, "notifications.telegram.chatID", "-1001234",
		"notifications.webhook.enabled", true, "notifications.webhook.template", `{"text": {{ printf "%q" .Text }}}`,
		"queue.serviceAccount.annotations", map[string]any{"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/lifeboat"},
	)
	if c.existingSecret {
		return set(v, "notifications.existingSecret", existingName)
	}
	return set(v, "notifications.secretValues.slackToken", slackToken,
		"notifications.secretValues.telegramToken", telegramToken, "notifications.secretValues.webhookURL", webhookURL)
}

// TestChartValuesMatrix renders every combination of the main values,
// checks what a user relies on in each, and applies them all with
// server-side dry-run (strict field validation) to the test API server,
// where a Pod Security "restricted" warning level shows which pods would
// violate it.
func TestChartValuesMatrix(t *testing.T) {
	combos := allCombos()
	rendered := make([][]byte, len(combos))
	for i, cb := range combos {
		t.Run("render/"+cb.String(), func(t *testing.T) {
			manifest, objs := mustRender(t, release(i), "lifeboat", cb.values())
			checkCombo(t, cb, objs, manifest)
			rendered[i] = manifest
		})
	}
	if t.Failed() {
		return
	}
	c := testbed.Get(t)
	installServiceMonitorCRD(t, c)
	// One namespace per (hostNetwork, windows) pair, so Pod Security
	// warnings can be attributed; batches keep kubectl calls few.
	groups := map[[2]bool][]int{}
	for i, cb := range combos {
		key := [2]bool{cb.hostNetwork, cb.windows}
		groups[key] = append(groups[key], i)
	}
	for key, idx := range groups {
		ns := restrictedNamespace(t, c)
		for start := 0; start < len(idx); start += 16 {
			batch := idx[start:min(start+16, len(idx))]
			name := fmt.Sprintf("apply/hostnet=%v+windows=%v/%d", key[0], key[1], start/16)
			t.Run(name, func(t *testing.T) {
				var all bytes.Buffer
				for _, i := range batch {
					m, err := render(t, release(i), ns, combos[i].values())
					if err != nil {
						t.Fatal(err)
					}
					all.Write(m)
					all.WriteString("\n---\n")
				}
				out, stderr, err := kubectl(t, c, all.Bytes(), "apply", "--server-side", "--dry-run=server",
					"--validate=strict", "--field-manager=lifeboat-deploytest", "-n", ns, "-f", "-")
				if err != nil {
					t.Fatalf("server-side dry-run apply failed: %v\n%s\n%s", err, stderr, out)
				}
				checkPodSecurityWarnings(t, stderr, key[0], key[1])
				wantApplied := 0
				for _, i := range batch {
					wantApplied += len(splitObjects(t, rendered[i]))
				}
				if got := strings.Count(out, "serverside-applied (server dry run)"); got != wantApplied {
					t.Errorf("%d objects accepted, want %d:\n%s", got, wantApplied, out)
				}
			})
		}
	}
}

func release(i int) string { return fmt.Sprintf("m%d", i) }

// restrictedNamespace creates a namespace that warns about pods violating
// the restricted Pod Security Standard, with the existing notifications
// Secret some combinations refer to.
func restrictedNamespace(t *testing.T, c *testbed.Cluster) string {
	t.Helper()
	ns := c.Namespace(t)
	labelNamespace(t, c, ns, "pod-security.kubernetes.io/warn", "restricted")
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: existingName, Namespace: ns}, StringData: map[string]string{
		"slack-token": "xoxb-existing", "telegram-token": "1:existing", "webhook-url": "https://hooks.example/existing",
	}}
	if _, err := c.Client.CoreV1().Secrets(ns).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return ns
}

var podSecurityWarning = regexp.MustCompile(`would violate PodSecurity "restricted:[^"]+": (.*)`)

// checkPodSecurityWarnings allows exactly the restricted-profile violations
// each choice implies: host networking (and the host port it turns the
// metrics port into) for the Linux agent, HostProcess for the Windows one.
// The queue consumer and the agent without hostNetwork must be restricted.
func checkPodSecurityWarnings(t *testing.T, stderr string, hostNetwork, windows bool) {
	t.Helper()
	var allowed []string
	if hostNetwork || windows {
		allowed = append(allowed, "host namespaces (hostNetwork=true)", `hostPort (container "agent" uses hostPort 9101)`)
	}
	if windows {
		allowed = append(allowed, "hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true)")
	}
	for _, m := range podSecurityWarning.FindAllStringSubmatch(stderr, -1) {
		rest := m[1]
		for _, a := range allowed {
			rest = strings.ReplaceAll(rest, a, "")
		}
		if strings.Trim(rest, ", ") != "" {
			t.Errorf("unexpected Pod Security violations (hostNetwork=%v, windows=%v): %s", hostNetwork, windows, m[1])
		}
	}
	if (hostNetwork || windows) && !podSecurityWarning.MatchString(stderr) {
		// Every batch holds agents; their host networking must be reported,
		// or the warnings are not being checked at all.
		t.Errorf("no Pod Security warning for host-network agents; is the namespace's warn label in effect?\n%s", stderr)
	}
	if !hostNetwork && !windows && podSecurityWarning.MatchString(stderr) {
		t.Errorf("pods would violate the restricted Pod Security Standard:\n%s", stderr)
	}
}

// checkCombo checks what users rely on in one rendering.
func checkCombo(t *testing.T, cb combo, objs []*unstructured.Unstructured, manifest []byte) {
	t.Helper()
	count := func(kind string) int { return len(find(objs, kind)) }
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	anyWorkload := cb.agent || cb.queue
	want := map[string]int{
		"DaemonSet":           b2i(cb.agent) + b2i(cb.agent && cb.windows),
		"Deployment":          b2i(cb.queue),
		"PodDisruptionBudget": b2i(cb.queue),
		"ServiceAccount":      b2i(cb.agent) + b2i(cb.queue),
		"ClusterRole":         b2i(cb.agent) + b2i(cb.queue),
		"ClusterRoleBinding":  b2i(cb.agent) + b2i(cb.queue),
		"Role":                b2i(cb.queue),
		"RoleBinding":         b2i(cb.queue),
		"Secret":              b2i(anyWorkload && !cb.existingSecret),
		"ConfigMap":           b2i(anyWorkload),
		"ServiceMonitor":      b2i(cb.serviceMonitor && anyWorkload),
		"Service":             b2i(cb.serviceMonitor) * (b2i(cb.agent) + b2i(cb.agent && cb.windows) + b2i(cb.queue)),
		"NetworkPolicy":       b2i(cb.networkPolicy) * (b2i(cb.agent && !cb.hostNetwork) + b2i(cb.queue)),
	}
	kinds := map[string]bool{}
	for _, o := range objs {
		kinds[o.GetKind()] = true
	}
	for kind := range kinds {
		if _, ok := want[kind]; !ok {
			t.Errorf("unexpected %s in the rendering", kind)
		}
	}
	for kind, n := range want {
		if got := count(kind); got != n {
			t.Errorf("%d %s objects, want %d", got, kind, n)
		}
	}
	if !cb.existingSecret {
		// Credentials live in the Secret only: never in arguments, env or annotations.
		for _, o := range objs {
			if o.GetKind() == "Secret" {
				continue
			}
			y := fmt.Sprint(o.Object)
			for _, secret := range []string{slackToken, telegramToken, webhookURL} {
				if strings.Contains(y, secret) {
					t.Errorf("%s %s contains a notification credential", o.GetKind(), o.GetName())
				}
			}
		}
	}
	for _, o := range find(objs, "DaemonSet") {
		checkAgent(t, cb, o)
	}
	for _, o := range find(objs, "Deployment") {
		checkQueue(t, cb, o)
	}
	if t.Failed() {
		t.Logf("rendering of %s:\n%s", cb, manifest)
	}
}

func checkAgent(t *testing.T, cb combo, o *unstructured.Unstructured) {
	ds := typed[appsv1.DaemonSet](t, o)
	pod := ds.Spec.Template.Spec
	windows := strings.HasSuffix(ds.Name, "-agent-windows")
	osName := "linux"
	if windows {
		osName = "windows"
	}
	ctr := pod.Containers[0]
	checks := []check{
		{pod.PriorityClassName == "system-node-critical", "priorityClassName system-node-critical"},
		{pod.EnableServiceLinks != nil && !*pod.EnableServiceLinks, "no Service environment variables (they could look like LIFEBOAT_* flags)"},
		{len(pod.Tolerations) == 1 && pod.Tolerations[0].Operator == corev1.TolerationOpExists && pod.Tolerations[0].Key == "", "tolerates every taint"},
		{pod.NodeSelector["kubernetes.io/os"] == osName, "selects kubernetes.io/os=" + osName},
		{pod.OS != nil && string(pod.OS.Name) == osName, "spec.os.name " + osName},
		{pod.HostNetwork == (cb.hostNetwork || windows), "hostNetwork as configured (always on Windows)"},
		{!pod.HostNetwork || windows || pod.DNSPolicy == corev1.DNSClusterFirstWithHostNet, "ClusterFirstWithHostNet DNS with hostNetwork"},
		{fieldRef(ctr, "NODE_NAME") == "spec.nodeName", "NODE_NAME from spec.nodeName"},
		{fieldRef(ctr, "POD_NAME") == "metadata.name", "POD_NAME from metadata.name"},
		{fieldRef(ctr, "POD_NAMESPACE") == "metadata.namespace", "POD_NAMESPACE from metadata.namespace"},
		{contains(ctr.Args, "--run-mode=pod"), "--run-mode=pod"},
		{ctr.LivenessProbe != nil && ctr.LivenessProbe.HTTPGet.Path == "/healthz", "liveness on /healthz"},
		{ctr.ReadinessProbe != nil && ctr.ReadinessProbe.HTTPGet.Path == "/readyz", "readiness on /readyz"},
		{contains(ctr.Args, "--metrics-address=:9101") && ctr.Ports[0].ContainerPort == 9101, "probes hit the metrics address"},
		{ctr.Resources.Limits.Memory().String() != "0", "a memory limit"},
		{pod.TerminationGracePeriodSeconds != nil && time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second > shutdownTimeout(t, ctr.Args), "terminationGracePeriodSeconds longer than --shutdown-timeout"},
	}
	if windows {
		sc := pod.SecurityContext
		checks = append(checks, check{sc != nil && sc.WindowsOptions != nil && sc.WindowsOptions.HostProcess != nil && *sc.WindowsOptions.HostProcess, "a HostProcess pod"})
	} else {
		checks = append(checks, restrictedChecks(pod, ctr)...)
	}
	checks = append(checks, notificationChecks(cb, pod, ctr)...)
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: want %s", ds.Name, c.what)
		}
	}
	validateContainer(t, ctr)
}

func checkQueue(t *testing.T, cb combo, o *unstructured.Unstructured) {
	d := typed[appsv1.Deployment](t, o)
	pod := d.Spec.Template.Spec
	ctr := pod.Containers[0]
	checks := []check{
		{d.Spec.Replicas != nil && *d.Spec.Replicas == 2, "2 replicas"},
		{pod.EnableServiceLinks != nil && !*pod.EnableServiceLinks, "no Service environment variables"},
		{contains(ctr.Args, "--leader-elect=true"), "leader election"},
		{containsPrefix(ctr.Args, "--leader-elect-namespace=") && containsPrefix(ctr.Args, "--queue-url=https://sqs."), "lease namespace and queue URL set"},
		{fieldRef(ctr, "POD_NAME") == "metadata.name", "POD_NAME (the leader identity)"},
		{len(pod.TopologySpreadConstraints) == 1, "replicas spread over nodes"},
	}
	checks = append(checks, restrictedChecks(pod, ctr)...)
	checks = append(checks, notificationChecks(cb, pod, ctr)...)
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: want %s", d.Name, c.what)
		}
	}
	validateContainer(t, ctr)
}

// check is one expectation: what is wanted, and whether it holds.
type check struct {
	ok   bool
	what string
}

// restrictedChecks are the restricted Pod Security Standard's demands.
func restrictedChecks(pod corev1.PodSpec, ctr corev1.Container) []check {
	psc, sc := pod.SecurityContext, ctr.SecurityContext
	return []check{
		{psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot, "runAsNonRoot"},
		{psc != nil && psc.RunAsUser != nil && *psc.RunAsUser == 65532, "runAsUser 65532"},
		{psc != nil && psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault, "seccomp RuntimeDefault"},
		{sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem, "readOnlyRootFilesystem"},
		{sc != nil && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation, "allowPrivilegeEscalation false"},
		{sc != nil && sc.Capabilities != nil && len(sc.Capabilities.Drop) == 1 && sc.Capabilities.Drop[0] == "ALL", "capabilities drop ALL"},
	}
}

// notificationChecks: the Secret (created or existing) is mounted, and the
// -file flags point at its keys.
func notificationChecks(cb combo, pod corev1.PodSpec, ctr corev1.Container) []check {
	secretName := "lifeboat-notifications"
	var vol *corev1.Volume
	for i := range pod.Volumes {
		if pod.Volumes[i].Secret != nil {
			vol = &pod.Volumes[i]
		}
	}
	mounted := false
	for _, m := range ctr.VolumeMounts {
		if vol != nil && m.Name == vol.Name && m.MountPath == "/etc/lifeboat/notifications" && m.ReadOnly {
			mounted = true
		}
	}
	nameOK := vol != nil && (cb.existingSecret && vol.Secret.SecretName == existingName ||
		!cb.existingSecret && strings.HasSuffix(vol.Secret.SecretName, secretName))
	return []check{
		{nameOK, "the notifications Secret volume (existing: " + fmt.Sprint(cb.existingSecret) + ")"},
		{mounted, "the Secret mounted read-only at /etc/lifeboat/notifications"},
		{contains(ctr.Args, "--slack-token-file=/etc/lifeboat/notifications/slack-token"), "--slack-token-file"},
		{contains(ctr.Args, "--telegram-token-file=/etc/lifeboat/notifications/telegram-token"), "--telegram-token-file"},
		{contains(ctr.Args, "--webhook-url-file=/etc/lifeboat/notifications/webhook-url"), "--webhook-url-file"},
		{contains(ctr.Args, "--webhook-template-file=/etc/lifeboat/webhook-template/template"), "--webhook-template-file"},
	}
}

func fieldRef(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func shutdownTimeout(t *testing.T, args []string) time.Duration {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--shutdown-timeout="); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	t.Fatal("no --shutdown-timeout")
	return 0
}

// serviceMonitorCRD is a minimal monitoring.coreos.com/v1 ServiceMonitor
// CRD (the Prometheus Operator's, without its schema), so the chart's
// ServiceMonitor is checked by the API server too.
const serviceMonitorCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
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
              required: [selector, endpoints]
              x-kubernetes-preserve-unknown-fields: true
`

var crdOnce sync.Once

func installServiceMonitorCRD(t *testing.T, c *testbed.Cluster) {
	t.Helper()
	var err error
	crdOnce.Do(func() {
		var stderr string
		if _, stderr, err = kubectl(t, c, []byte(serviceMonitorCRD), "apply", "-f", "-"); err != nil {
			err = fmt.Errorf("%w: %s", err, stderr)
			return
		}
		if _, stderr, err = kubectl(t, c, nil, "wait", "--for=condition=Established", "--timeout=60s", "crd/servicemonitors.monitoring.coreos.com"); err != nil {
			err = fmt.Errorf("%w: %s", err, stderr)
		}
	})
	if err != nil {
		t.Fatalf("installing the ServiceMonitor CRD: %v", err)
	}
}
