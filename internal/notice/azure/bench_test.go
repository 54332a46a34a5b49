package azure_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/emulate/azure"
	source "github.com/lifeboat-dev/lifeboat/internal/notice/azure"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/noticetest"
)

// BenchmarkAzureDetection measures the time from scheduling an event on the
// emulator to the notice, with the default 500 ms poll interval: about half
// the interval on average, at most one interval plus a request.
func BenchmarkAzureDetection(b *testing.B) {
	emu, srv := emulator(b, azure.Options{})
	_, out, _ := run(b, source.Config{MetadataURL: srv.URL, VMName: testVM, PollInterval: source.DefaultPollInterval})
	var total, worst time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Schedule at a random phase of the poll cycle, as a real event would.
		b.StopTimer()
		time.Sleep(rand.N(source.DefaultPollInterval))
		b.StartTimer()
		start := time.Now()
		ev := schedule(b, emu, azure.EventSpec{EventType: azure.EventPreempt})
		n := noticetest.Next(b, out)
		d := time.Since(start)
		total, worst = total+d, max(worst, d)
		if n.ID != ev.EventID {
			b.Fatalf("notice %q, want %q", n.ID, ev.EventID)
		}
		b.StopTimer()
		emu.Cancel(ev.EventID)
		if c := noticetest.Next(b, out); !c.Canceled {
			b.Fatalf("want canceled notice, got %+v", c)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/detection")
	b.ReportMetric(float64(worst.Milliseconds()), "ms-worst")
}
