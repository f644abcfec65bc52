// Package daemon runs one comet process: it loads the configuration, starts
// the embedded name server and the broker, serves the operator HTTP
// endpoint, tells systemd when it is ready and when it stops, reloads what
// it can on SIGHUP (the log settings, the ACL file) and drains gracefully
// on SIGTERM or SIGINT. It owns the process's start and shutdown order and
// nothing else; cmd/comet only calls Main.
//
// Access control and TLS (security.go) are built before anything listens:
// one ACL file watcher feeds the broker's and the name server's gates, and
// the HTTP endpoint's /status and /debug/pprof/ take an admin account
// (HTTP Basic). A broker with the embedded name server and an ACL file
// must have its own admin account (access-key, secret-key), which signs
// its registrations.
//
// A broker process locks its data dir (persist.LockDir) before it binds
// anything and holds the lock until it exits; /readyz also turns 503 while
// a full disk refuses sends.
//
// Shutdown order: /readyz turns 503 and systemd hears STOPPING=1; the
// broker stops accepting, drains its writer (final sync and acknowledgements)
// and closes the store; the name server stops; the HTTP endpoint stops
// last, so metrics stay readable during the drain.
package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/console"
	"github.com/cometmq/comet/httpapi"
	"github.com/cometmq/comet/internal/config"
	"github.com/cometmq/comet/internal/ops"
	"github.com/cometmq/comet/internal/version"
	"github.com/cometmq/comet/mqtt"
	"github.com/cometmq/comet/namesrv"
	"github.com/cometmq/comet/persist"
)

// Exit codes of Main.
const (
	ExitOK      = 0
	ExitFailure = 1 // the server failed to start or to stop cleanly
	ExitConfig  = 2 // bad flags, config file or environment
)

// process is one running comet process.
type process struct {
	args     []string
	mode     string                        // "broker" or "namesrv"
	cfg      *config.Config                // as started; reload swaps it (only the run goroutine)
	current  atomic.Pointer[config.Config] // what /status shows
	logging  *ops.Logging
	log      *slog.Logger
	notifier *ops.Notifier
	namesrv  atomic.Pointer[namesrv.Server]
	broker   atomic.Pointer[actors.Broker] // set once it serves; /status reads it
	mqtt     atomic.Pointer[mqtt.Gateway]  // mqtt.go
	dirLock  *persist.DirLock              // the data dir's lock until the broker takes it
	registry *prometheus.Registry
	http     *ops.HTTPServer
	api      atomic.Pointer[httpapi.API] // set once the name server is known
	// quietStop: shutdown after a failed start, which logs no clean stop.
	quietStop bool
	security  *security // access control and TLS
}

// Main runs comet with args (without the program name) until SIGTERM or
// SIGINT and returns the exit code.
func Main(args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(args[1:], stderr)
	}
	if len(args) > 0 && args[0] == "controller" {
		return runController(args[1:], stderr)
	}
	p := &process{mode: "broker", notifier: ops.NewNotifier()}
	if len(args) > 0 && args[0] == "namesrv" {
		p.mode, args = "namesrv", args[1:]
	}
	p.args = args
	cfg, err := loadConfig(p.mode, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "comet:", err)
		return ExitConfig
	}
	p.cfg = cfg
	p.current.Store(cfg)
	level, _ := cfg.Level()
	if p.logging, err = ops.NewLogging(stderr, cfg.LogFormat, level, cfg.LogRateLimit); err != nil {
		fmt.Fprintln(stderr, "comet:", err)
		return ExitConfig
	}
	p.log = p.logging.Logger
	p.warnUnknownEnv()
	if err := p.run(); err != nil {
		p.log.Error("comet: exiting", "err", err)
		return ExitFailure
	}
	return ExitOK
}

