//go:build linux

package agent_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/lifeboat-dev/lifeboat/internal/agent"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

func newHostAgent(f *fixture) *agent.Agent {
	d := drain.New(f.c.API, drain.Config{Log: logging.Discard()})
	return agent.New(agent.Config{
		Client: f.c.API, Node: f.node, Drainer: d, Log: logging.Discard(),
		Drain: drain.Options{Force: true, DeleteEmptyDirData: true, GracePeriodSeconds: -1}, DeleteNode: true,
	})
}

func TestHostShutdown(t *testing.T) {
	cases := []struct {
		name       string
		kind       agent.HostShutdown
		deleteNode string
		wantNode   bool
	}{
		{"reboot keeps the node", agent.ShutdownReboot, "auto", true},
		{"power-off deletes the node", agent.ShutdownPowerOff, "auto", false},
		{"unknown keeps the node", agent.ShutdownUnknown, "auto", true},
		{"never keeps it even on power-off", agent.ShutdownPowerOff, "never", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.workload(2)
			a := newHostAgent(f)
			res, err := a.Shutdown(f.ctx, agent.ShutdownOptions{Timeout: 30 * time.Second, Kind: tc.kind, DeleteNode: agent.ShutdownDelete(tc.deleteNode)})
			if err != nil || res.Evicted != 2 {
				t.Fatalf("shutdown drain: %+v, %v", res, err)
			}
			_, err = f.getNode()
			if exists := err == nil; exists != tc.wantNode {
				t.Fatalf("node exists = %v, want %v (err %v)", exists, tc.wantNode, err)
			}
			if !tc.wantNode {
				return
			}
			// The host comes back and the agent starts: the shutdown cordon is over.
			if err := newHostAgent(f).Reconcile(f.ctx); err != nil {
				t.Fatal(err)
			}
			n, _ := f.getNode()
			if n.Spec.Unschedulable || n.Annotations[drain.AnnotationCordon] != "" {
				t.Error("the host-shutdown cordon was not undone when the agent started again")
			}
		})
	}
}

func TestRestartMidNoticeKeepsCordon(t *testing.T) {
	f := newFixture(t)
	d := drain.New(f.c.API, drain.Config{Log: logging.Discard()})
	if _, err := d.Cordon(f.ctx, f.node, drain.Options{Reason: "spot", NoticeID: "aws-spot/x", NoticeKind: "spot-interruption"}); err != nil {
		t.Fatal(err)
	}
	if err := newHostAgent(f).Reconcile(f.ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.getNode(); !n.Spec.Unschedulable {
		t.Error("a restart in the middle of a spot interruption uncordoned the node")
	}
}

// TestPodTermRule: SIGTERM in a DaemonSet pod drains only when the pod was
// not deleted through the API and the node reports it is shutting down.
func TestPodTermRule(t *testing.T) {
	c := testbed.Get(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	// A node no kwok manages, so its conditions stay as the test sets them
	// (kwok would re-initialise a Ready=False node).
	node := testbed.UniqueName("pod-term")
	static := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, static, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Client.CoreV1().Nodes().Delete(context.Background(), node, metav1.DeleteOptions{}) })
	mk := func(name string, deleted bool) {
		p := testbed.Pod(ns, name, node)
		if deleted {
			p.Finalizers = []string{"lifeboat.dev/test-hold"}
		}
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if deleted {
			if err := c.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_, _ = c.Client.CoreV1().Pods(ns).Patch(ctx, name, "application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
			})
		}
	}
	mk("running", false)
	mk("rolled-out", true)
	setShutdown := func(on bool) {
		t.Helper()
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			n, err := c.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
			if err != nil {
				return err
			}
			ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"}
			if on {
				ready.Status, ready.Reason, ready.Message = corev1.ConditionFalse, "KubeletNotReady", "node is shutting down"
			}
			n.Status.Conditions = []corev1.NodeCondition{ready}
			_, err = c.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name     string
		pod      string
		shutdown bool
		want     bool
	}{
		{"rollout: pod deleted, node fine", "rolled-out", false, false},
		{"pod deleted while node shuts down", "rolled-out", true, false},
		{"pod alive, node fine (e.g. kill by hand)", "running", false, false},
		{"pod alive, node shutting down", "running", true, true},
		{"pod unknown", "", true, false},
		{"pod missing", "gone", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			setShutdown(tc.shutdown)
			d := agent.DecidePodTerm(ctx, c.API, ns, tc.pod, node)
			if d.Drain != tc.want {
				n, _ := c.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
				t.Errorf("drain = %v (%s), want %v; node conditions %+v", d.Drain, d.Reason, tc.want, n.Status.Conditions)
			}
		})
	}
	// The kubelet posts "shutting down" a moment after it starts killing pods.
	t.Run("pod alive, kubelet reports the shutdown late", func(t *testing.T) {
		setShutdown(false)
		go func() {
			time.Sleep(time.Second)
			setShutdown(true)
		}()
		if d := agent.DecidePodTerm(ctx, c.API, ns, "running", node); !d.Drain {
			t.Errorf("drain = false (%s): a late kubelet status must still be seen", d.Reason)
		}
	})
	_ = apierrors.IsNotFound
}

