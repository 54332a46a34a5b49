package gcp_test

import (
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/emulate/gcp"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	source "github.com/lifeboat-dev/lifeboat/internal/notice/gcp"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/noticetest"
)

// BenchmarkGCPDetection measures the time from preempted turning TRUE on
// the emulator to the notice: the hanging wait_for_change request returns at
// once, so this is one round trip, not a poll interval.
func BenchmarkGCPDetection(b *testing.B) {
	emu, srv := emulator(b, nil)
	out, _, _ := run(b, source.Config{MetadataURL: srv.URL})
	var total, worst time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		hanging(b, emu, gcp.PreemptedKey)
		b.StartTimer()
		start := time.Now()
		emu.Preempt(0)
		n := noticetest.Next(b, out)
		d := time.Since(start)
		total, worst = total+d, max(worst, d)
		if n.Kind != notice.KindPreemption || n.Canceled {
			b.Fatalf("got %+v", n)
		}
		b.StopTimer()
		hanging(b, emu, gcp.PreemptedKey)
		emu.Set(gcp.PreemptedKey, gcp.PreemptedFalse)
		if c := noticetest.Next(b, out); !c.Canceled {
			b.Fatalf("want canceled notice, got %+v", c)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/detection")
	b.ReportMetric(float64(worst.Microseconds())/1000, "ms-worst")
}
