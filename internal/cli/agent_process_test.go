//go:build linux

package cli_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/lifeboat-dev/lifeboat/internal/cli"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	emuaws "github.com/lifeboat-dev/lifeboat/internal/emulate/aws"
	emuazure "github.com/lifeboat-dev/lifeboat/internal/emulate/azure"
	emugcp "github.com/lifeboat-dev/lifeboat/internal/emulate/gcp"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// lifeboatBinary builds cmd/lifeboat once per test binary.
func lifeboatBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		root, err := testbed.RepoRoot()
		if err != nil {
			binErr = err
			return
		}
		dir, err := os.MkdirTemp("", "lifeboat-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "lifeboat")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/lifeboat")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// agentProc is a running `lifeboat agent` process.
type agentProc struct {
	cmd     *exec.Cmd
	out     *bytes.Buffer
	metrics string
	done    chan error
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startAgent(t testing.TB, env []string, args ...string) *agentProc {
	t.Helper()
	p := startAgentNoWait(t, env, args...)
	testbed.Eventually(t, 30*time.Second, func() (bool, error) { return ready(p), nil })
	return p
}

func (p *agentProc) wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(timeout):
		t.Fatalf("agent did not exit within %s", timeout)
		return nil
	}
}

type agentEnv struct {
	c    *testbed.Cluster
	ctx  context.Context
	ns   string
	pool string
	node string
	emu  *emuaws.Server
	url  string
}

func newAgentEnv(t *testing.T) *agentEnv {
	c := testbed.Get(t)
	e := &agentEnv{c: c, ctx: context.Background(), ns: c.Namespace(t), pool: testbed.UniqueName("pool"), node: testbed.UniqueName("proc")}
	c.AddNode(t, e.node, func(n *corev1.Node) {
		n.Labels[testbed.LabelPool] = e.pool
		n.Spec.ProviderID = "aws:///us-east-1a/i-0123456789abcdef0"
	})
	e.url, e.emu = newEmulator(t)
	return e
}

func newEmulator(t testing.TB) (string, *emuaws.Server) {
	emu := emuaws.New(emuaws.Options{Log: logging.Discard()})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return srv.URL, emu
}

func (e *agentEnv) deploy(t *testing.T, replicas int32, mutate func(*appsv1.Deployment)) {
	t.Helper()
	d := testbed.Deployment(e.ns, "web", e.pool, replicas, mutate)
	if _, err := e.c.Client.AppsV1().Deployments(e.ns).Create(e.ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.c.Eventually(t, 60*time.Second, func() (bool, error) {
		n, err := e.c.ReadyPods(e.ctx, e.ns, "app=web")
		return n == int(replicas), err
	})
}

func (e *agentEnv) podsOnNode(t testing.TB) int {
	l, err := e.c.Client.CoreV1().Pods(e.ns).List(e.ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + e.node})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			n++
		}
	}
	return n
}

func (e *agentEnv) args(extra ...string) []string {
	return append([]string{"--node", e.node, "--platform", "aws", "--metadata-url", e.url, "--kubeconfig", e.c.Kubeconfig}, extra...)
}

