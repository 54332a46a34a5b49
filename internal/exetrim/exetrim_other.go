//go:build !linux

package exetrim

// Executable does nothing: only Linux is known to drop clean pages of a
// mapped executable on MADV_DONTNEED.
func Executable() error { return nil }
