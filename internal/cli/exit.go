package cli

import "errors"

// ExitError carries a specific process exit code.
type ExitError struct {
	// Code is the process exit code.
	Code int
	// Err is the underlying error.
	Err error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode maps an error to a process exit code: an ExitError's own code,
// otherwise 1.
func ExitCode(err error) int {
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return 1
}