func loadConfig(mode string, args []string, stderr io.Writer) (*config.Config, error) {
	if mode == "namesrv" {
		fs := flag.NewFlagSet("comet namesrv", flag.ContinueOnError)
		fs.SetOutput(stderr)
		return config.LoadNamesrv(fs, args)
	}
	fs := flag.NewFlagSet("comet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	return config.Load(fs, args)
}

func (p *process) run() error {
	stop := make(chan os.Signal, 2)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(stop)
	defer signal.Stop(hup)
	if err := p.start(); err != nil {
		p.stopAfterFailedStart()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	go p.notifier.RunWatchdog(ctx, func() bool { return true })
	for {
		select {
		case sig := <-stop:
			cancel()
			p.log.Info("comet: shutting down", "signal", sig.String(), "timeout", p.cfg.ShutdownTimeout.String())
			return p.shutdown()
		case <-hup:
			p.reload()
		}
	}
}

// start brings everything up and announces readiness. A broker locks its
// data dir before anything else, so a second process started with the
// same settings is told the directory is in use (and by which pid) rather
// than that a port is taken. The HTTP endpoint comes next so /healthz
// answers (and /readyz says 503) during a long recovery.
func (p *process) start() error {
	if p.mode == "broker" {
		lock, err := persist.LockDir(p.cfg.DataDir)
		if err != nil {
			return fmt.Errorf("comet: %w", err)
		}
		p.dirLock = lock
	}
	var err error
	if p.security, err = newSecurity(p.cfg, p.log); err != nil {
		return err
	}
	if p.mode == "broker" {
		if err := p.security.checkBrokerAccount(p.cfg.NamesrvListen != ""); err != nil {
			return err
		}
	}
	if err := p.startHTTP(); err != nil {
		return err
	}
	if p.mode == "namesrv" || p.cfg.NamesrvListen != "" {
		ns, err := namesrv.ServeWith(namesrv.ServeOptions{Addr: p.cfg.NamesrvListen, Logger: p.log,
			Gate: p.security.namesrvGateOrNil(), TLS: p.security.tls,
			KVConfigPath: filepath.Join(p.cfg.DataDir, "namesrv", "kvConfig.json")})
		if err != nil {
			return p.listenFailed("namesrv-listen", p.cfg.NamesrvListen, err)
		}
		p.namesrv.Store(ns)
	}
	if p.mode == "broker" {
		if err := p.startBroker(); err != nil {
			return err
		}
	}
	p.startAPI()
	p.announceReady()
	return nil
}

func (p *process) startBroker() error {
	opts := p.cfg.BrokerOptions(p.log)
	if ns := p.namesrv.Load(); ns != nil {
		opts.NamesrvAddrs = append([]string{ns.Addr()}, opts.NamesrvAddrs...)
	}
	opts.DataDirLock, p.dirLock = p.dirLock, nil // the broker owns it now
	opts.Gate, opts.TLS = p.security.brokerGateOrNil(), p.security.tls
	opts.Credentials, opts.ClientTLS = p.security.creds, p.security.clientTLS
	b, err := actors.NewBroker(opts)
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return p.brokerStartFailed(err)
	}
	b.SetTimerBacklog(b.TimerBacklog)
	b.SetTransactionBacklog(func() int64 { return b.TxnStats().Pending.Load() })
	p.registry.MustRegister(b.Collector(), b.ReplicationCollector(), b.RegistrationCollector())
	p.broker.Store(b)
	return p.startMQTT(b)
}

func (p *process) startHTTP() error {
	p.registry = prometheus.NewRegistry()
	p.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfo())
	if p.cfg.HTTPListen == "" {
		return nil
	}
	if p.cfg.HTTPOffLoopback() {
		p.log.Warn("comet: HTTP endpoint listens beyond loopback as configured", "http", p.cfg.HTTPListen)
	}
	var mounts map[string]http.Handler
	if p.cfg.HTTPAPI {
		mounts = map[string]http.Handler{httpapi.Prefix + "/": http.HandlerFunc(p.serveAPI), console.Prefix: console.Handler()}
	}
	opts := ops.HTTPOptions{Addr: p.cfg.HTTPListen, Pprof: p.cfg.Pprof, Gatherer: p.registry, Logger: p.log,
		Status: p.status, Degraded: p.degraded, Admin: p.security.httpAdmin(), Mounts: mounts}
	if p.security != nil {
		opts.TLS = p.security.httpTLS
	}
	srv, err := ops.StartHTTP(opts)
	if err != nil {
		return p.listenFailed("http-listen", p.cfg.HTTPListen, err)
	}
	p.http = srv
	return nil
}

// degraded reports what keeps a running broker from taking sends (a full
// disk) or clients from finding it (no name server holds its
// registration); /readyz turns 503 with it.
func (p *process) degraded() error {
	if b := p.broker.Load(); b != nil {
		if err := b.Store().DiskFull(); err != nil {
			return err
		}
		return b.NotRegistered()
	}
	return nil
}

// processStatus is the /status page, before statusJSON gives it one style.
type processStatus struct {
	Mode    string         `json:"mode"`
	Version version.Info   `json:"version"`
	PID     int            `json:"pid"`
	Namesrv string         `json:"namesrv,omitempty"`
	Broker  *actors.Status `json:"broker,omitempty"`
	// Registration is how each name server answered the broker's last
	// REGISTER_BROKER.
	Registration []namesrv.RegistrationState `json:"registration,omitempty"`
	Config       map[string]any              `json:"config"`
}

