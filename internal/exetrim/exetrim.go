// Package exetrim keeps the pages of lifeboat's own executable that it no
// longer runs out of its resident memory.
//
// A Go program maps its whole executable; every page it touches stays
// resident until the process exits, and the kernel maps the neighbours of
// each touched page as well (fault-around). Start-up touches code and
// constants in every linked package once (package initialisation, flag
// parsing, client set-up) and never again, so a long-running agent would
// otherwise carry tens of MiB of pages it no longer uses. Unmapping the
// executable's read-only mappings (MADV_DONTNEED) drops them; they stay in
// the page cache, shared and clean, and the pages the agent goes on using
// fault back in without I/O. Writable mappings (.data, .bss, the heap) are
// never touched, so no state is lost.
package exetrim

import (
	"context"
	"time"
)

// Every unmaps the executable's read-only pages after delay (when start-up
// is over) and then again every interval, until ctx ends; errors are
// ignored (the pages simply stay resident). It is a no-op where the
// platform has no way to do it.
func Every(ctx context.Context, delay, interval time.Duration) {
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_ = Executable()
		t.Reset(interval)
	}
}
