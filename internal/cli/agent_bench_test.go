//go:build linux

package cli_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/cli"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// memory is the resident memory of a process tree in KiB: everything
// resident (what a container's limit counts) and, of it, anonymous memory
// (heap and stacks, as opposed to pages of the executable file).
type memory struct{ rss, anon int }

func (m memory) max(o memory) memory { return memory{max(m.rss, o.rss), max(m.anon, o.anon)} }

// treeMemory sums smaps_rollup's Rss and Anonymous over pid and all its
// descendants.
func treeMemory(pid int) (memory, error) {
	var total memory
	pids := []int{pid}
	for len(pids) > 0 {
		p := pids[0]
		pids = pids[1:]
		m, err := smapsRollup(p)
		if err != nil {
			if p == pid {
				return memory{}, err
			}
			continue // a child that just exited
		}
		total.rss += m.rss
		total.anon += m.anon
		pids = append(pids, children(p)...)
	}
	return total, nil
}

func smapsRollup(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		if err != nil {
			continue
		}
		switch k {
		case "Rss":
			m.rss = n
		case "Anonymous":
			m.anon = n
		}
	}
	return m, s.Err()
}

// children lists the child processes of every thread of pid.
func children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// memorySampler records the peak memory of a process tree every 10 ms
// until stopped.
func memorySampler(pid int) (stop func() memory) {
	return peakSampler(func() (memory, error) { return treeMemory(pid) }, memory.max)
}