func (p *process) status() any {
	st := processStatus{Mode: p.mode, Version: version.Get(), PID: os.Getpid(), Config: p.current.Load().TypedValues()}
	if ns := p.namesrv.Load(); ns != nil {
		st.Namesrv = ns.Addr()
	}
	if b := p.broker.Load(); b != nil {
		bs := b.Status()
		st.Broker, st.Registration = &bs, b.Registration()
	}
	out, err := statusJSON(st)
	if err != nil {
		return map[string]string{"error": err.Error()}
	}
	return out
}

// recoveryAttrs summarises how the store opened, as flat fields.
func recoveryAttrs(r persist.RecoveryReport) []any {
	switch {
	case r.Fresh:
		return []any{"store", "new"}
	case r.Clean:
		return []any{"store", "clean", "logEnd", r.LogEnd}
	default:
		return []any{"store", "recovered", "logEnd", r.LogEnd, "cutBytes", r.CutBytes, "recoveryTook", r.Duration}
	}
}

func (p *process) announceReady() {
	attrs := []any{"mode", p.mode}
	status := "serving"
	if ns := p.namesrv.Load(); ns != nil {
		attrs = append(attrs, "namesrv", ns.Addr())
	}
	if b := p.broker.Load(); b != nil {
		role := b.Role()
		attrs = append(attrs, "broker", b.Addr(), "vip", b.VIPAddr(), "advertise", b.Advertise(), "dataDir", p.cfg.DataDir, "flush", p.cfg.Flush,
			"master", role.Master, "brokerId", p.cfg.BrokerID, "ha", b.HAAddr(), "replication", p.cfg.Replication)
		attrs = append(attrs, recoveryAttrs(b.Store().Recovery())...)
		sizes := p.cfg.StoreSizes()
		attrs = append(attrs, "segmentBytes", sizes.SegmentBytes, "indexEntries", sizes.IndexEntries)
		attrs = append(attrs, p.mqttAttrs()...)
		status = "serving on " + b.Addr()
	}
	if p.http != nil {
		attrs = append(attrs, "http", p.http.Addr())
		p.http.SetReady(true)
	}
	if err := p.notifier.Ready(status); err != nil {
		p.log.Warn("comet: sd_notify READY", "err", err)
	}
	p.log.Info("comet: ready", attrs...)
}

// reload re-reads the flags, file and environment, applies the reloadable
// keys and names the changed ones that need a restart.
func (p *process) reload() {
	_ = p.notifier.Reloading()
	defer func() { _ = p.notifier.Ready("serving") }()
	p.security.reload()
	next, err := loadConfig(p.mode, p.args, io.Discard)
	if err != nil {
		p.log.Error("comet: reload rejected; keeping the running configuration", "err", err)
		return
	}
	apply, restart := p.cfg.Changes(next)
	if level, err := next.Level(); err == nil {
		p.logging.Level.Set(level)
	}
	p.logging.Limiter.SetLimit(next.LogRateLimit)
	p.cfg = p.cfg.WithReloaded(next)
	p.current.Store(p.cfg)
	if len(restart) > 0 {
		p.log.Warn("comet: reload ignores changes that need a restart", "keys", restart)
	}
	p.log.Info("comet: reloaded", "applied", apply)
}

// stopAfterFailedStart stops what a failed start left running. It says
// nothing about a clean stop: the start error is what the operator reads.
func (p *process) stopAfterFailedStart() {
	p.quietStop = true
	if err := p.shutdown(); err != nil {
		p.log.Debug("comet: cleaning up after the failed start", "err", err)
	}
}

// shutdown drains and stops everything that started, in order.
func (p *process) shutdown() error {
	if err := p.notifier.Stopping(); err != nil {
		p.log.Warn("comet: sd_notify STOPPING", "err", err)
	}
	if p.http != nil {
		p.http.SetReady(false)
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.ShutdownTimeout)
	defer cancel()
	var first error
	keep := func(what string, err error) {
		if err != nil {
			p.log.Error("comet: stop "+what, "err", err)
			if first == nil {
				first = err
			}
		}
	}
	if api := p.api.Load(); api != nil {
		keep("http api", api.Close())
	}
	keep("mqtt gateway", p.stopMQTT(ctx))
	if b := p.broker.Load(); b != nil {
		keep("broker", b.Stop(ctx))
	}
	if ns := p.namesrv.Load(); ns != nil {
		keep("name server", ns.Stop(ctx))
	}
	if p.http != nil {
		httpCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		keep("http", p.http.Shutdown(httpCtx))
		cancel()
	}
	keep("data dir lock", p.dirLock.Release()) // held here only if the broker never started
	p.security.close()
	if first == nil && !p.quietStop {
		p.log.Info("comet: stopped cleanly")
	}
	return first
}
