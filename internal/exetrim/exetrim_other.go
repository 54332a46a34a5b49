//go:build !linux

package exetrim

import "errors"

// Executable does nothing: only Linux is known to drop clean pages of a
// mapped executable on MADV_DONTNEED.
func Executable() error { return nil }

// MapOnTouch does nothing: fault-around is a Linux page-cache feature.
func MapOnTouch() (Method, error) { return "", errors.ErrUnsupported }