// peakSampler calls sample every 10 ms until stopped and returns the peak
// of what it read, as higher picks it.
func peakSampler[T any](sample func() (T, error), higher func(T, T) T) (stop func() T) {
	done := make(chan struct{})
	result := make(chan T)
	go func() {
		var peak T
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if v, err := sample(); err == nil {
				peak = higher(peak, v)
			}
			select {
			case <-done:
				result <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() T { close(done); return <-result }
}

var (
	nodeBinOnce sync.Once
	nodeBinPath string
	nodeBinErr  error
)

// nodeBinary builds the node agent as released (Makefile: build-agent):
// static, stripped, with the lifeboat_agent tag. LIFEBOAT_BENCH_AGENT
// names another binary to measure instead (e.g. an older release).
func nodeBinary(b *testing.B) string {
	b.Helper()
	if p := os.Getenv("LIFEBOAT_BENCH_AGENT"); p != "" {
		return p
	}
	nodeBinOnce.Do(func() {
		root, err := testbed.RepoRoot()
		if err != nil {
			nodeBinErr = err
			return
		}
		dir, err := os.MkdirTemp("", "lifeboat-agent-bin-")
		if err != nil {
			nodeBinErr = err
			return
		}
		nodeBinPath = filepath.Join(dir, "lifeboat-agent")
		cmd := exec.Command("go", "build", "-trimpath", "-tags", "lifeboat_agent", "-ldflags", "-s -w", "-o", nodeBinPath, "./cmd/lifeboat-agent")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			nodeBinErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if nodeBinErr != nil {
		b.Fatal(nodeBinErr)
	}
	return nodeBinPath
}

// layerSize is the size of the image layer that carries the binary: a
// gzip-compressed tar of it, as ko and docker push it (the distroless
// static base comes on top).
func layerSize(b *testing.B, path string) int {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(zw, f); err != nil {
		b.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	return buf.Len()
}

// spotRun is one 100-pod spot drain by the agent binary.
type spotRun struct {
	ready, detect, drained time.Duration
	idle, peak             memory
	// charged is what the agent's memory cgroup charged at its peak
	// (anonymous memory and the page cache it read); failcnt counts how
	// often the limit made the kernel reclaim, oomKills the OOM kills.
	charged, failcnt, oomKills int64
	// workingSet is the cgroup's peak working set (charge minus inactive
	// page cache): the container memory the kubelet reports.
	workingSet int64
}

// sandbox is how a benchmark starts the agent binary.
type sandbox struct {
	// cg, if not nil, is the memory cgroup the agent runs in.
	cg *memCgroup
	// refuseUserfaultfd runs it under a seccomp filter that refuses
	// userfaultfd(2), as the container runtimes' default profile does
	// (the chart's seccompProfile: RuntimeDefault): the agent then keeps
	// fault-around off with one-page mappings (exetrim.MapOnTouch).
	refuseUserfaultfd bool
}

// via is the command prefix that puts the agent in s.
func (s sandbox) via() (via, env []string) {
	if s.cg != nil {
		via = s.cg.via()
	}
	if s.refuseUserfaultfd {
		via = append(via, os.Args[0])
		env = []string{cli.ExecRefusingUserfaultfdEnv + "=1"}
	}
	return via, env
}

// checkFaultAroundMethod fails b unless the agent switched fault-around
// off the way sb leaves it (exetrim.MapOnTouch): one-page mappings show as
// thousands of mappings of the executable, userfaultfd as a few.
func checkFaultAroundMethod(b *testing.B, pid int, sb sandbox) {
	b.Helper()
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		b.Fatal(err)
	}
	n := strings.Count(string(maps), "\n")
	if onePage := n > 2000; onePage != sb.refuseUserfaultfd {
		b.Fatalf("the agent has %d mappings; want one-page mappings: %v", n, sb.refuseUserfaultfd)
	}
}

// spotDrain deploys 100 pods on a fresh node, starts the agent binary in
// sb, measures it idle, announces a spot interruption two minutes out and
// waits until the node is drained and deleted.
func spotDrain(b *testing.B, c *testbed.Cluster, bin string, sb sandbox) spotRun {
	var r spotRun
	e := &agentEnv{c: c, ctx: b.Context(), ns: c.Namespace(b), pool: testbed.UniqueName("pool"), node: testbed.UniqueName("bench")}
	c.AddNode(b, e.node, func(n *corev1.Node) {
		n.Labels[testbed.LabelPool] = e.pool
		n.Spec.ProviderID = "aws:///us-east-1a/i-0123456789abcdef0"
	})
	srv, emu := newEmulator(b)
	e.url, e.emu = srv, emu
	d := testbed.Deployment(e.ns, "web", e.pool, 100)
	if _, err := c.Client.AppsV1().Deployments(e.ns).Create(e.ctx, d, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	testbed.Eventually(b, 2*time.Minute, func() (bool, error) {
		n, err := c.ReadyPods(e.ctx, e.ns, "app=web")
		return n == 100, err
	})
	c.AddNode(b, testbed.UniqueName("spare"), func(n *corev1.Node) { n.Labels[testbed.LabelPool] = e.pool })

	args := e.args("--log-level", "warn")
	start := time.Now()
	p := startAgentBinaryIn(b, sb, bin, args...)
	r.ready = time.Since(start)
	checkFaultAroundMethod(b, p.cmd.Process.Pid, sb)
	// Idle, as the agent is almost all of its life: after start-up and
	// the first trim of the executable's pages (cmd/lifeboat: trimDelay).
	time.Sleep(7 * time.Second)
	m, err := treeMemory(p.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	r.idle = m
	stop := memorySampler(p.cmd.Process.Pid)
	stopWS := func() int64 { return 0 }
	if sb.cg != nil {
		stopWS = workingSetSampler(sb.cg)
	}
	spot, err := emu.ScheduleSpot(0, "terminate", 2*time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	testbed.Eventually(b, time.Minute, func() (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(e.ctx, e.node, metav1.GetOptions{})
		return err == nil && n.Spec.Unschedulable, nil
	})
	r.detect = time.Since(t0)
	testbed.Eventually(b, 2*time.Minute, func() (bool, error) {
		_, err := c.Client.CoreV1().Nodes().Get(e.ctx, e.node, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	r.drained = time.Since(t0)
	if time.Now().After(spot.Time) {
		b.Errorf("drain finished after the interruption time")
	}
	r.peak = stop()
	r.workingSet = stopWS()
	if sb.cg != nil {
		r.charged, r.failcnt, r.oomKills = sb.cg.stats(b)
	}
	if !ready(p) {
		b.Errorf("the agent is not ready after the drain (killed?):\n%s", p.out.String())
	}
	_ = p.cmd.Process.Kill()
	return r
}

// BenchmarkAgentSpot100Pods runs the node agent binary as released against
// the AWS emulator: start to ready, spot detection to cordon, the drain of a
// node with 100 pods, and the resident memory of the agent's process tree
// (total and anonymous) idle after warm-up and at its peak during the drain.
// Each iteration runs the agent twice, side by side: as the chart runs it
// (seccompProfile RuntimeDefault refuses userfaultfd, so fault-around is off
// by one-page mappings; the reported metrics) and unconfined (userfaultfd).
//
//	go test ./internal/cli -run '^$' -bench 'AgentSpot100Pods$' -benchtime 3x
func BenchmarkAgentSpot100Pods(b *testing.B) {
	c := testbed.Get(b)
	bin := nodeBinary(b)
	st, err := os.Stat(bin)
	if err != nil {
		b.Fatal(err)
	}
	type total struct {
		name                   string
		sb                     sandbox
		ready, detect, drained time.Duration
		idle, peak             memory
	}
	totals := []*total{
		{name: "seccomp RuntimeDefault (one-page mappings)", sb: sandbox{refuseUserfaultfd: true}},
		{name: "unconfined (userfaultfd)"},
	}
	for range b.N {
		for _, t := range totals {
			r := spotDrain(b, c, bin, t.sb)
			t.ready += r.ready
			t.detect += r.detect
			t.drained += r.drained
			t.idle, t.peak = t.idle.max(r.idle), t.peak.max(r.peak)
		}
	}
	n := float64(b.N)
	layer := layerSize(b, bin)
	chart, unconfined := totals[0], totals[1]
	// Under the seccomp filter the agent is started through a helper (the
	// test binary) whose own start-up would count: start → ready is the
	// unconfined agent's.
	b.ReportMetric(unconfined.ready.Seconds()*1000/n, "start-to-ready-ms")
	b.ReportMetric(chart.detect.Seconds()*1000/n, "notice-to-cordon-ms")
	b.ReportMetric(chart.drained.Seconds()/n, "notice-to-drained-s")
	b.ReportMetric(mib(chart.idle.rss), "idle-rss-MiB")
	b.ReportMetric(mib(chart.idle.anon), "idle-anon-MiB")
	b.ReportMetric(mib(chart.peak.rss), "drain-peak-rss-MiB")
	b.ReportMetric(mib(chart.peak.anon), "drain-peak-anon-MiB")
	b.ReportMetric(mib(unconfined.peak.rss), "drain-peak-rss-userfaultfd-MiB")
	b.ReportMetric(float64(st.Size())/(1<<20), "binary-MiB")
	b.ReportMetric(float64(layer)/(1<<20), "image-layer-MiB")
	fmt.Printf("\n| agent (%s), 100-pod spot drain, max of %d | idle RSS (anon) | peak RSS during the drain (anon) | binary | image layer (gzip) | start → ready | notice → cordoned | notice → drained & deleted |\n",
		filepath.Base(bin), b.N)
	fmt.Printf("|---|---|---|---|---|---|---|---|\n")
	for _, t := range totals {
		ready := fmt.Sprintf("%.0f ms", t.ready.Seconds()*1000/n)
		if t.sb.refuseUserfaultfd {
			ready = "(helper)"
		}
		fmt.Printf("| %s | %.1f MiB (%.1f) | %.1f MiB (%.1f) | %.1f MiB | %.1f MiB | %s | %.0f ms | %.1f s |\n",
			t.name, mib(t.idle.rss), mib(t.idle.anon), mib(t.peak.rss), mib(t.peak.anon), float64(st.Size())/(1<<20), float64(layer)/(1<<20),
			ready, t.detect.Seconds()*1000/n, t.drained.Seconds()/n)
	}
}

// containerLimits are the memory limits BenchmarkAgentSpot100PodsInContainerLimit
// holds the agent to, besides none: the chart's (deploy/helm/lifeboat
// values.yaml, agent.resources.limits.memory) and a tighter one, to show
// the headroom.
var containerLimits = []int64{64 << 20, 32 << 20}

// BenchmarkAgentSpot100PodsInContainerLimit runs the same drain side by
// side in memory cgroups, as a container runtime would put the agent: one
// without a limit and one per containerLimits. The executable's page cache
// is dropped before each start, so its pages are read again and charged to
// the cgroup, as on a node that has just pulled the image. It reports what
// the unlimited cgroup charged at its peak (anonymous memory plus the page
// cache the agent read), and per limit how often the kernel had to reclaim
// to stay under it, OOM kills (must be 0) and the drain time as a ratio of
// the unlimited one. Needs a writable memory cgroup (root); skipped
// otherwise.
//
//	go test ./internal/cli -run '^$' -bench AgentSpot100PodsInContainerLimit -benchtime 2x
func BenchmarkAgentSpot100PodsInContainerLimit(b *testing.B) {
	probe, err := newMemCgroup(0)
	if err != nil {
		b.Skipf("no writable memory cgroup: %v", err)
	}
	probe.remove()
	c := testbed.Get(b)
	bin := nodeBinary(b)
	limits := append([]int64{0}, containerLimits...)
	runs := make([]spotRun, len(limits))
	for range b.N {
		for i, limit := range limits {
			cg, err := newMemCgroup(limit)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(cg.remove)
			dropPageCache(b, bin)
			r := spotDrain(b, c, bin, sandbox{cg: cg, refuseUserfaultfd: true})
			if r.oomKills > 0 {
				b.Errorf("the agent was OOM-killed %d time(s) under a %d MiB limit", r.oomKills, limit>>20)
			}
			acc := &runs[i]
			acc.drained += r.drained
			acc.charged = max(acc.charged, r.charged)
			acc.workingSet = max(acc.workingSet, r.workingSet)
			acc.failcnt += r.failcnt
			acc.oomKills += r.oomKills
			acc.peak = acc.peak.max(r.peak)
		}
	}
	n := float64(b.N)
	free := runs[0]
	b.ReportMetric(float64(free.charged)/(1<<20), "charged-peak-MiB")
	b.ReportMetric(float64(free.workingSet)/(1<<20), "working-set-peak-MiB")
	fmt.Printf("\n| agent (%s), 100-pod spot drain, %d run(s) each | cgroup charged at peak | working set at peak (kubelet) | peak RSS (anon) | notice → drained & deleted | reclaims forced by the limit | OOM kills |\n", filepath.Base(bin), b.N)
	fmt.Printf("|---|---|---|---|---|---|---|\n")
	for i, limit := range limits {
		r := runs[i]
		ratio := r.drained.Seconds() / free.drained.Seconds()
		label := "no limit"
		if limit > 0 {
			label = fmt.Sprintf("limit %d MiB", limit>>20)
			b.ReportMetric(ratio, fmt.Sprintf("drain-time-%dMiB/unlimited", limit>>20))
			b.ReportMetric(float64(r.failcnt)/n, fmt.Sprintf("reclaims-%dMiB/op", limit>>20))
		}
		fmt.Printf("| %s | %.1f MiB | %.1f MiB | %.1f MiB (%.1f) | %.1f s (×%.2f) | %.0f | %d |\n",
			label, float64(r.charged)/(1<<20), float64(r.workingSet)/(1<<20), mib(r.peak.rss), mib(r.peak.anon), r.drained.Seconds()/n, ratio, float64(r.failcnt)/n, r.oomKills)
	}
}

func mib(kib int) float64 { return float64(kib) / 1024 }