// TestAgentKilledMidDrainResumes: SIGKILL in the middle of a spot drain,
// restart, and the drain finishes; the restart does not uncordon.
func TestAgentKilledMidDrainResumes(t *testing.T) {
	e := newAgentEnv(t)
	e.deploy(t, 4, func(d *appsv1.Deployment) {
		d.Spec.Template.Annotations = map[string]string{"pod-ready.stage.kwok.x-k8s.io/delay": "3s"}
	})
	if _, err := e.c.Client.PolicyV1().PodDisruptionBudgets(e.ns).Create(e.ctx, testbed.PDB(e.ns, "web", "web", 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.c.Eventually(t, 30*time.Second, func() (bool, error) {
		b, err := e.c.Client.PolicyV1().PodDisruptionBudgets(e.ns).Get(e.ctx, "web", metav1.GetOptions{})
		return err == nil && b.Status.DisruptionsAllowed == 1, err
	})
	e.c.AddNode(t, testbed.UniqueName("spare"), func(n *corev1.Node) { n.Labels[testbed.LabelPool] = e.pool })

	p := startAgent(t, nil, e.args()...)
	if _, err := e.emu.ScheduleSpot(0, "terminate", 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	e.c.Eventually(t, 30*time.Second, func() (bool, error) { n := e.podsOnNode(t); return n > 0 && n < 4, nil })
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.wait(t, 10*time.Second)
	n, err := e.c.Client.CoreV1().Nodes().Get(e.ctx, e.node, metav1.GetOptions{})
	if err != nil || !n.Spec.Unschedulable {
		t.Fatalf("after SIGKILL the node should still be cordoned: %v", err)
	}
	left := e.podsOnNode(t)
	if left == 0 {
		t.Fatal("the drain finished before the kill; the test proves nothing")
	}
	startAgent(t, nil, e.args()...)
	e.c.Eventually(t, 60*time.Second, func() (bool, error) {
		_, err := e.c.Client.CoreV1().Nodes().Get(e.ctx, e.node, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if got := e.podsOnNode(t); got != 0 {
		t.Errorf("%d pods still on the node after the restarted agent finished", got)
	}
}

// fakeSystemctl puts a systemctl on PATH that answers like the real one:
// `list-jobs --no-legend --plain` prints the job (if any) as JOB UNIT TYPE
// STATE, and `is-system-running` prints the state and exits 1 unless it is
// "running". An empty state makes every call fail, as on a host where
// systemd cannot be reached.
func fakeSystemctl(t *testing.T, job, state string) []string {
	dir := t.TempDir()
	jobs := ""
	if job != "" {
		jobs = "echo '1 " + job + " start running'; echo '2 shutdown.target start waiting'"
	}
	script := "#!/bin/sh\ncase \"$1\" in\n" +
		"list-jobs) " + cmp.Or(jobs, "true") + " ;;\n" +
		"is-system-running) echo '" + state + "'; [ '" + state + "' = running ] ;;\n" +
		"*) exit 1 ;;\nesac\n"
	if state == "" {
		script = "#!/bin/sh\necho 'Failed to connect to bus: No such file or directory' >&2\nexit 1\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{"PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH")}
}

// TestAgentSIGTERM: what SIGTERM does, per run mode and what systemd says.
// In host mode only a shutdown job or a stopping system drains; a restart of
// the unit, or a host whose state cannot be read, exits without touching the
// node and says why in one log line.
func TestAgentSIGTERM(t *testing.T) {
	cases := []struct {
		name        string
		mode        string
		job, state  string
		env, extra  []string
		podDeleted  bool
		wantDrained bool
		wantNode    bool
		wantReason  string
	}{
		{name: "host power-off drains and deletes the node", mode: "host", job: "poweroff.target", state: "stopping", wantDrained: true},
		{name: "host reboot drains and keeps the node", mode: "host", job: "reboot.target", state: "stopping", wantDrained: true, wantNode: true},
		{name: "host stopping without a job drains and keeps the node", mode: "host", state: "stopping", wantDrained: true, wantNode: true},
		{
			name: "host restart (no shutdown job) just exits", mode: "host", state: "running", wantNode: true,
			wantReason: "no shutdown job queued and the system is running: only the lifeboat service is stopping",
		},
		{
			name: "host without a readable systemd just exits", mode: "host", wantNode: true,
			wantReason: "cannot tell whether the host is shutting down",
		},
		{
			name: "--shutdown-drain=always drains without a job", mode: "host", state: "running",
			extra: []string{"--shutdown-drain", "always"}, wantDrained: true, wantNode: true,
		},
		{name: "pod rollout just exits", mode: "pod", job: "poweroff.target", state: "stopping", podDeleted: true, wantNode: true, wantReason: "own pod deleted through the API"},
		{
			// Were auto to fall back to host here, the queued power-off would drain.
			name: "auto in a pod without POD_NAME just exits", mode: "auto", job: "poweroff.target", state: "stopping",
			env: []string{"KUBERNETES_SERVICE_HOST=10.96.0.1", "POD_NAME="}, wantNode: true, wantReason: "pod identity unknown",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newAgentEnv(t)
			e.deploy(t, 2, nil)
			before := e.podUIDs(t)
			env := append(fakeSystemctl(t, tc.job, tc.state), tc.env...)
			args := append(e.args("--run-mode", tc.mode, "--shutdown-timeout", "30s"), tc.extra...)
			if tc.mode == "pod" {
				args = append(args, "--pod-name", e.selfPod(t, tc.podDeleted), "--pod-namespace", e.ns)
			}
			p := startAgent(t, env, args...)
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := p.wait(t, 60*time.Second); err != nil {
				t.Fatalf("agent exit: %v\n%s", err, p.out)
			}
			n, err := e.c.Client.CoreV1().Nodes().Get(e.ctx, e.node, metav1.GetOptions{})
			if exists := err == nil; exists != tc.wantNode {
				t.Errorf("node exists = %v, want %v", exists, tc.wantNode)
			}
			if drained := e.podsOnNode(t) == 0; drained != tc.wantDrained {
				t.Errorf("drained = %v, want %v\n%s", drained, tc.wantDrained, p.out)
			}
			if tc.wantDrained || err != nil {
				return
			}
			if n.Spec.Unschedulable || len(n.Annotations[drain.AnnotationCordon]) > 0 || len(n.Spec.Taints) > 0 {
				t.Errorf("the node was touched: unschedulable %v, annotations %v, taints %v", n.Spec.Unschedulable, n.Annotations, n.Spec.Taints)
			}
			if after := e.podUIDs(t); !slices.Equal(after, before) {
				t.Errorf("pods on the node changed from %v to %v", before, after)
			}
			why := signalLines(p.out.String())
			if len(why) != 1 || !strings.Contains(why[0], "exiting without draining") || !strings.Contains(why[0], tc.wantReason) {
				t.Errorf("want one log line saying why (%q), got %q\n%s", tc.wantReason, why, p.out)
			}
		})
	}
}

// signalLines are the agent's log lines about the termination signal.
func signalLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "termination signal in") {
			lines = append(lines, l)
		}
	}
	return lines
}

// selfPod creates the agent's own pod on the node, held by a finalizer so
// that a deleted one stays readable with its deletionTimestamp.
func (e *agentEnv) selfPod(t *testing.T, deleted bool) string {
	self := testbed.Pod(e.ns, "lifeboat-agent", e.node, func(p *corev1.Pod) { p.Finalizers = []string{"lifeboat.dev/test-hold"} })
	if _, err := e.c.Client.CoreV1().Pods(e.ns).Create(e.ctx, self, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.c.Client.CoreV1().Pods(e.ns).Patch(e.ctx, self.Name, "application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	})
	if deleted {
		if err := e.c.Client.CoreV1().Pods(e.ns).Delete(e.ctx, self.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return self.Name
}

// podUIDs lists the UIDs of the live pods on the node, sorted.
func (e *agentEnv) podUIDs(t testing.TB) []string {
	l, err := e.c.Client.CoreV1().Pods(e.ns).List(e.ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + e.node})
	if err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil && p.Name != "lifeboat-agent" {
			uids = append(uids, string(p.UID))
		}
	}
	slices.Sort(uids)
	return uids
}

// TestAgentRefusesConflictingRunMode: flags that contradict each other or
// the environment stop the agent at start, naming the flag.
func TestAgentRefusesConflictingRunMode(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"host mode in a pod", []string{"KUBERNETES_SERVICE_HOST=10.96.0.1"}, []string{"--run-mode", "host"}, "--run-mode=host: KUBERNETES_SERVICE_HOST is set"},
		{"host mode with a pod name", []string{"POD_NAME=lifeboat-agent-x"}, []string{"--run-mode", "host"}, "--run-mode=host: a pod name is set"},
		{"bad --shutdown-drain", nil, []string{"--shutdown-drain", "sometimes"}, "--shutdown-drain"},
		{"bad LIFEBOAT_SHUTDOWN_DRAIN", []string{"LIFEBOAT_SHUTDOWN_DRAIN=never"}, nil, "--shutdown-drain"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(lifeboatBinary(t), append([]string{"agent", "--node", "n", "--kubeconfig", "/nonexistent"}, tc.args...)...)
			cmd.Env = append(os.Environ(), tc.env...)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Errorf("agent %v: err %v, output %q; want a start-up error containing %q", tc.args, err, out, tc.want)
			}
		})
	}
}

// TestAgentMetadataURLContract: --metadata-url points the agent at any
// cloud's metadata service (here the Azure and GCP emulators).
func TestAgentMetadataURLContract(t *testing.T) {
	cases := []struct {
		platform, providerID string
		emulator             http.Handler
		trigger              func(t *testing.T, h http.Handler)
	}{
		{
			"azure", "azure:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-12345678-vmss/virtualMachines/0",
			emuazure.New(emuazure.Options{Log: logging.Discard()}), func(t *testing.T, h http.Handler) {
				if _, err := h.(*emuazure.Server).Schedule(emuazure.EventSpec{EventType: emuazure.EventPreempt}); err != nil {
					t.Fatal(err)
				}
			},
		},
		{"gcp", "gce://project/us-central1-a/vm-1", emugcp.New(emugcp.Options{Log: logging.Discard()}), func(t *testing.T, h http.Handler) {
			h.(*emugcp.Server).Preempt(0)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.platform, func(t *testing.T) {
			c := testbed.Get(t)
			node := testbed.UniqueName(tc.platform)
			c.AddNode(t, node, func(n *corev1.Node) { n.Spec.ProviderID = tc.providerID })
			srv := httptest.NewServer(tc.emulator)
			t.Cleanup(srv.Close)
			startAgent(t, nil, "--node", node, "--platform", "auto", "--metadata-url", srv.URL, "--kubeconfig", c.Kubeconfig)
			tc.trigger(t, tc.emulator)
			c.Eventually(t, 60*time.Second, func() (bool, error) {
				_, err := c.Client.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
				return apierrors.IsNotFound(err), nil
			})
		})
	}
}

// TestAgentMakesNoAPIRequestsWhileIdle counts the agent's requests to the API
// server through a proxy: start-up reads what it needs, then nothing until a
// notice arrives.
func TestAgentMakesNoAPIRequestsWhileIdle(t *testing.T) {
	e := newAgentEnv(t)
	rt, err := rest.TransportFor(e.c.Config)
	if err != nil {
		t.Fatal(err)
	}
	target, err := url.Parse(e.c.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	var mu sync.Mutex
	var seen []string
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = rt
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	kc := filepath.Join(t.TempDir(), "proxy.kubeconfig")
	cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters: [{name: p, cluster: {server: %q}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: p, context: {cluster: p, user: u}}]\ncurrent-context: p\n", srv.URL)
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	startAgent(t, nil, "--node", e.node, "--platform", "aws", "--metadata-url", e.url, "--kubeconfig", kc)
	// Start-up (reconciliation) is done once no request came for a second.
	last, quietSince := requests.Load(), time.Now()
	e.c.Eventually(t, 60*time.Second, func() (bool, error) {
		if n := requests.Load(); n != last {
			last, quietSince = n, time.Now()
		}
		return time.Since(quietSince) >= time.Second, nil
	})
	before := requests.Load()
	time.Sleep(5 * time.Second) // idle: ten spot polls, five events polls
	if idle := requests.Load() - before; idle != 0 {
		mu.Lock()
		t.Errorf("%d API requests while idle; all requests: %v", idle, seen)
		mu.Unlock()
	}
	// A notice makes it act: the same proxy sees the drain.
	if _, err := e.emu.ScheduleSpot(0, "terminate", 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	e.c.Eventually(t, 30*time.Second, func() (bool, error) {
		_, err := e.c.Client.CoreV1().Nodes().Get(e.ctx, e.node, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if requests.Load() == before {
		t.Error("the proxy saw no requests for the drain; the test does not observe the agent")
	}
}

// TestDrainInterruptedSaysWhatBlocksIt: Ctrl-C (SIGINT) to a `lifeboat
// drain` that waits forever, on a PDB that allows no disruption and on a
// pod held by a finalizer, names both before it exits.
func TestDrainInterruptedSaysWhatBlocksIt(t *testing.T) {
	e := newAgentEnv(t)
	e.deploy(t, 1, nil)
	if _, err := e.c.Client.PolicyV1().PodDisruptionBudgets(e.ns).Create(e.ctx, testbed.PDB(e.ns, "web", "web", 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.c.Eventually(t, 60*time.Second, func() (bool, error) {
		b, err := e.c.Client.PolicyV1().PodDisruptionBudgets(e.ns).Get(e.ctx, "web", metav1.GetOptions{})
		return err == nil && b.Status.ObservedGeneration == b.Generation && b.Status.ExpectedPods == 1, err
	})
	e.selfPod(t, false) // a bare pod held by a finalizer
	var stdout, stderr testbed.SyncBuffer
	cmd := exec.Command(lifeboatBinary(t), "drain", e.node, "--kubeconfig", e.c.Kubeconfig, "--force", "--progress", "never")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	e.c.Eventually(t, 60*time.Second, func() (bool, error) {
		p, err := e.c.Client.CoreV1().Pods(e.ns).Get(e.ctx, "lifeboat-agent", metav1.GetOptions{})
		return err == nil && p.DeletionTimestamp != nil && strings.Contains(stderr.String(), string(drain.StepPodBlocked)), err
	})
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		if err == nil {
			t.Error("an interrupted drain exited 0")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("lifeboat drain did not exit on SIGINT")
	}
	out := stdout.String()
	for _, want := range []string{
		"interrupted while waiting on:",
		"waits for PodDisruptionBudget " + e.ns + "/web, which allows no disruption now",
		e.ns + "/lifeboat-agent is terminating but held by finalizer(s) lifeboat.dev/test-hold",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s\nstderr:\n%s", want, out, stderr.String())
		}
	}
}

// TestAgentRefusedUserfaultfdDrains runs the agent as the chart's
// RuntimeDefault seccomp profile does, refusing userfaultfd(2): it keeps
// fault-around off with one-page mappings (exetrim.MapOnTouch) and drains
// a spot-interrupted node as usual.
func TestAgentRefusedUserfaultfdDrains(t *testing.T) {
	e := newAgentEnv(t)
	e.deploy(t, 4, nil)
	e.c.AddNode(t, testbed.UniqueName("spare"), func(n *corev1.Node) { n.Labels[testbed.LabelPool] = e.pool })
	p := startBinaryVia(t, []string{os.Args[0]}, lifeboatBinary(t), []string{cli.ExecRefusingUserfaultfdEnv + "=1"}, e.args("--log-level", "debug")...)
	testbed.Eventually(t, 30*time.Second, func() (bool, error) { return ready(p), nil })
	if log := p.out.String(); !strings.Contains(log, `"method":"one-page-mappings"`) {
		t.Fatalf("the agent did not fall back to one-page mappings:\n%s", log)
	}
	if _, err := e.emu.ScheduleSpot(0, "terminate", 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	e.c.Eventually(t, 60*time.Second, func() (bool, error) {
		n, err := e.c.Client.CoreV1().Nodes().Get(e.ctx, e.node, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return err == nil && n.Spec.Unschedulable && e.podsOnNode(t) == 0, nil
	})
	if !ready(p) {
		t.Fatalf("the agent is not ready after the drain:\n%s", p.out.String())
	}
}
