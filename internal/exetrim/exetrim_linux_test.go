package exetrim

import (
	"bufio"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
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

// filler is 256 KiB of constants in the test binary's read-only data: a
// span of the executable nothing else reads, to watch how much of it one
// read maps.
//
//go:embed testdata/filler.txt
var filler string

var sink byte

// childEnv selects what a re-executed test binary does (TestMain).
const childEnv = "EXETRIM_TEST_CHILD"

func TestMain(m *testing.M) {
	if method := os.Getenv(childEnv); method != "" {
		os.Exit(child(method))
	}
	os.Exit(m.Run())
}

// child switches fault-around off with method ("none": leaves it on),
// trims the executable, reads one byte of filler and prints how many of
// the 16 pages of the 64 KiB-aligned window around it are mapped.
func child(method string) int {
	debug.SetGCPercent(-1)
	ranges, err := executableMappings()
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	switch method {
	case "userfaultfd":
		err = registerWriteProtect(ranges)
	case "one-page-mappings":
		err = splitMappings(ranges)
	case "MapOnTouch":
		var m1, m2 Method
		if m1, err = MapOnTouch(); err == nil {
			m2, err = MapOnTouch()
			fmt.Printf("method=%s again=%s\n", m1, m2)
		}
	}
	if err != nil {
		fmt.Println("refused:", err)
		return 0
	}
	const window = 64 << 10
	base := uintptr(unsafe.Pointer(unsafe.StringData(filler)))
	start := (base + window - 1) &^ (window - 1)
	// Fault-around maps only pages in the page cache: make sure the
	// window's are, however long ago the binary was written.
	if _, _, e := unix.Syscall(unix.SYS_MADVISE, start, window, unix.MADV_WILLNEED); e != 0 {
		fmt.Println("error: madvise WILLNEED:", e)
		return 1
	}
	if err := Executable(); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	sink += filler[start-base+5*pageSize]
	n, err := mappedPages(start, window/int(pageSize))
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Printf("mapped=%d\n", n)
	return 0
}

// mappedPages counts the pages of [start, start+n pages) present in this
// process's page table (/proc/self/pagemap, bit 63).
func mappedPages(start uintptr, n int) (int, error) {
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 8*n)
	if _, err := f.ReadAt(buf, int64(start/pageSize*8)); err != nil {
		return 0, err
	}
	count := 0
	for i := range n {
		if binary.LittleEndian.Uint64(buf[8*i:])&(1<<63) != 0 {
			count++
		}
	}
	return count, nil
}

// runChild re-executes the test binary as child(method) and returns what
// it printed.
func runChild(t *testing.T, method string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+method)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", method, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestFaultAroundOff reads one byte of a span of the executable nothing
// else touches, after trimming: with fault-around on (the control), the
// kernel maps the whole 64 KiB around it; with either of MapOnTouch's
// methods, only the page read.
func TestFaultAroundOff(t *testing.T) {
	control := runChild(t, "none")
	var n int
	if _, err := fmt.Sscanf(control, "mapped=%d", &n); err != nil {
		t.Fatalf("control: %q", control)
	}
	t.Logf("fault-around on: one read mapped %d of 16 pages", n)
	if n < 4 {
		t.Fatalf("the control mapped %d pages: this kernel does no fault-around to switch off, the test shows nothing", n)
	}
	for _, method := range []string{"userfaultfd", "one-page-mappings"} {
		t.Run(method, func(t *testing.T) {
			out := runChild(t, method)
			if refused, ok := strings.CutPrefix(out, "refused: "); ok {
				if method == "userfaultfd" && (strings.Contains(refused, "operation not permitted") || strings.Contains(refused, "function not implemented") || strings.Contains(refused, "invalid argument")) {
					t.Skipf("this kernel or sandbox refuses userfaultfd (MapOnTouch falls back to one-page mappings, tested below): %s", refused)
				}
				t.Fatalf("refused: %s", refused)
			}
			if out != "mapped=1" {
				t.Errorf("one read mapped %q, want mapped=1", out)
			}
		})
	}
}

// TestMapOnTouch: the first method that takes is kept and reported again.
func TestMapOnTouch(t *testing.T) {
	out := runChild(t, "MapOnTouch")
	first, rest, _ := strings.Cut(out, "\n")
	if first != "method=userfaultfd again=userfaultfd" && first != "method=one-page-mappings again=one-page-mappings" {
		t.Fatalf("MapOnTouch: %q", out)
	}
	if rest != "mapped=1" {
		t.Errorf("after MapOnTouch one read mapped %q, want mapped=1", rest)
	}
}

// TestFitsMapCount: one-page mappings may take half of vm.max_map_count:
// the node agent's 8 700 pages and the full build's 23 000 fit the default
// 65 530; a lowered limit makes MapOnTouch keep fault-around instead.
func TestFitsMapCount(t *testing.T) {
	pages := func(n int) []mapping {
		return []mapping{{0x400000, 0x400000 + uintptr(n/2)*pageSize}, {0x2000000, 0x2000000 + uintptr(n-n/2)*pageSize}}
	}
	for _, c := range []struct {
		pages, limit int
		ok           bool
	}{
		{8700, 65530, true},
		{23000, 65530, true},
		{32765, 65530, true},
		{32766, 65530, false},
		{8700, 16384, false},
	} {
		err := fitsMapCount(pages(c.pages), c.limit)
		if (err == nil) != c.ok {
			t.Errorf("%d pages, max_map_count %d: %v, want ok=%v", c.pages, c.limit, err, c.ok)
		}
		if err != nil && !errors.Is(err, errTooManyMappings) {
			t.Errorf("error %v is not errTooManyMappings", err)
		}
	}
}
