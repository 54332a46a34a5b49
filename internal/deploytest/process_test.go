//go:build linux

package deploytest

import (
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// buildLifeboat builds the lifeboat binary into dir.
func buildLifeboat(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "lifeboat")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/lifeboat")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a running lifeboat process.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *testbed.SyncBuffer
	done           chan struct{}
	err            error
}

// start runs bin with args; the process dies with the test binary and is
// killed at cleanup if still running.
func start(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	return startEnv(t, bin, nil, args...)
}

// startEnv is start with extra environment variables ("K=V").
func startEnv(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), stdout: &testbed.SyncBuffer{}, stderr: &testbed.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(p.cmd.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("lifeboat %s still running after %s\nstderr:\n%s", strings.Join(p.cmd.Args[1:], " "), timeout, p.stderr)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

// run runs lifeboat to completion and returns its exit code.
func run(t *testing.T, bin string, timeout time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := start(t, bin, args...)
	code = p.wait(t, timeout)
	t.Logf("lifeboat %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, p.stdout, p.stderr)
	return code, p.stdout.String(), p.stderr.String()
}

// waitLog waits until the process logged s, failing if it exits first.
func (p *proc) waitLog(t *testing.T, timeout time.Duration, s string) {
	t.Helper()
	testbed.Eventually(t, timeout, func() (bool, error) {
		select {
		case <-p.done:
			return false, errors.New("lifeboat exited before logging " + strconv.Quote(s) + ":\n" + p.stderr.String())
		default:
		}
		return strings.Contains(p.stderr.String(), s), nil
	})
}

// freeAddr returns a free loopback address for a metrics server.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}
