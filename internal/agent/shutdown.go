package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/decide"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/report"
)

// HostShutdown is what systemd is doing to the host.
type HostShutdown string

// Host shutdown kinds.
const (
	ShutdownUnknown  HostShutdown = "unknown"
	ShutdownReboot   HostShutdown = "reboot"
	ShutdownPowerOff HostShutdown = "poweroff"
)

// ShutdownDrain is the --shutdown-drain policy: what SIGTERM means to a
// host-mode agent.
type ShutdownDrain string

// Shutdown-drain policies.
const (
	// ShutdownDrainAuto drains only when the host is really going down.
	ShutdownDrainAuto ShutdownDrain = "auto"
	// ShutdownDrainAlways drains on every SIGTERM, for hosts that cannot tell.
	ShutdownDrainAlways ShutdownDrain = "always"
)

// HostState is what the host's init system says when SIGTERM arrives.
type HostState struct {
	// GOOS is the operating system (runtime.GOOS).
	GOOS string
	// Job is the shutdown job systemd has queued or running (from
	// `systemctl list-jobs`): ShutdownReboot, ShutdownPowerOff, or
	// ShutdownUnknown when there is none.
	Job HostShutdown
	// JobsErr is set when the job list could not be read.
	JobsErr error
	// State is `systemctl is-system-running`'s answer (running, degraded,
	// stopping, ...).
	State string
	// StateErr is set when the system state could not be read.
	StateErr error
}

// HostTermDecision says whether SIGTERM to a host-mode agent drains.
type HostTermDecision struct {
	// Drain is true when the node should be drained.
	Drain bool
	// Kind is what the host is doing, for the drain.
	Kind HostShutdown
	// Reason explains the decision for the log.
	Reason string
}

// SystemStopping is the `systemctl is-system-running` state while the host
// shuts down (systemd's shutdown.target is queued or running).
const SystemStopping = "stopping"

// DecideHostTerm applies the rule for SIGTERM in host mode. systemd sends
// SIGTERM both when the host goes down and when only the unit stops
// (`systemctl restart|stop lifeboat`, a package upgrade); only the first may
// drain the node. With ShutdownDrainAuto the agent drains when systemd has a
// poweroff/halt/reboot/kexec/soft-reboot job, or says the system is
// stopping; anything else, including a state that cannot be read, exits
// without draining: a fleet-wide restart must never drain every node. On
// Windows there is no systemd, but Go delivers SIGTERM only for the console's
// close, log-off and shutdown events (Ctrl+C is an interrupt), so auto means
// always there. ShutdownDrainAlways drains on every signal.
func DecideHostTerm(h HostState, policy ShutdownDrain) HostTermDecision {
	switch {
	case policy == ShutdownDrainAlways:
		return HostTermDecision{Drain: true, Kind: cmp.Or(h.Job, ShutdownUnknown), Reason: "--shutdown-drain=always: draining on every termination signal"}
	case h.GOOS == "windows":
		return HostTermDecision{Drain: true, Kind: ShutdownUnknown, Reason: "Windows sends SIGTERM only at console close, log-off or shutdown: draining"}
	case h.JobsErr == nil && (h.Job == ShutdownReboot || h.Job == ShutdownPowerOff):
		return HostTermDecision{Drain: true, Kind: h.Job, Reason: fmt.Sprintf("systemd has a %s job queued: draining", h.Job)}
	case h.StateErr == nil && h.State == SystemStopping:
		return HostTermDecision{Drain: true, Kind: ShutdownUnknown, Reason: "systemd reports the system is stopping: draining"}
	case h.JobsErr != nil && h.StateErr != nil:
		return HostTermDecision{Kind: ShutdownUnknown, Reason: fmt.Sprintf("cannot tell whether the host is shutting down (systemctl list-jobs: %v; "+
			"systemctl is-system-running: %v): exiting without draining; use --shutdown-drain=always on hosts without systemd", h.JobsErr, h.StateErr)}
	}
	jobs, state := "no shutdown job queued", "the system is "+h.State
	if h.JobsErr != nil {
		jobs = fmt.Sprintf("systemctl list-jobs failed (%v)", h.JobsErr)
	}
	if h.StateErr != nil {
		state = fmt.Sprintf("systemctl is-system-running failed (%v)", h.StateErr)
	}
	return HostTermDecision{Kind: ShutdownUnknown, Reason: jobs + " and " + state +
		": only the lifeboat service is stopping (restart, stop or upgrade): exiting without draining"}
}

