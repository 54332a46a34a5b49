//go:build linux

package cli_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// memCgroup is a memory cgroup for the agent, as a container runtime makes
// one: the kernel charges it the agent's anonymous memory and the page
// cache the agent reads (its executable included), and enforces its limit
// by reclaiming clean pages first and OOM-killing last.
type memCgroup struct {
	dir string
	v2  bool
}

// newMemCgroup creates a memory cgroup limited to limit bytes (0: no
// limit), on the cgroup v2 hierarchy if it has the memory controller, else
// on v1's memory hierarchy.
func newMemCgroup(limit int64) (*memCgroup, error) {
	name := testbed.UniqueName(fmt.Sprintf("lifeboat-bench-%d", os.Getpid()))
	cg := &memCgroup{}
	if ctrl, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil && strings.Contains(" "+string(ctrl)+" ", " memory ") {
		cg.dir, cg.v2 = filepath.Join("/sys/fs/cgroup", name), true
	} else {
		cg.dir = filepath.Join("/sys/fs/cgroup/memory", name)
	}
	if err := os.Mkdir(cg.dir, 0o755); err != nil {
		return nil, err
	}
	if limit == 0 {
		return cg, nil
	}
	file, value := "memory.limit_in_bytes", strconv.FormatInt(limit, 10)
	if cg.v2 {
		file = "memory.max"
	}
	if err := os.WriteFile(filepath.Join(cg.dir, file), []byte(value), 0o644); err != nil {
		cg.remove()
		return nil, fmt.Errorf("setting %s: %w", file, err)
	}
	return cg, nil
}

// via is a command prefix that moves itself into the cgroup and then execs
// its arguments: the agent runs in the cgroup from its first instruction.
func (cg *memCgroup) via() []string {
	return []string{"/bin/sh", "-c", `echo $$ > "$0" && exec "$@"`, filepath.Join(cg.dir, "cgroup.procs")}
}

// stats returns the peak charge, how often the limit was hit (the kernel
// had to reclaim to stay under it) and the OOM kills.
func (cg *memCgroup) stats(b *testing.B) (peak, limitHits, oomKills int64) {
	b.Helper()
	if cg.v2 {
		peak = readInt(b, filepath.Join(cg.dir, "memory.peak"))
		ev := readKeyed(b, filepath.Join(cg.dir, "memory.events"))
		return peak, ev["max"], ev["oom_kill"]
	}
	peak = readInt(b, filepath.Join(cg.dir, "memory.max_usage_in_bytes"))
	limitHits = readInt(b, filepath.Join(cg.dir, "memory.failcnt"))
	return peak, limitHits, readKeyed(b, filepath.Join(cg.dir, "memory.oom_control"))["oom_kill"]
}

// remove deletes the cgroup once its processes have exited.
func (cg *memCgroup) remove() {
	for range 50 {
		if err := os.Remove(cg.dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func readInt(b *testing.B, path string) int64 {
	b.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil {
		b.Fatalf("%s: %v", path, err)
	}
	return n
}

// readKeyed reads "key value" lines (memory.events, memory.oom_control).
func readKeyed(b *testing.B, path string) map[string]int64 {
	b.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return parseKeyed(raw)
}

func parseKeyed(raw []byte) map[string]int64 {
	out := map[string]int64{}
	s := bufio.NewScanner(bytes.NewReader(raw))
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), " ")
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); ok && err == nil {
			out[k] = n
		}
	}
	return out
}

// workingSet is the container memory the kubelet reports (and `kubectl
// top` shows, and evicts on): the cgroup's charge minus its inactive page
// cache, which the kernel reclaims first.
func (cg *memCgroup) workingSet() (int64, error) {
	usageFile, inactiveKey := "memory.usage_in_bytes", "total_inactive_file"
	if cg.v2 {
		usageFile, inactiveKey = "memory.current", "inactive_file"
	}
	raw, err := os.ReadFile(filepath.Join(cg.dir, usageFile))
	if err != nil {
		return 0, err
	}
	usage, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil {
		return 0, err
	}
	stat, err := os.ReadFile(filepath.Join(cg.dir, "memory.stat"))
	if err != nil {
		return 0, err
	}
	return max(usage-parseKeyed(stat)[inactiveKey], 0), nil
}

// workingSetSampler records the peak working set of cg every 10 ms until
// stopped.
func workingSetSampler(cg *memCgroup) (stop func() int64) {
	return peakSampler(cg.workingSet, func(a, b int64) int64 { return max(a, b) })
}

// dropPageCache evicts the binary's pages from the page cache, so the
// agent reads its executable afresh and the reads are charged to its
// cgroup, as on a node that has just pulled the image.
func dropPageCache(b *testing.B, path string) {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	// A binary just built has dirty pages, which the advice would skip.
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		b.Fatal(err)
	}
}

// startAgentBinaryIn starts the agent binary in sb and waits until it is
// ready.
func startAgentBinaryIn(t testing.TB, sb sandbox, bin string, args ...string) *agentProc {
	t.Helper()
	via, env := sb.via()
	p := startBinaryVia(t, via, bin, env, args...)
	testbed.Eventually(t, 30*time.Second, func() (bool, error) {
		select {
		case err := <-p.done:
			p.done <- err
			return false, fmt.Errorf("the agent exited: %w\n%s", err, p.out.String())
		default:
		}
		return ready(p), nil
	})
	return p
}
