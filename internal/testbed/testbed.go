//go:build linux

// Package testbed runs a real Kubernetes control plane for lifeboat's tests:
// etcd, kube-apiserver, kube-controller-manager and kube-scheduler built from
// the Go module proxy (tools/controlplane, hack/controlplane.sh), with kwok
// playing the kubelets. One cluster is started per test package, lazily, on
// free loopback ports, and torn down when the package's tests end.
//
//	func TestMain(m *testing.M) { testbed.Main(m) }
//	func TestX(t *testing.T) { c := testbed.Get(t); ... }
package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/lifeboat-dev/lifeboat/internal/kube"
)

// Cluster is a running test control plane.
type Cluster struct {
	// Client is an admin (system:masters) clientset.
	Client kubernetes.Interface
	// API is the same admin identity through lifeboat's own narrow client
	// (kube.NewForConfig), which is what lifeboat's code takes.
	API kube.Interface
	// Config is the admin REST config (QPS/burst raised for tests).
	Config *rest.Config
	// Kubeconfig is the path of an admin kubeconfig file.
	Kubeconfig string
	// BinDir holds the control plane binaries (kubectl among them).
	BinDir string
	// Dir is the cluster's scratch directory (logs, certs, data).
	Dir string

	procs []*process
}

var (
	once     sync.Once
	shared   *Cluster
	startErr error
)

// Main runs a test package's tests and stops its cluster afterwards. Use it as
// the package's TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	os.Exit(code)
}

// Get returns the package's cluster, starting it on first use. It fails the
// test if the control plane cannot start.
func Get(t testing.TB) *Cluster {
	t.Helper()
	once.Do(func() { shared, startErr = Start() })
	if startErr != nil {
		t.Fatalf("test control plane: %v", startErr)
	}
	return shared
}

// Start builds (if needed) and starts a control plane. Most tests want Get.
func Start() (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "lifeboat-testbed-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{BinDir: bin, Dir: dir}
	if err := c.start(); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// Stop ends every component and removes the scratch directory (kept when
// LIFEBOAT_TESTBED_KEEP is set, for debugging).
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop(10 * time.Second)
	}
	if os.Getenv("LIFEBOAT_TESTBED_KEEP") == "" {
		_ = os.RemoveAll(c.Dir)
	}
}

func (c *Cluster) start() error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	p, err := newPKI(c.Dir)
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	if err := c.run("etcd", etcdArgs(c.Dir, etcdClient, etcdPeer)...); err != nil {
		return err
	}
	if err := c.run("kube-apiserver", apiserverArgs(c.Dir, p, etcdClient, apiPort)...); err != nil {
		return err
	}
	server := "https://127.0.0.1:" + itoa(apiPort)
	if err := c.writeKubeconfig(server, p); err != nil {
		return err
	}
	if err := c.waitReady(90 * time.Second); err != nil {
		return err
	}
	for _, comp := range []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", controllerManagerArgs(c.Kubeconfig, p)},
		{"kube-scheduler", schedulerArgs(c.Kubeconfig)},
		{"kwok", nil},
	} {
		args := comp.args
		if comp.name == "kwok" {
			if args, err = c.kwokArgs(); err != nil {
				return err
			}
		}
		if err := c.run(comp.name, args...); err != nil {
			return err
		}
	}
	return c.waitDefaultServiceAccount(90 * time.Second)
}

func (c *Cluster) run(name string, args ...string) error {
	proc, err := startProcess(c.Dir, name, filepath.Join(c.BinDir, name), args...)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, proc)
	return nil
}

// failure wraps err with the tail of every component's log.
func (c *Cluster) failure(err error) error {
	var b strings.Builder
	for _, p := range c.procs {
		state := "running"
		if p.exited() {
			state = "exited"
		}
		fmt.Fprintf(&b, "\n--- %s (%s), last log lines:\n%s", p.name, state, p.tail(2000))
	}
	return fmt.Errorf("%w%s", err, b.String())
}

func (c *Cluster) writeKubeconfig(server string, p *pki) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: p.caCert}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificate: p.adminCert, ClientKey: p.adminKey}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "admin"}
	cfg.CurrentContext = "test"
	c.Kubeconfig = filepath.Join(c.Dir, "admin.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, c.Kubeconfig); err != nil {
		return err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return err
	}
	rc.QPS, rc.Burst = 200, 400
	c.Config = rc
	if c.Client, err = kubernetes.NewForConfig(rc); err != nil {
		return err
	}
	c.API, err = kube.NewForConfig(rc)
	return err
}

func (c *Cluster) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		for _, p := range c.procs {
			if p.exited() {
				return c.failure(fmt.Errorf("%s exited during start-up", p.name))
			}
		}
		body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) == "ok" {
			return nil
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return c.failure(fmt.Errorf("kube-apiserver not ready after %s: %w", timeout, last))
}

func (c *Cluster) waitDefaultServiceAccount(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for ctx.Err() == nil {
		_, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		if !apierrors.IsNotFound(err) && !errors.Is(err, context.DeadlineExceeded) {
			return c.failure(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return c.failure(errors.New("kube-controller-manager did not create the default ServiceAccount"))
}

// binDir finds the control plane binaries: $LIFEBOAT_CONTROLPLANE_DIR, or
// the cached build that hack/controlplane.sh makes (building it if missing).
func binDir() (string, error) {
	if d := os.Getenv("LIFEBOAT_CONTROLPLANE_DIR"); d != "" {
		return d, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("bash", filepath.Join(root, "hack", "controlplane.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("building the control plane (hack/controlplane.sh): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// RepoRoot finds the repository root above the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "controlplane.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find hack/controlplane.sh above the working directory; set LIFEBOAT_CONTROLPLANE_DIR")
		}
		dir = parent
	}
}
