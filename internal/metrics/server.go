package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

// shutdownTimeout bounds how long Run waits for in-flight scrapes on exit.
const shutdownTimeout = 5 * time.Second

// Server serves /metrics from a Metrics registry, /healthz (200 while the
// process runs and its liveness check, if set, passes; 500 otherwise),
// /readyz (200 once SetReady(true), 503 before) and, when enabled,
// /debug/pprof/.
type Server struct {
	opts     Options
	log      *slog.Logger
	handler  http.Handler
	ready    atomic.Bool
	liveness atomic.Pointer[func() error]
	ln       net.Listener
}

// NewServer builds the server; nothing listens until Listen or Run.
func NewServer(o Options, m *Metrics, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: o, log: log}
	mux := http.NewServeMux()
	if m != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
			Registry:          m.Registry,
			EnableOpenMetrics: true,
			ErrorLog:          slogPrinter{log},
		}))
	}
	mux.HandleFunc("/healthz", s.serveHealth)
	mux.HandleFunc("/readyz", s.serveReady)
	if o.EnablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	s.handler = mux
	return s
}

// SetReady sets what /readyz answers: 200 when ready, 503 otherwise.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// SetLiveness sets the check /healthz runs: a non-nil error (a wedged main
// loop) answers 500 with the error, so the kubelet or systemd restarts it.
func (s *Server) SetLiveness(check func() error) { s.liveness.Store(&check) }

func (s *Server) serveHealth(w http.ResponseWriter, _ *http.Request) {
	if check := s.liveness.Load(); check != nil && *check != nil {
		if err := (*check)(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	_, _ = w.Write([]byte("ok\n"))
}

// Handler is the server's HTTP handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) serveReady(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// Listen binds Options.Address and returns the bound address (useful with
// port 0). It returns nil, nil when the server is disabled. Run calls it if
// it was not called before.
func (s *Server) Listen() (net.Addr, error) { return s.listen(context.Background()) }

func (s *Server) listen(ctx context.Context) (net.Addr, error) {
	if s.opts.Address == "" {
		return nil, nil
	}
	if s.ln == nil {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.opts.Address)
		if err != nil {
			return nil, fmt.Errorf("--metrics-address %s: %w", s.opts.Address, err)
		}
		s.ln = ln
	}
	return s.ln.Addr(), nil
}

// Run serves until ctx is done, then shuts down gracefully. With an empty
// Options.Address it returns nil at once.
func (s *Server) Run(ctx context.Context) error {
	addr, err := s.listen(ctx)
	if err != nil || addr == nil {
		return err
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.ln) }()
	s.log.Info("serving metrics", "address", addr.String(), "pprof", s.opts.EnablePprof)
	select {
	case err := <-errc:
		return fmt.Errorf("metrics server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("metrics server shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics server: %w", err)
	}
	return nil
}

// slogPrinter lets promhttp report encoding errors through slog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.log.Error("serving metrics", logging.KeyError, fmt.Sprint(v...))
}
