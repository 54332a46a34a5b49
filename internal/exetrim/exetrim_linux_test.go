package exetrim

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestReadOnlyMappings(t *testing.T) {
	const exe = "/usr/local/bin/lifeboat-agent"
	maps := `00400000-01bd6000 r-xp 00000000 fe:00 10078466                           /usr/local/bin/lifeboat-agent
01bd6000-036dd000 r--p 017d6000 fe:00 10078466                           /usr/local/bin/lifeboat-agent
036dd000-03769000 rw-p 032dd000 fe:00 10078466                           /usr/local/bin/lifeboat-agent
03769000-037c0000 rw-p 00000000 00:00 0
c000000000-c000400000 rw-p 00000000 00:00 0
7f0570809000-7f05708ab000 r--p 00000000 fe:00 42                         /usr/local/bin/lifeboat-agent.old
7ffd1e5fe000-7ffd1e600000 r-xp 00000000 00:00 0                          [vdso]
zz-01 r-xp 00000000 fe:00 1 /usr/local/bin/lifeboat-agent
`
	got, err := readOnlyMappings(strings.NewReader(maps), exe)
	if err != nil {
		t.Fatal(err)
	}
	want := []mapping{{0x400000, 0x1bd6000}, {0x1bd6000, 0x36dd000}}
	if len(got) != len(want) {
		t.Fatalf("got %#v, want %#v (the executable's code and constants, never its writable data)", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d: got %#x, want %#x", i, got[i], want[i])
		}
	}
}

// exeRSS sums the resident KiB of the test binary's read-only mappings.
func exeRSS(t *testing.T) int {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	total, inExe := 0, false
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			inExe = len(fields) == 6 && fields[5] == exe && !strings.Contains(fields[1], "w")
			continue
		}
		if v, ok := strings.CutPrefix(line, "Rss:"); ok && inExe {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

// TestExecutable trims the running test binary: its code and constants
// leave the resident set, and the program keeps running (the pages it uses
// fault back in from the page cache).
func TestExecutable(t *testing.T) {
	before := exeRSS(t)
	if err := Executable(); err != nil {
		t.Fatal(err)
	}
	after := exeRSS(t)
	t.Logf("resident pages of the executable: %d KiB before, %d KiB after", before, after)
	if after >= before {
		t.Errorf("trimming left %d KiB of the executable resident, had %d KiB", after, before)
	}
	// Still runs, and right: the code and tables it now needs fault back in.
	if sum := sha256.Sum256([]byte("lifeboat")); hex.EncodeToString(sum[:]) != "55b2784500c84f2ad4611725d3c147820aff970a3c40ab9bc80642294cf9df88" {
		t.Errorf("sha256 after trimming: %x", sum)
	}
}

func TestEveryStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Every(ctx, time.Millisecond, time.Millisecond)
		close(done)
	}()
	time.Sleep(20 * time.Millisecond) // a few trims
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Every did not return after its context ended")
	}
}
