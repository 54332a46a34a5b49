package aws

import (
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	awsemu "github.com/lifeboat-dev/lifeboat/internal/emulate/aws"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// BenchmarkDetection measures, with the default polling intervals, the wall
// time from scheduling a spot interruption on the emulator to its notice
// arriving from the source. ns/op is the mean detection latency: about half
// the 500 ms spot interval plus one metadata read; the worst case is one
// interval plus a read.
func BenchmarkDetection(b *testing.B) {
	e := newEnv(b, awsemu.Options{})
	s, err := New(Config{Endpoint: e.url, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	out := make(chan notice.Notice, 1)
	ctx := b.Context()
	go func() { _ = s.Run(ctx, out) }()
	for b.Loop() {
		// Start at a random point of the polling cycle, as a real
		// interruption would, and not right after the previous detection.
		b.StopTimer()
		time.Sleep(rand.N(DefaultSpotInterval))
		b.StartTimer()
		// A new interruption time each round, so each is a new notice ID.
		e.clock.Step(time.Minute)
		if _, err := e.emu.ScheduleSpot(0, awsemu.SpotTerminate, 0); err != nil {
			b.Fatal(err)
		}
		select {
		case n := <-out:
			if n.Kind != notice.KindSpotInterruption {
				b.Fatalf("notice %+v", n)
			}
		case <-time.After(patience):
			b.Fatal("no notice")
		}
	}
}
