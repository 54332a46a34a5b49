//go:build linux

package cli_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	emuazure "github.com/lifeboat-dev/lifeboat/internal/emulate/azure"
	"github.com/lifeboat-dev/lifeboat/internal/handled"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// TestAgentCrashMatrix SIGKILLs the agent at each step of a spot drain and
// starts it again: the node is emptied and deleted once, before the
// deadline, and never uncordoned in between.
func TestAgentCrashMatrix(t *testing.T) {
	cases := []struct {
		name string
		// killAt reports when to send SIGKILL.
		killAt func(e *agentEnv, t *testing.T) (bool, error)
	}{
		{"after the cordon", func(e *agentEnv, t *testing.T) (bool, error) {
			n, err := e.c.Client.CoreV1().Nodes().Get(e.ctx, e.node, metav1.GetOptions{})
			return err == nil && n.Spec.Unschedulable, err
		}},
		{"after the first eviction", func(e *agentEnv, t *testing.T) (bool, error) {
			return e.podsOnNode(t) < 4, nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newAgentEnv(t)
			e.deploy(t, 4, nil)
			// maxUnavailable 0 holds every pod until the test lifts it, so the
			// kill lands in the middle of the drain.
			if _, err := e.c.Client.PolicyV1().PodDisruptionBudgets(e.ns).Create(e.ctx, testbed.PDB(e.ns, "web", "web", 0), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			e.c.AddNode(t, testbed.UniqueName("spare"), func(n *corev1.Node) { n.Labels[testbed.LabelPool] = e.pool })
			p := startAgent(t, nil, e.args()...)
			spot, err := e.emu.ScheduleSpot(0, "terminate", 100*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "after the first eviction" {
				// Let exactly one pod go, then block again.
				e.c.Eventually(t, 30*time.Second, func() (bool, error) {
					n, err := e.c.Client.CoreV1().Nodes().Get(e.ctx, e.node, metav1.GetOptions{})
					return err == nil && n.Spec.Unschedulable, err
				})
				setPDB(t, e, 1)
			}
			e.c.Eventually(t, 30*time.Second, func() (bool, error) { return tc.killAt(e, t) })
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = p.wait(t, 10*time.Second)
			if n, err := e.c.Client.CoreV1().Nodes().Get(e.ctx, e.node, metav1.GetOptions{}); err != nil || !n.Spec.Unschedulable {
				t.Fatalf("after SIGKILL the node must still be cordoned (err %v)", err)
			}
			left := e.podsOnNode(t)
			if left == 0 {
				t.Fatal("the drain finished before the kill; the test proves nothing")
			}
			p2 := startAgent(t, nil, e.args()...)
			setPDB(t, e, 1)
			e.c.Eventually(t, 90*time.Second, func() (bool, error) {
				_, err := e.c.Client.CoreV1().Nodes().Get(e.ctx, e.node, metav1.GetOptions{})
				return apierrors.IsNotFound(err), nil
			})
			if time.Now().After(spot.Time) {
				t.Errorf("node deleted after the interruption time %s", spot.Time)
			}
			// After the Node delete: a third start finds no Node. It must not
			// act (nothing to drain), must not report ready, and must keep
			// running rather than crash-loop.
			if err := p2.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = p2.wait(t, 10*time.Second)
			p3 := startAgentNoWait(t, nil, e.args()...)
			time.Sleep(3 * time.Second)
			if ready(p3) {
				t.Error("an agent whose Node does not exist reports ready")
			}
			select {
			case err := <-p3.done:
				p3.done <- err
				t.Errorf("the agent exited without its Node: %v\n%s", err, p3.out.String())
			default:
			}
		})
	}
}

// setPDB sets the web PDB's maxUnavailable.
func setPDB(t *testing.T, e *agentEnv, maxUnavailable int) {
	t.Helper()
	pdb, err := e.c.Client.PolicyV1().PodDisruptionBudgets(e.ns).Get(e.ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pdb.Spec.MaxUnavailable = testbed.PDB(e.ns, "web", "web", maxUnavailable).Spec.MaxUnavailable
	if _, err := e.c.Client.PolicyV1().PodDisruptionBudgets(e.ns).Update(e.ctx, pdb, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestAgentKilledBetweenRecordAndAzureAck: the drain is recorded as handled
// but the acknowledgement does not get through (IMDS fails) and the agent is
// SIGKILLed. The next agent finds the event still listed and handled: it
// acknowledges it without draining again.
func TestAgentKilledBetweenRecordAndAzureAck(t *testing.T) {
	c := testbed.Get(t)
	e := &agentEnv{c: c, ctx: context.Background(), ns: c.Namespace(t), pool: testbed.UniqueName("pool"), node: testbed.UniqueName("azure")}
	const vm = "aks-pool-12345678-vmss_7"
	c.AddNode(t, e.node, func(n *corev1.Node) {
		n.Labels[testbed.LabelPool] = e.pool
		n.Spec.ProviderID = "azure:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-12345678-vmss/virtualMachines/7"
	})
	e.deploy(t, 2, func(*appsv1.Deployment) {})
	if _, err := e.c.Client.PolicyV1().PodDisruptionBudgets(e.ns).Create(e.ctx, testbed.PDB(e.ns, "web", "web", 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.c.AddNode(t, testbed.UniqueName("spare"), func(n *corev1.Node) { n.Labels[testbed.LabelPool] = e.pool })
	emu := emuazure.New(emuazure.Options{VMName: vm, Log: logging.Discard()})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	args := []string{"--node", e.node, "--platform", "azure", "--metadata-url", srv.URL, "--kubeconfig", e.c.Kubeconfig}
	p := startAgent(t, nil, args...)
	ev, err := emu.Schedule(emuazure.EventSpec{EventType: emuazure.EventReboot, NotBeforeIn: emuazure.Duration(10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	e.c.Eventually(t, 30*time.Second, func() (bool, error) {
		n, err := e.c.Client.CoreV1().Nodes().Get(e.ctx, e.node, metav1.GetOptions{})
		return err == nil && n.Spec.Unschedulable, err
	})
	// IMDS now fails every request: the acknowledgement cannot get through
	// (and a failed poll is not a withdrawal).
	if err := emu.SetFault("", emuazure.Fault500); err != nil {
		t.Fatal(err)
	}
	setPDB(t, e, 1)
	e.c.Eventually(t, 60*time.Second, func() (bool, error) {
		n, err := e.c.Client.CoreV1().Nodes().Get(e.ctx, e.node, metav1.GetOptions{})
		return err == nil && handled.Is(n, ev.EventID), err
	})
	time.Sleep(time.Second) // the acknowledgement attempt fails meanwhile
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.wait(t, 10*time.Second)
	if acks := emu.Acks(); len(acks) != 0 {
		t.Fatalf("acknowledged through a failing IMDS: %+v", acks)
	}
	if err := emu.SetFault("", emuazure.FaultNone); err != nil {
		t.Fatal(err)
	}
	p2 := startAgent(t, nil, args...)
	e.c.Eventually(t, 30*time.Second, func() (bool, error) { return len(emu.Acks()) == 1, nil })
	if n, err := e.c.Client.CoreV1().Nodes().Get(e.ctx, e.node, metav1.GetOptions{}); err != nil || !n.Spec.Unschedulable {
		t.Errorf("the node must stay cordoned until the reboot (err %v)", err)
	}
	if err := p2.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p2.wait(t, 10*time.Second)
	out := p2.out.String()
	if !strings.Contains(out, "notice already handled; acknowledging it again") || strings.Contains(out, `"msg":"notice received"`) {
		t.Errorf("the restarted agent should acknowledge without draining again; output:\n%s", out)
	}
}

// startAgentNoWait starts `lifeboat agent` without waiting for /readyz.
func startAgentNoWait(t testing.TB, env []string, args ...string) *agentProc {
	t.Helper()
	return startBinaryNoWait(t, lifeboatBinary(t), env, args...)
}

func startBinaryNoWait(t testing.TB, bin string, env []string, args ...string) *agentProc {
	t.Helper()
	return startBinaryVia(t, nil, bin, env, args...)
}

// startBinaryVia starts `bin agent ...` through via (a command that execs
// its arguments, e.g. one that first joins a cgroup), or directly.
func startBinaryVia(t testing.TB, via []string, bin string, env []string, args ...string) *agentProc {
	t.Helper()
	p := &agentProc{out: &bytes.Buffer{}, metrics: freeAddr(t), done: make(chan error, 1)}
	argv := append(append(via, bin, "agent", "--metrics-address", p.metrics, "--log-format", "json"), args...)
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("agent output:\n%s", p.out.String())
		}
	})
	return p
}

// ready asks the agent's /readyz.
func ready(p *agentProc) bool {
	resp, err := http.Get("http://" + p.metrics + "/readyz")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
