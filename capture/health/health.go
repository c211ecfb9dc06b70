// Package health serves the sidecar's probes inside the pod: /healthz (the process runs) and
// /readyz (every capture socket is open and reading). The native sidecar's startupProbe uses
// /readyz, so the application containers start only once capture runs.
package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Server is the probe server. Ready is safe to call from any goroutine.
type Server struct {
	ready atomic.Bool
	srv   *http.Server
	ln    net.Listener
	mux   *http.ServeMux
}

// Listen binds addr (":15099"). Handlers added with Handle before Serve are served too.
func Listen(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, mux: http.NewServeMux()}
	s.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	s.mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "capture is not running yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second}
	return s, nil
}

// Handle adds a handler, such as /metrics.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// SetReady flips /readyz.
func (s *Server) SetReady(ok bool) { s.ready.Store(ok) }

// Serve serves until Shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops the server.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
