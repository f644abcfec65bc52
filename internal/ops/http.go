package ops

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTPOptions configure the operator HTTP endpoint.
type HTTPOptions struct {
	Addr     string              // "127.0.0.1:9877"; port 0 picks one
	Pprof    bool                // also serve /debug/pprof/ (CPU and heap profiles)
	Gatherer prometheus.Gatherer // served on /metrics
	Status   func() any          // marshalled as JSON on /status
	Healthy  func() error        // nil error: /healthz answers 200
	// Degraded names a condition under which the process works but cannot
	// do its job (a full disk refusing every send); nil error: none.
	Degraded func() error
	Logger   *slog.Logger
	// TLS, when set, serves HTTPS.
	TLS *tls.Config
	// Admin, when set, guards /status and /debug/pprof/ (they show the
	// configuration and the process's memory): a request it refuses is
	// answered 401 with its reason. /metrics, /healthz and /readyz stay
	// open.
	Admin func(r *http.Request) error
	// Mounts are further handlers by ServeMux pattern ("/api/v1/", "/ui/"),
	// served beside the operator endpoints.
	Mounts map[string]http.Handler
}

// HTTPServer serves /metrics, /healthz, /readyz, /status and the Mounts,
// over HTTP/1.1 and cleartext HTTP/2 (h2c, prior knowledge).
//
//	/metrics  Prometheus text exposition of Gatherer
//	/healthz  200 "ok" while the process works (Healthy returns nil), else 503;
//	          a Degraded condition adds a "degraded: ..." line to the 200
//	/readyz   200 "ready" between SetReady(true) and SetReady(false) while
//	          nothing is Degraded, else 503 with the reason
//	/status   the Status value as indented JSON
//
// A degraded process stays healthy: restarting it (what a failing liveness
// check leads to) does not free a disk, and it still serves reads. It is
// not ready: producers should be sent elsewhere.
type HTTPServer struct {
	opts  HTTPOptions
	srv   *http.Server
	addr  string
	ready atomic.Bool
	done  chan struct{}
}

// StartHTTP listens on opts.Addr and serves in the background.
func StartHTTP(opts HTTPOptions) (*HTTPServer, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Gatherer == nil {
		return nil, errors.New("ops: http: no metrics gatherer")
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("ops: http listen %s: %w", opts.Addr, err)
	}
	if opts.TLS != nil {
		ln = tls.NewListener(ln, opts.TLS)
	}
	s := &HTTPServer{opts: opts, addr: ln.Addr().String(), done: make(chan struct{})}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true) // h2c with prior knowledge
	s.srv = &http.Server{
		Handler:           s.mux(),
		Protocols:         protocols,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			opts.Logger.Error("ops: http server stopped", "addr", s.addr, "err", err)
		}
	}()
	return s, nil
}

func (s *HTTPServer) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelWarn),
	}))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /status", s.adminOnly(s.status))
	if s.opts.Pprof {
		mux.HandleFunc("GET /debug/pprof/", s.adminOnly(pprof.Index))
		mux.HandleFunc("GET /debug/pprof/cmdline", s.adminOnly(pprof.Cmdline))
		mux.HandleFunc("GET /debug/pprof/profile", s.adminOnly(pprof.Profile))
		mux.HandleFunc("GET /debug/pprof/symbol", s.adminOnly(pprof.Symbol))
		mux.HandleFunc("GET /debug/pprof/trace", s.adminOnly(pprof.Trace))
	}
	for pattern, h := range s.opts.Mounts {
		mux.Handle(pattern, h)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "comet: /metrics /healthz /readyz /status")
	})
	return mux
}

// adminOnly guards h with opts.Admin (HTTP Basic authentication with an
// admin account's access and secret keys).
func (s *HTTPServer) adminOnly(h http.HandlerFunc) http.HandlerFunc {
	if s.opts.Admin == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.opts.Admin(r); err != nil {
			s.opts.Logger.Warn("ops: http request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", err)
			w.Header().Set("WWW-Authenticate", `Basic realm="comet"`)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

func (s *HTTPServer) healthz(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Healthy != nil {
		if err := s.opts.Healthy(); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	fmt.Fprintln(w, "ok")
	if err := s.degraded(); err != nil {
		fmt.Fprintln(w, "degraded:", err)
	}
}

func (s *HTTPServer) readyz(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	if err := s.degraded(); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

func (s *HTTPServer) degraded() error {
	if s.opts.Degraded == nil {
		return nil
	}
	return s.opts.Degraded()
}

func (s *HTTPServer) status(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Status == nil {
		http.Error(w, "no status", http.StatusNotFound)
		return
	}
	body, err := json.MarshalIndent(s.opts.Status(), "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(body, '\n'))
}

// Addr is the bound address.
func (s *HTTPServer) Addr() string { return s.addr }

// SetReady switches /readyz.
func (s *HTTPServer) SetReady(ready bool) { s.ready.Store(ready) }

// Shutdown stops accepting and waits for requests in flight until ctx ends.
func (s *HTTPServer) Shutdown(ctx context.Context) error {
	s.ready.Store(false)
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}
