package agent

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// HostShutdown is what systemd is doing to the host.
type HostShutdown string

// Host shutdown kinds.
const (
	ShutdownUnknown  HostShutdown = "unknown"
	ShutdownReboot   HostShutdown = "reboot"
	ShutdownPowerOff HostShutdown = "poweroff"
)

// SystemdShutdownKind asks systemd which shutdown job is queued
// (reboot.target/kexec.target or poweroff.target/halt.target) by running
// `systemctl list-jobs`. It returns ShutdownUnknown when it cannot tell.
func SystemdShutdownKind(ctx context.Context) HostShutdown {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "systemctl", "list-jobs", "--no-legend", "--plain", "--no-pager").Output()
	if err != nil {
		return ShutdownUnknown
	}
	return parseJobs(string(out))
}

func parseJobs(out string) HostShutdown {
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		switch fields[1] {
		case "reboot.target", "kexec.target", "soft-reboot.target":
			return ShutdownReboot
		case "poweroff.target", "halt.target":
			return ShutdownPowerOff
		}
	}
	return ShutdownUnknown
}

// ShutdownOptions says how a host-shutdown drain behaves.
type ShutdownOptions struct {
	// Timeout bounds the drain; set it below systemd's TimeoutStopSec.
	Timeout time.Duration
	// Kind is what the host is doing.
	Kind HostShutdown
	// DeleteNode: "auto" deletes the Node only on power-off, "always", "never".
	DeleteNode string
}

// Shutdown drains the node because the host itself is going down (SIGTERM
// from systemd). The cordon it records is undone by Reconcile at the next
// start. The Node is deleted only on a power-off when DeleteNode is auto.
func (a *Agent) Shutdown(ctx context.Context, so ShutdownOptions) (*drain.Result, error) {
	a.stopCurrent()
	n := notice.Notice{
		ID: fmt.Sprintf("host-shutdown/%d", a.cfg.Clock.Now().Unix()), Source: "systemd", Kind: notice.KindShutdown,
		Node: a.cfg.Node, Deadline: a.cfg.Clock.Now().Add(so.Timeout), Detected: a.cfg.Clock.Now(),
		Reason: fmt.Sprintf("host %s", so.Kind), Attributes: map[string]string{"shutdown": string(so.Kind)},
	}
	if a.cfg.Hooks.OnNotice != nil {
		a.cfg.Hooks.OnNotice(n)
	}
	opts := a.options(n, ActionDrain)
	opts.DeleteNode = so.DeleteNode == "always" || (so.DeleteNode == "auto" && so.Kind == ShutdownPowerOff)
	a.cfg.Log.Info("host shutting down: draining", "node", a.cfg.Node, "event", string(n.Kind),
		"shutdown", string(so.Kind), "deleteNode", opts.DeleteNode, "timeout", so.Timeout)
	ctx, cancel := context.WithTimeout(ctx, so.Timeout)
	defer cancel()
	res, err := a.cfg.Drainer.Drain(ctx, a.cfg.Node, opts)
	if a.cfg.Hooks.OnAction != nil {
		a.cfg.Hooks.OnAction(n, ActionDrain, res, err)
	}
	return res, err
}

// PodTermDecision explains whether SIGTERM to the agent's pod means the
// node is shutting down.
type PodTermDecision struct {
	// Drain is true when the node should be drained.
	Drain bool
	// Reason explains the decision for the log.
	Reason string
}

// DecidePodTerm applies the rule for SIGTERM in a DaemonSet pod. A rollout,
// uninstall or eviction deletes the pod through the API, so it has a
// deletionTimestamp: then the agent just exits. Only when the pod was not
// deleted and the Node reports that it is shutting down (kubelet's
// GracefulNodeShutdown sets the Ready condition's message to "node is
// shutting down", or the Node is already gone from Ready with that reason)
// does the agent drain. Any doubt (the API cannot be read) means exit: a
// DaemonSet rollout must never drain every node.
func DecidePodTerm(ctx context.Context, client kubernetes.Interface, podNamespace, podName, node string) PodTermDecision {
	if podNamespace == "" || podName == "" {
		return PodTermDecision{Reason: "pod identity unknown (POD_NAMESPACE/POD_NAME unset): exiting without draining"}
	}
	p, err := client.CoreV1().Pods(podNamespace).Get(ctx, podName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return PodTermDecision{Reason: "own pod already deleted through the API: exiting without draining"}
	case err != nil:
		return PodTermDecision{Reason: "cannot read own pod (" + err.Error() + "): exiting without draining"}
	case p.DeletionTimestamp != nil:
		return PodTermDecision{Reason: "own pod deleted through the API (rollout, uninstall or eviction): exiting without draining"}
	}
	n, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return PodTermDecision{Reason: "cannot read the node (" + err.Error() + "): exiting without draining"}
	}
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" && strings.Contains(strings.ToLower(c.Message), "shutting down") {
			return PodTermDecision{Drain: true, Reason: "kubelet reports the node is shutting down: draining"}
		}
	}
	return PodTermDecision{Reason: "pod not deleted but the node does not report a shutdown: exiting without draining"}
}
