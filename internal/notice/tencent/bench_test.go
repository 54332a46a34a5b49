package tencent_test

import (
	"net/http/httptest"
	"testing"
	"time"

	emu "github.com/lifeboat-dev/lifeboat/internal/emulate/tencent"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/noticetest"
	"github.com/lifeboat-dev/lifeboat/internal/notice/tencent"
)

// BenchmarkTencentDetection measures the time from the reclaim being written on
// the emulator to the notice, with the default poll interval
// (tencent.DefaultInterval): from a round trip to a whole interval, about half on average.
// Run it with -benchtime 10x.
func BenchmarkTencentDetection(b *testing.B) {
	e := emu.New(emu.Options{Log: logging.Discard()})
	srv := httptest.NewServer(e)
	b.Cleanup(srv.Close)
	s, err := tencent.New(tencent.Config{MetadataURL: srv.URL, Node: "bench", Log: logging.Discard()})
	if err != nil {
		b.Fatal(err)
	}
	out, _ := noticetest.Run(b, s)
	noticetest.Ready(b, s)
	var total, worst time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer() // spread the reclaim over the poll phase: quarter steps
		time.Sleep(time.Duration(i%4) * tencent.DefaultInterval / 4)
		b.StartTimer()
		start := time.Now()
		e.Reclaim(0, 5*time.Minute+time.Duration(i)*time.Second) // a new deadline: a new notice
		noticetest.Next(b, out)
		d := time.Since(start)
		total, worst = total+d, max(worst, d)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/detection")
	b.ReportMetric(float64(worst.Microseconds())/1000, "ms-worst")
}
