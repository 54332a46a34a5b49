//go:build linux

package cli_test

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// procStatus reads one kB field of /proc/<pid>/status ("VmHWM", "RssAnon").
func procStatus(pid int, field string) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			return strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	return 0, fmt.Errorf("no %s for pid %d", field, pid)
}

// rssSampler records the peak of a /proc/<pid>/status field while it runs:
// "VmRSS" (everything resident) or "RssAnon" (heap and stacks: the memory the
// agent itself allocates, as opposed to pages of its executable file).
func rssSampler(pid int, field string) (stop func() int) {
	done := make(chan struct{})
	result := make(chan int)
	go func() {
		peak := 0
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if v, err := procStatus(pid, field); err == nil {
				peak = max(peak, v)
			}
			select {
			case <-done:
				result <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() int { close(done); return <-result }
}

// BenchmarkAgentSpot100Pods runs the real agent binary against the AWS
// emulator: start to ready, spot detection to cordon, the drain of a node
// with 100 pods, and the agent's peak RSS over all of it.
//
//	go test ./internal/cli -run '^$' -bench AgentSpot100Pods -benchtime 3x
func BenchmarkAgentSpot100Pods(b *testing.B) {
	c := testbed.Get(b)
	bin := lifeboatBinary(b)
	var ready, detect, drained time.Duration
	maxRSS, maxAnon, maxHWM, maxIdle := 0, 0, 0, 0
	for range b.N {
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

		start := time.Now()
		p := startAgent(b, nil, e.args("--log-level", "warn")...)
		ready += time.Since(start)
		_ = bin
		time.Sleep(time.Second) // idle, as the agent is almost all of its life
		if idle, err := procStatus(p.cmd.Process.Pid, "VmRSS"); err == nil {
			maxIdle = max(maxIdle, idle)
		}
		stopAnon := rssSampler(p.cmd.Process.Pid, "RssAnon")
		stopRSS := rssSampler(p.cmd.Process.Pid, "VmRSS")
		spot, err := emu.ScheduleSpot(0, "terminate", 2*time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		testbed.Eventually(b, time.Minute, func() (bool, error) {
			n, err := c.Client.CoreV1().Nodes().Get(e.ctx, e.node, metav1.GetOptions{})
			return err == nil && n.Spec.Unschedulable, nil
		})
		detect += time.Since(t0)
		testbed.Eventually(b, 2*time.Minute, func() (bool, error) {
			_, err := c.Client.CoreV1().Nodes().Get(e.ctx, e.node, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		drained += time.Since(t0)
		if time.Now().After(spot.Time) {
			b.Errorf("drain finished after the interruption time")
		}
		hwm, err := procStatus(p.cmd.Process.Pid, "VmHWM")
		if err != nil {
			b.Fatal(err)
		}
		maxHWM = max(maxHWM, hwm)
		maxRSS = max(maxRSS, stopRSS())
		maxAnon = max(maxAnon, stopAnon())
		_ = p.cmd.Process.Kill()
	}
	n := float64(b.N)
	b.ReportMetric(ready.Seconds()*1000/n, "start-to-ready-ms")
	b.ReportMetric(detect.Seconds()*1000/n, "notice-to-cordon-ms")
	b.ReportMetric(drained.Seconds()/n, "notice-to-drained-s")
	b.ReportMetric(float64(maxRSS)/1024, "drain-peak-rss-MiB")
	b.ReportMetric(float64(maxAnon)/1024, "drain-peak-anon-rss-MiB")
	b.ReportMetric(float64(maxHWM)/1024, "lifetime-peak-rss-MiB")
	b.ReportMetric(float64(maxIdle)/1024, "idle-rss-MiB")
	fmt.Printf("\n| agent, 100-pod spot drain | start → ready | idle RSS | notice → cordoned | notice → drained & deleted | peak RSS during the drain | of it anonymous (heap, stacks) | lifetime peak (VmHWM, incl. start-up) |\n|---|---|---|---|---|---|---|---|\n")
	fmt.Printf("| mean of %d | %.0f ms | %.1f MiB | %.0f ms | %.1f s | %.1f MiB | %.1f MiB | %.1f MiB |\n", b.N, ready.Seconds()*1000/n, float64(maxIdle)/1024, detect.Seconds()*1000/n,
		drained.Seconds()/n, float64(maxRSS)/1024, float64(maxAnon)/1024, float64(maxHWM)/1024)
	_ = http.StatusOK
}