// ReadHostState asks systemd what the host is doing: its shutdown job
// (`systemctl list-jobs`) and its state (`systemctl is-system-running`).
// Errors are recorded in the state; DecideHostTerm treats them as doubt.
func ReadHostState(ctx context.Context, goos string) HostState {
	h := HostState{GOOS: goos, Job: ShutdownUnknown}
	if goos == "windows" {
		return h
	}
	out, err := systemctl(ctx, "list-jobs", "--no-legend", "--plain", "--no-pager")
	if err != nil {
		h.JobsErr = err
	} else {
		h.Job = parseJobs(out)
	}
	// is-system-running exits non-zero for every state but "running" and
	// still prints the state.
	out, err = systemctl(ctx, "is-system-running")
	h.State = strings.TrimSpace(out)
	var exit *exec.ExitError
	if h.State == "" || (err != nil && !errors.As(err, &exit)) {
		h.State, h.StateErr = "", cmp.Or(err, errors.New("no output"))
	}
	return h
}

func systemctl(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "systemctl", args...).Output()
	return string(out), err
}

// parseJobs finds a shutdown job in `systemctl list-jobs --no-legend
// --plain` output (columns JOB UNIT TYPE STATE).
func parseJobs(out string) HostShutdown {
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 || (len(fields) >= 3 && fields[2] != "start") {
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

// ShutdownDelete says when a host-shutdown drain deletes the Node.
type ShutdownDelete string

// When a host-shutdown drain deletes the Node.
const (
	// ShutdownDeleteAuto deletes the Node only on a power-off.
	ShutdownDeleteAuto ShutdownDelete = "auto"
	// ShutdownDeleteAlways deletes it on every shutdown, reboots included.
	ShutdownDeleteAlways ShutdownDelete = "always"
	// ShutdownDeleteNever keeps it.
	ShutdownDeleteNever ShutdownDelete = "never"
)

// ParseShutdownDelete parses auto, always or never.
func ParseShutdownDelete(s string) (ShutdownDelete, error) {
	switch d := ShutdownDelete(s); d {
	case ShutdownDeleteAuto, ShutdownDeleteAlways, ShutdownDeleteNever:
		return d, nil
	}
	return "", fmt.Errorf("want auto, always or never, got %q", s)
}

// ShutdownOptions says how a host-shutdown drain behaves.
type ShutdownOptions struct {
	// Timeout bounds the drain; set it below systemd's TimeoutStopSec.
	Timeout time.Duration
	// Kind is what the host is doing.
	Kind HostShutdown
	// DeleteNode says when the Node is deleted after the drain.
	DeleteNode ShutdownDelete
}

// ShutdownNotice is the notice a host shutdown of kind k raises at now,
// with a deadline timeout away.
func ShutdownNotice(node string, k HostShutdown, now time.Time, timeout time.Duration) notice.Notice {
	return notice.Notice{
		ID: fmt.Sprintf("host-shutdown/%d", now.Unix()), Source: "systemd", Kind: notice.KindShutdown,
		Node: node, Deadline: now.Add(timeout), Detected: now,
		Reason: fmt.Sprintf("host %s", k), Attributes: map[string]string{"shutdown": string(k)},
	}
}

// shutdownPlan is the plan for a host shutdown: decide.Decide with the
// agent's table (`--action host-shutdown=...`), then the Node deletion rule
// of so.DeleteNode for a drain.
func (a *Agent) shutdownPlan(n notice.Notice, so ShutdownOptions) decide.Plan {
	plan := a.decide(n)
	if plan.Action.IsDrain() {
		switch so.DeleteNode {
		case ShutdownDeleteAlways:
			plan.DeleteNode = true
		case ShutdownDeleteNever:
			plan.DeleteNode = false
		default:
			plan.DeleteNode = so.Kind == ShutdownPowerOff
		}
	}
	return plan
}

// Shutdown acts on a host shutdown (SIGTERM from systemd) like on any
// notice: it is reported, and the agent's table decides the action (drain by
// default; `--action host-shutdown=none` only reports it). The cordon it
// records is undone by Reconcile at the next start. It returns a nil Result
// when the action was not a drain.
func (a *Agent) Shutdown(ctx context.Context, so ShutdownOptions) (*drain.Result, error) {
	a.stopCurrent()
	n := ShutdownNotice(a.cfg.Node, so.Kind, a.cfg.Clock.Now(), so.Timeout)
	plan := a.shutdownPlan(n, so)
	a.cfg.Reporter.NoticeReceived(n)
	log := a.logFor(n).With("shutdown", string(so.Kind), "action", string(plan.Action))
	ctx, cancel := context.WithTimeout(ctx, so.Timeout)
	defer cancel()
	switch {
	case plan.Action == decide.ActionNone:
		log.Info("host shutting down; the action for host-shutdown is none: not draining")
		a.cfg.Reporter.Finished(n, report.Finish{Kind: report.FinishDone, Node: a.cfg.Node})
		return nil, nil
	case !plan.Action.IsDrain():
		log.Info("host shutting down: marking the node")
		if !a.markNode(ctx, n, plan) {
			return nil, ctx.Err()
		}
		a.cfg.Reporter.Finished(n, report.Finish{Kind: report.FinishDone, Node: a.cfg.Node})
		return nil, nil
	}
	opts := a.shutdownOptions(n, plan)
	log.Info("host shutting down: draining", "deleteNode", opts.DeleteNode, "timeout", so.Timeout)
	res, err := a.cfg.Drainer.Drain(ctx, a.cfg.Node, opts)
	a.cfg.Reporter.Finished(n, report.Finish{Kind: report.FinishDone, Node: a.cfg.Node, Err: err})
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
func DecidePodTerm(ctx context.Context, client kube.Interface, podNamespace, podName, node string) PodTermDecision {
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
	// The kubelet posts "shutting down" asynchronously, while it already
	// kills pods: a pod that was not deleted looks again for a moment.
	var last error
	until := time.Now().Add(PodTermRecheck)
	for {
		n, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err == nil && nodeShuttingDown(n) {
			return PodTermDecision{Drain: true, Reason: "kubelet reports the node is shutting down: draining"}
		}
		last = err
		if ctx.Err() != nil || !time.Now().Before(until) {
			break
		}
		t := time.NewTimer(podTermPoll)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if last != nil {
		return PodTermDecision{Reason: "cannot read the node (" + last.Error() + "): exiting without draining"}
	}
	return PodTermDecision{Reason: "pod not deleted but the node does not report a shutdown: exiting without draining"}
}

// PodTermRecheck is how long DecidePodTerm keeps looking for the kubelet's
// "shutting down" when the pod was not deleted; podTermPoll paces it.
var (
	PodTermRecheck = 3 * time.Second
	podTermPoll    = 250 * time.Millisecond
)

func nodeShuttingDown(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && strings.Contains(strings.ToLower(c.Message), "shutting down") {
			return true
		}
	}
	return false
}

// RunMode says where the agent runs, which decides what SIGTERM means.
type RunMode string

// Run modes.
const (
	// RunModeHost is a host service (systemd unit, Windows console process).
	RunModeHost RunMode = "host"
	// RunModePod is a DaemonSet pod.
	RunModePod RunMode = "pod"
	// RunModeAuto picks one from the environment.
	RunModeAuto RunMode = "auto"
)

// RunEnv is what the process's environment says about where it runs.
type RunEnv struct {
	// KubernetesServiceHost is $KUBERNETES_SERVICE_HOST, which the kubelet
	// injects into every container (Windows HostProcess containers too).
	KubernetesServiceHost string
	// PodName is --pod-name or $POD_NAME (the downward API).
	PodName string
}

// inPod reports whether anything says this process runs in a pod.
func (e RunEnv) inPod() bool { return e.KubernetesServiceHost != "" || e.PodName != "" }

// RunModeError is a --run-mode that contradicts the environment.
type RunModeError struct {
	// Mode is the --run-mode value.
	Mode RunMode
	// Reason says what contradicts it.
	Reason string
}

// Error names the flag and says what contradicts it.
func (e *RunModeError) Error() string { return fmt.Sprintf("--run-mode=%s: %s", e.Mode, e.Reason) }

// ResolveRunMode turns --run-mode into host or pod. auto means pod when
// anything says this is a pod ($KUBERNETES_SERVICE_HOST or a pod name): it
// never falls back to host in a pod, where SIGTERM comes from a rollout or
// an eviction far more often than from a shutdown. host in a pod is refused
// (an error naming the flag): there SIGTERM never comes from systemd, and the
// host rule could drain every node on each rollout. pod is never refused: its
// rule drains only when the kubelet reports the node shutting down. The
// warning (possibly empty) is for the start-up log: a pod without its name
// never drains on SIGTERM.
func ResolveRunMode(flag RunMode, env RunEnv) (mode RunMode, warning string, err error) {
	switch flag {
	case RunModeHost:
		switch {
		case env.KubernetesServiceHost != "":
			return "", "", &RunModeError{Mode: flag, Reason: "KUBERNETES_SERVICE_HOST is set, so this runs in a pod, where SIGTERM comes " +
				"from the kubelet (rollout, eviction), never from a host shutdown; use --run-mode=pod or auto"}
		case env.PodName != "":
			return "", "", &RunModeError{Mode: flag, Reason: fmt.Sprintf("a pod name is set (--pod-name or POD_NAME=%q), so this runs in a pod; "+
				"use --run-mode=pod or auto", env.PodName)}
		}
		return RunModeHost, "", nil
	case RunModePod:
	case RunModeAuto:
		if !env.inPod() {
			return RunModeHost, "", nil
		}
	default:
		return "", "", &RunModeError{Mode: flag, Reason: "must be one of auto, host, pod"}
	}
	if env.PodName == "" {
		warning = "pod mode without the pod's name (set POD_NAME from the downward API, or --pod-name): " +
			"SIGTERM will exit without draining, even when the node shuts down"
	}
	return RunModePod, warning, nil
}

// Termination says how the agent reads a termination signal.
type Termination struct {
	// Mode is the resolved run mode (pod or host).
	Mode RunMode
	// PodNamespace and PodName identify the agent's pod in pod mode.
	PodNamespace, PodName string
	// ShutdownDrain is the host-mode rule (auto or always).
	ShutdownDrain ShutdownDrain
	// HostState reads systemd's state in host mode (ReadHostState).
	HostState func(ctx context.Context, goos string) HostState
	// Shutdown configures the drain; its Kind is filled in here.
	Shutdown ShutdownOptions
}

// Terminate applies the rule for a termination signal (SIGTERM): in a pod
// DecidePodTerm, on a host DecideHostTerm. When the node is going away it
// acts on a host-shutdown notice (Shutdown); acted reports whether it did.
// ctx must not be the context the signal canceled.
func (a *Agent) Terminate(ctx context.Context, client kube.Interface, t Termination) (res *drain.Result, acted bool, err error) {
	so := t.Shutdown
	switch t.Mode {
	case RunModePod:
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		d := DecidePodTerm(dctx, client, t.PodNamespace, t.PodName, a.cfg.Node)
		cancel()
		a.cfg.Log.Info("termination signal in pod mode", "node", a.cfg.Node, "drain", d.Drain, "reason", d.Reason)
		if !d.Drain {
			return nil, false, nil
		}
		so.Kind = ShutdownUnknown
	default:
		d := DecideHostTerm(t.HostState(ctx, runtime.GOOS), t.ShutdownDrain)
		a.cfg.Log.Info("termination signal in host mode", "node", a.cfg.Node, "drain", d.Drain, "shutdown", string(d.Kind), "reason", d.Reason)
		if !d.Drain {
			return nil, false, nil
		}
		so.Kind = d.Kind
	}
	res, err = a.Shutdown(ctx, so)
	return res, true, err
}
