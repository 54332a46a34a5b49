package exetrim

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// userfaultfd(2) ABI (linux/userfaultfd.h); x/sys/unix has only the
// system call number.
const (
	uffdAPI            = 0xAA
	uffdUserModeOnly   = 1          // UFFD_USER_MODE_ONLY: needs no privilege
	uffdFeatureWPAsync = 1 << 15    // UFFD_FEATURE_WP_ASYNC, Linux 6.7
	uffdRegisterModeWP = 1 << 1     // UFFDIO_REGISTER_MODE_WP
	uffdioAPI          = 0xC018AA3F // _IOWR(0xAA, 0x3F, struct uffdio_api)
	uffdioRegister     = 0xC020AA00 // _IOWR(0xAA, 0x00, struct uffdio_register)
)

type uffdioAPIArg struct{ api, features, ioctls uint64 }

type uffdioRegisterArg struct{ start, length, mode, ioctls uint64 }

var (
	mapOnTouchMu sync.Mutex
	mapOnTouch   Method
	// uffd stays open for the life of the process: closing it would undo
	// the registration.
	uffd *os.File
)

// MapOnTouch switches fault-around off for the executable's read-only
// mappings; see Method. It first tries userfaultfd, then one-page
// mappings, and returns the method that took, or an error saying why
// neither did (fault-around then stays on, except on the ranges a method
// got to before it failed, which is harmless). Calling it again after a
// success returns the first result.
func MapOnTouch() (Method, error) {
	mapOnTouchMu.Lock()
	defer mapOnTouchMu.Unlock()
	if mapOnTouch != "" {
		return mapOnTouch, nil
	}
	ranges, err := executableMappings()
	if err != nil {
		return "", err
	}
	uerr := registerWriteProtect(ranges)
	if uerr == nil {
		mapOnTouch = MethodUserfaultfd
		return mapOnTouch, nil
	}
	serr := splitMappings(ranges)
	if serr == nil {
		mapOnTouch = MethodOnePageMappings
		return mapOnTouch, nil
	}
	return "", fmt.Errorf("fault-around stays on: %w; %w", uerr, serr)
}

// registerWriteProtect registers ranges with an asynchronous
// write-protect userfaultfd: the kernel never maps more than the faulting
// page of a range registered so (mm/memory.c: uffd_disable_fault_around).
// The pages are never written, so nothing else changes; asynchronous mode
// means no thread has to serve the descriptor.
func registerWriteProtect(ranges []mapping) error {
	if uffd == nil {
		fd, _, e := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK|uffdUserModeOnly, 0, 0)
		if e != 0 {
			return fmt.Errorf("userfaultfd: %w", e)
		}
		f := os.NewFile(fd, "userfaultfd")
		api := uffdioAPIArg{api: uffdAPI, features: uffdFeatureWPAsync}
		if err := ioctl(f, uffdioAPI, unsafe.Pointer(&api)); err != nil { //nolint:gosec // G103: the ioctl ABI takes the argument's address
			_ = f.Close()
			return fmt.Errorf("userfaultfd asynchronous write-protect (Linux 6.7): %w", err)
		}
		uffd = f
	}
	for i, r := range ranges {
		reg := uffdioRegisterArg{start: uint64(r.start), length: uint64(r.end - r.start), mode: uffdRegisterModeWP}
		if err := ioctl(uffd, uffdioRegister, unsafe.Pointer(&reg)); err != nil { //nolint:gosec // G103: the ioctl ABI takes the argument's address
			if i == 0 {
				// Nothing registered: let the descriptor go.
				_ = uffd.Close()
				uffd = nil
			}
			return fmt.Errorf("userfaultfd register %#x-%#x: %w", r.start, r.end, err)
		}
	}
	return nil
}

func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), req, uintptr(arg)); e != 0 {
		return e
	}
	return nil
}

// errTooManyMappings: splitting would take more than half of
// vm.max_map_count (the Go runtime itself needs a few hundred mappings at
// most; the full lifeboat build needs ~23 000 of the default 65 530).
var errTooManyMappings = errors.New("one-page mappings would take more than half of vm.max_map_count")

// splitMappings makes every page of ranges its own mapping, because
// fault-around never crosses a mapping's bounds. Neighbouring mappings
// merge unless their flags differ, so every other page gets MADV_RANDOM
// (which only turns off read-ahead on a page-cache miss for that page).
func splitMappings(ranges []mapping) error {
	if limit, err := maxMapCount(); err == nil {
		if err := fitsMapCount(ranges, limit); err != nil {
			return err
		}
	}
	for _, r := range ranges {
		for a := r.start + pageSize; a < r.end; a += 2 * pageSize {
			if _, _, e := unix.Syscall(unix.SYS_MADVISE, a, pageSize, unix.MADV_RANDOM); e != 0 {
				return fmt.Errorf("madvise %#x: %w", a, e)
			}
		}
	}
	return nil
}

// fitsMapCount refuses one-page mappings of ranges that would take more
// than half of limit (vm.max_map_count).
func fitsMapCount(ranges []mapping, limit int) error {
	pages := 0
	for _, r := range ranges {
		pages += int((r.end - r.start) / pageSize)
	}
	if pages > limit/2 {
		return fmt.Errorf("%w (%d pages, limit %d)", errTooManyMappings, pages, limit)
	}
	return nil
}

var pageSize = uintptr(os.Getpagesize())

func maxMapCount() (int, error) {
	b, err := os.ReadFile("/proc/sys/vm/max_map_count")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
