// Package emulate holds what the cloud metadata emulators (emulate/aws,
// emulate/azure, emulate/gcp) share: the fault table (FaultMode, Faults),
// the JSON helpers of the /lifeboat/ control endpoints, and serving an
// http.Handler on an address until a context ends.
package emulate

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// shutdownGrace bounds how long Serve waits for in-flight requests (a
// "hang" fault may hold one open) once ctx is done.
const shutdownGrace = 2 * time.Second

// Serve serves h on l until ctx is done, then shuts the server down and
// returns nil. Any other serving error is returned. l is closed on return.
func Serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
