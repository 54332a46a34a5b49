//go:build linux

package cli

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ExecRefusingUserfaultfdEnv, when set, makes the test binary exec its
// arguments under a seccomp filter that refuses userfaultfd(2) with EPERM,
// as container runtimes' default profiles (RuntimeDefault) do: the
// benchmarks run the agent so to measure it as a hardened Pod runs it.
const ExecRefusingUserfaultfdEnv = "LIFEBOAT_TEST_EXEC_REFUSING_USERFAULTFD"

// execRefusingUserfaultfdIfAsked does that exec when the environment asks
// for it, and returns otherwise.
func execRefusingUserfaultfdIfAsked() {
	if os.Getenv(ExecRefusingUserfaultfdEnv) == "" {
		return
	}
	if err := execRefusingUserfaultfd(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "exec refusing userfaultfd:", err)
		os.Exit(2)
	}
}

func execRefusingUserfaultfd(argv []string) error {
	if len(argv) == 0 {
		return fmt.Errorf("no command")
	}
	// The filter applies to this thread, which then execs.
	runtime.LockOSThread()
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_USERFAULTFD},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog))); e != 0 {
		return fmt.Errorf("seccomp: %w", e)
	}
	return syscall.Exec(argv[0], argv, os.Environ())
}
