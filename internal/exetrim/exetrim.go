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
//
// MapOnTouch goes further: the kernel maps the 64 KiB around each touched
// page of a file (fault-around), so a drain that runs a few hundred pages
// of code and tables would bring back ten times as much. With fault-around
// off, the executable's share of the resident set is the pages the agent
// actually runs and reads.
package exetrim

import (
	"context"
	"time"
)

// Method is how MapOnTouch switched fault-around off.
type Method string

const (
	// MethodUserfaultfd means the mappings are registered with an asynchronous
	// write-protect userfaultfd (Linux 6.7; container runtimes' default
	// seccomp profiles refuse userfaultfd(2)). Costs nothing.
	MethodUserfaultfd Method = "userfaultfd"
	// MethodOnePageMappings means every page is its own mapping, which
	// fault-around does not cross. Works on any Linux and in any sandbox;
	// costs about 200 bytes of kernel memory per page of the executable's
	// code and constants (8 400 mappings, 1.7 MiB, for the node agent).
	MethodOnePageMappings Method = "one-page-mappings"
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
