package exetrim

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Executable unmaps the read-only mappings of the running executable
// (code, constants, the function table) from this process.
func Executable() error {
	ranges, err := executableMappings()
	if err != nil {
		return err
	}
	for _, r := range ranges {
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, r.start, r.end-r.start, unix.MADV_DONTNEED); e != 0 {
			return fmt.Errorf("madvise %#x-%#x: %w", r.start, r.end, e)
		}
	}
	return nil
}

// executableMappings lists the running executable's read-only mappings
// as the program started with them. It reads /proc/self/maps once: the
// ranges do not change, and after MapOnTouch has split them the file has
// a line per page.
var executableMappings = sync.OnceValues(readExecutableMappings)

func readExecutableMappings() ([]mapping, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readOnlyMappings(f, exe)
}

type mapping struct{ start, end uintptr }

// readOnlyMappings parses /proc/<pid>/maps and returns the mappings of
// path that are not writable.
func readOnlyMappings(r io.Reader, path string) ([]mapping, error) {
	var out []mapping
	s := bufio.NewScanner(r)
	for s.Scan() {
		// address perms offset dev inode pathname
		fields := strings.Fields(s.Text())
		if len(fields) != 6 || fields[5] != path || strings.Contains(fields[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		out = append(out, mapping{uintptr(start), uintptr(end)})
	}
	return out, s.Err()
}