// TestDecideHostTerm: in host mode SIGTERM drains only when systemd is
// taking the host down; a restart, stop or upgrade of the unit, or a host
// whose state cannot be read, exits without draining (unless always).
func TestDecideHostTerm(t *testing.T) {
	unreadable := errors.New("exec: \"systemctl\": executable file not found in $PATH")
	cases := []struct {
		name     string
		host     agent.HostState
		policy   agent.ShutdownDrain
		want     bool
		wantKind agent.HostShutdown
		reason   string
	}{
		{"poweroff job", agent.HostState{Job: agent.ShutdownPowerOff, State: "stopping"}, agent.ShutdownDrainAuto, true, agent.ShutdownPowerOff, "poweroff job"},
		{"reboot job, state still running", agent.HostState{Job: agent.ShutdownReboot, State: "running"}, agent.ShutdownDrainAuto, true, agent.ShutdownReboot, "reboot job"},
		{"reboot job, state unreadable", agent.HostState{Job: agent.ShutdownReboot, StateErr: unreadable}, agent.ShutdownDrainAuto, true, agent.ShutdownReboot, "reboot job"},
		{"stopping without a known job", agent.HostState{Job: agent.ShutdownUnknown, State: "stopping"}, agent.ShutdownDrainAuto, true, agent.ShutdownUnknown, "stopping"},
		{"stopping, jobs unreadable", agent.HostState{JobsErr: unreadable, State: "stopping"}, agent.ShutdownDrainAuto, true, agent.ShutdownUnknown, "stopping"},
		{"restart: no job, running", agent.HostState{Job: agent.ShutdownUnknown, State: "running"}, agent.ShutdownDrainAuto, false, agent.ShutdownUnknown, "no shutdown job queued and the system is running"},
		{"restart on a degraded host", agent.HostState{Job: agent.ShutdownUnknown, State: "degraded"}, agent.ShutdownDrainAuto, false, agent.ShutdownUnknown, "the system is degraded"},
		{"no job, state unreadable", agent.HostState{Job: agent.ShutdownUnknown, StateErr: unreadable}, agent.ShutdownDrainAuto, false, agent.ShutdownUnknown, "is-system-running failed"},
		{"jobs unreadable, running", agent.HostState{JobsErr: unreadable, State: "running"}, agent.ShutdownDrainAuto, false, agent.ShutdownUnknown, "list-jobs failed"},
		{"nothing readable (no systemd)", agent.HostState{JobsErr: unreadable, StateErr: unreadable}, agent.ShutdownDrainAuto, false, agent.ShutdownUnknown, "--shutdown-drain=always"},
		{"always, nothing readable", agent.HostState{JobsErr: unreadable, StateErr: unreadable}, agent.ShutdownDrainAlways, true, agent.ShutdownUnknown, "always"},
		{"always, restart", agent.HostState{Job: agent.ShutdownUnknown, State: "running"}, agent.ShutdownDrainAlways, true, agent.ShutdownUnknown, "always"},
		{"always keeps the power-off kind", agent.HostState{Job: agent.ShutdownPowerOff, State: "stopping"}, agent.ShutdownDrainAlways, true, agent.ShutdownPowerOff, "always"},
		{"windows auto drains", agent.HostState{GOOS: "windows"}, agent.ShutdownDrainAuto, true, agent.ShutdownUnknown, "Windows"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := agent.DecideHostTerm(tc.host, tc.policy)
			if d.Drain != tc.want || d.Kind != tc.wantKind || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("DecideHostTerm = %+v, want drain %v kind %s, reason containing %q", d, tc.want, tc.wantKind, tc.reason)
			}
			if !d.Drain && !strings.Contains(d.Reason, "exiting without draining") {
				t.Errorf("reason %q does not say that the agent exits without draining", d.Reason)
			}
		})
	}
}

