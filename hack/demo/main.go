//go:build linux

// Command demo shows lifeboat end to end on a local control plane: a spot
// interruption announced by `lifeboat emulate aws` is noticed by
// `lifeboat agent`, which drains the node behind PodDisruptionBudgets and
// deletes it before the deadline; then `lifeboat drain` empties a second
// node with its live progress view. Everything is cleaned up at the end.
//
//	make demo   (or: go run ./hack/demo)
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func step(format string, a ...any) { fmt.Printf("\n\033[1m==> "+format+"\033[0m\n", a...) }

func run(ctx context.Context) error {
	start := time.Now()
	step("building lifeboat")
	dir, err := os.MkdirTemp("", "lifeboat-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "lifeboat")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/lifeboat").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}

	step("starting a local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)")
	c, err := testbed.Start()
	if err != nil {
		return err
	}
	defer c.Stop()
	fmt.Printf("    kubeconfig: %s (ready after %s)\n", c.Kubeconfig, time.Since(start).Round(100*time.Millisecond))

	step("a spot node running two Deployments behind PodDisruptionBudgets")
	spot := "ip-10-0-1-23.ec2.internal"
	if _, err := c.CreateNode(ctx, spot, pool("demo"), func(n *corev1.Node) {
		n.Spec.ProviderID = "aws:///us-east-1a/i-0123456789abcdef0"
	}); err != nil {
		return err
	}
	if err := workload(ctx, c); err != nil {
		return err
	}
	for _, n := range []string{"ip-10-0-2-45.ec2.internal", "ip-10-0-3-67.ec2.internal"} {
		if _, err := c.CreateNode(ctx, n, pool("demo")); err != nil {
			return err
		}
	}
	fmt.Println("    web: 6 replicas (PDB maxUnavailable=1), api: 4 replicas (PDB minAvailable=3); 2 spare nodes")

	step("lifeboat emulate aws: an instance metadata service for node %s", spot)
	emuAddr, err := freeAddr()
	if err != nil {
		return err
	}
	emu, err := startProc(ctx, "emulate", bin, "emulate", "aws", "--address", emuAddr)
	if err != nil {
		return err
	}
	defer emu.stop()

	step("lifeboat agent on %s (as the DaemonSet pod or systemd unit would run it)", spot)
	metricsAddr, err := freeAddr()
	if err != nil {
		return err
	}
	agent, err := startProc(ctx, "agent", bin, "agent", "--node", spot, "--platform", "aws",
		"--metadata-url", "http://"+emuAddr, "--kubeconfig", c.Kubeconfig, "--metrics-address", metricsAddr, "--run-mode", "host")
	if err != nil {
		return err
	}
	defer agent.stop()
	if err := waitHTTP(ctx, "http://"+metricsAddr+"/readyz"); err != nil {
		return err
	}

	step("AWS announces a spot interruption (2 minutes' notice)")
	resp, err := post(ctx, "http://"+emuAddr+"/lifeboat/spot", `{"in":"0s","action":"terminate"}`)
	if err != nil {
		return err
	}
	fmt.Println("    emulator:", strings.TrimSpace(resp))
	noticed := time.Now()
	if err := watchNode(ctx, c, spot); err != nil {
		return err
	}
	fmt.Printf("    node %s drained and deleted %s after the notice, well before the deadline\n", spot, time.Since(noticed).Round(100*time.Millisecond))
	fmt.Println("    metrics:")
	printMetrics(ctx, "http://"+metricsAddr+"/metrics")

	second := "ip-10-0-2-45.ec2.internal"
	step("lifeboat drain %s --timeout 60s (by hand; live progress on a terminal)", second)
	cmd := exec.CommandContext(ctx, bin, "drain", second, "--kubeconfig", c.Kubeconfig, "--timeout", "60s", "--progress", "always")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("lifeboat drain: %w", err)
	}
	step("lifeboat uncordon %s (undoes only lifeboat's own cordon)", second)
	cmd = exec.CommandContext(ctx, bin, "uncordon", second, "--kubeconfig", c.Kubeconfig)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	if err := cmd.Run(); err != nil {
		return err
	}
	step("done in %s; cleaning up", time.Since(start).Round(time.Second))
	return nil
}

func pool(name string) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Labels[testbed.LabelPool] = name }
}

func workload(ctx context.Context, c *testbed.Cluster) error {
	ns := "shop"
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	for _, w := range []struct {
		name     string
		replicas int32
	}{{"web", 6}, {"api", 4}} {
		d := testbed.Deployment(ns, w.name, "demo", w.replicas, func(d *appsv1.Deployment) {
			d.Spec.Template.Annotations = map[string]string{"pod-ready.stage.kwok.x-k8s.io/delay": "1s"}
		})
		for {
			_, err := c.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
			if err == nil {
				break
			}
			if !apierrors.IsForbidden(err) { // the default ServiceAccount may not exist yet
				return err
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	web := testbed.PDB(ns, "web", "web", 1)
	api := testbed.PDB(ns, "api", "api", 1)
	api.Spec.MaxUnavailable = nil
	three := intOrString(3)
	api.Spec.MinAvailable = &three
	for _, p := range []any{web, api} {
		if _, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, asPDB(p), metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		n, err := c.ReadyPods(ctx, ns, "")
		if err != nil {
			return err
		}
		if n == 10 {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("workload did not become ready")
}

// watchNode prints progress until the node is gone.
func watchNode(ctx context.Context, c *testbed.Cluster, node string) error {
	deadline := time.Now().Add(2 * time.Minute)
	last := ""
	for time.Now().Before(deadline) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		pods, err := c.Client.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
		if err != nil {
			return err
		}
		ready, _ := c.ReadyPods(ctx, "shop", "")
		line := fmt.Sprintf("    [watch] cordoned=%v  pods left on %s: %d  ready pods cluster-wide: %d/10", n.Spec.Unschedulable, node, len(pods.Items), ready)
		if line != last {
			fmt.Println(line)
			last = line
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("node %s still exists after 2 minutes", node)
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(ctx context.Context, name, bin string, args ...string) (*proc, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		s := bufio.NewScanner(r)
		for s.Scan() {
			fmt.Printf("    [%s] %s\n", name, s.Text())
		}
	}()
	go func() { _ = cmd.Wait(); _ = w.Close(); close(p.done) }()
	return p, nil
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func freeAddr() (string, error) {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitHTTP(ctx context.Context, url string) error {
	for i := 0; i < 100; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready", url)
}

func post(ctx context.Context, url, body string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func printMetrics(ctx context.Context, url string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range bytes.Split(b, []byte("\n")) {
		s := string(l)
		if strings.HasPrefix(s, "lifeboat_notices_total") || strings.HasPrefix(s, "lifeboat_drains_total") ||
			strings.HasPrefix(s, "lifeboat_evictions_total") || strings.HasPrefix(s, "lifeboat_drain_duration_seconds_sum") ||
			strings.HasPrefix(s, "lifeboat_detection_delay_seconds_sum") {
			fmt.Println("      " + s)
		}
	}
}