// TestReadHostState runs a fake systemctl that prints what the real one
// prints (is-system-running exits 1 for every state but running).
func TestReadHostState(t *testing.T) {
	cases := []struct {
		name, jobs, state string
		stateExit         int
		want              agent.HostState
		wantJobsErr       bool
		wantStateErr      bool
	}{
		{
			"reboot queued", "1234 reboot.target start waiting\n1235 systemd-reboot.service start waiting\n", "stopping", 1,
			agent.HostState{Job: agent.ShutdownReboot, State: "stopping"},
			false, false,
		},
		{"poweroff running", "99 poweroff.target start running\n", "stopping", 1, agent.HostState{Job: agent.ShutdownPowerOff, State: "stopping"}, false, false},
		{"restart of the unit", "7 lifeboat.service restart running\n", "running", 0, agent.HostState{Job: agent.ShutdownUnknown, State: "running"}, false, false},
		{"a stop job on reboot.target is no reboot", "8 reboot.target stop waiting\n", "degraded", 1, agent.HostState{Job: agent.ShutdownUnknown, State: "degraded"}, false, false},
		{"systemctl broken", "", "", 1, agent.HostState{Job: agent.ShutdownUnknown}, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			script := "#!/bin/sh\ncase \"$1\" in\nlist-jobs) printf '%s' '" + tc.jobs + "' ;;\nis-system-running) printf '%s\\n' '" + tc.state +
				"'; exit " + string(rune('0'+tc.stateExit)) + " ;;\nesac\n"
			if tc.state == "" {
				script = "#!/bin/sh\ncase \"$1\" in\nlist-jobs) exit 0 ;;\n*) echo 'Failed to connect to bus' >&2; exit 1 ;;\nesac\n"
			}
			if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			t.Setenv("PATH", dir)
			got := agent.ReadHostState(context.Background(), "linux")
			if (got.JobsErr != nil) != tc.wantJobsErr || (got.StateErr != nil) != tc.wantStateErr {
				t.Fatalf("errors: jobs %v, state %v", got.JobsErr, got.StateErr)
			}
			got.JobsErr, got.StateErr, got.GOOS = nil, nil, ""
			if got != tc.want {
				t.Errorf("ReadHostState = %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("no systemctl", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		got := agent.ReadHostState(context.Background(), "linux")
		if got.JobsErr == nil || got.StateErr == nil {
			t.Errorf("ReadHostState without systemctl = %+v, want both errors", got)
		}
		if d := agent.DecideHostTerm(got, agent.ShutdownDrainAuto); d.Drain {
			t.Errorf("a host without systemctl drained on auto: %s", d.Reason)
		}
	})
}

// TestResolveRunMode: auto never falls back to host inside a pod, and host
// mode in a pod is refused naming the flag.
func TestResolveRunMode(t *testing.T) {
	pod := agent.RunEnv{KubernetesServiceHost: "10.96.0.1", PodName: "lifeboat-agent-x"}
	cases := []struct {
		name    string
		flag    agent.RunMode
		env     agent.RunEnv
		want    agent.RunMode
		warn    bool
		wantErr bool
	}{
		{"auto on a host", agent.RunModeAuto, agent.RunEnv{}, agent.RunModeHost, false, false},
		{"auto in a pod", agent.RunModeAuto, pod, agent.RunModePod, false, false},
		{"auto in a pod without POD_NAME stays pod", agent.RunModeAuto, agent.RunEnv{KubernetesServiceHost: "10.96.0.1"}, agent.RunModePod, true, false},
		{"auto with only a pod name is a pod", agent.RunModeAuto, agent.RunEnv{PodName: "x"}, agent.RunModePod, false, false},
		{"host on a host", agent.RunModeHost, agent.RunEnv{}, agent.RunModeHost, false, false},
		{"host in a pod is refused", agent.RunModeHost, pod, "", false, true},
		{"host with KUBERNETES_SERVICE_HOST is refused", agent.RunModeHost, agent.RunEnv{KubernetesServiceHost: "10.96.0.1"}, "", false, true},
		{"host with a pod name is refused", agent.RunModeHost, agent.RunEnv{PodName: "x"}, "", false, true},
		{"pod in a pod", agent.RunModePod, pod, agent.RunModePod, false, false},
		{"pod without its name warns", agent.RunModePod, agent.RunEnv{KubernetesServiceHost: "10.96.0.1"}, agent.RunModePod, true, false},
		{"pod outside a pod is allowed (it never drains wrongly)", agent.RunModePod, agent.RunEnv{PodName: "x"}, agent.RunModePod, false, false},
		{"unknown mode", "sometimes", agent.RunEnv{}, "", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, warn, err := agent.ResolveRunMode(tc.flag, tc.env)
			var rme *agent.RunModeError
			if tc.wantErr {
				if !errors.As(err, &rme) || !strings.Contains(err.Error(), "--run-mode") {
					t.Fatalf("err = %v, want a *RunModeError naming --run-mode", err)
				}
				return
			}
			if err != nil || got != tc.want || (warn != "") != tc.warn {
				t.Errorf("ResolveRunMode = %q, warning %q, %v; want %q, warning %v", got, warn, err, tc.want, tc.warn)
			}
		})
	}
}
