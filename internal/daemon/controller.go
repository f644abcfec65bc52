package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cometmq/comet/controller"
	"github.com/cometmq/comet/internal/config"
	"github.com/cometmq/comet/internal/ops"
)

// runController runs `comet controller`: one member of the controller
// quorum, until SIGTERM or SIGINT. Shutdown: /readyz turns 503, the member
// stops (raft, then its listener), the HTTP endpoint stops last.
func runController(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("comet controller", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := config.LoadController(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "comet:", err)
		return ExitConfig
	}
	level, _ := cfg.Level()
	logging, err := ops.NewLogging(stderr, cfg.LogFormat, level, cfg.LogRateLimit)
	if err != nil {
		fmt.Fprintln(stderr, "comet:", err)
		return ExitConfig
	}
	log := logging.Logger
	stop := make(chan os.Signal, 2)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(stop)
	notifier := ops.NewNotifier()
	c, err := controller.Start(cfg.Options(log))
	if err != nil {
		log.Error("comet: exiting", "err", err)
		return ExitFailure
	}
	httpSrv, err := startControllerHTTP(cfg, c, log)
	if err != nil {
		_ = c.Close()
		log.Error("comet: exiting", "err", err)
		return ExitFailure
	}
	announceController(c, httpSrv, notifier, log)
	sig := <-stop
	log.Info("comet: shutting down", "signal", sig.String())
	return stopController(c, httpSrv, notifier, log)
}

func announceController(c *controller.Controller, httpSrv *ops.HTTPServer, notifier *ops.Notifier, log *slog.Logger) {
	attrs := []any{"mode", "controller", "controller", c.Addr(), "listen", c.ListenAddr()}
	if httpSrv != nil {
		httpSrv.SetReady(true)
		attrs = append(attrs, "http", httpSrv.Addr())
	}
	if err := notifier.Ready("controller on " + c.Addr()); err != nil {
		log.Warn("comet: sd_notify READY", "err", err)
	}
	log.Info("comet: ready", attrs...)
}

func stopController(c *controller.Controller, httpSrv *ops.HTTPServer, notifier *ops.Notifier, log *slog.Logger) int {
	if err := notifier.Stopping(); err != nil {
		log.Warn("comet: sd_notify STOPPING", "err", err)
	}
	if httpSrv != nil {
		httpSrv.SetReady(false)
	}
	code := ExitOK
	if err := c.Close(); err != nil {
		log.Error("comet: stop controller", "err", err)
		code = ExitFailure
	}
	if httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := httpSrv.Shutdown(ctx); err != nil {
			log.Error("comet: stop http", "err", err)
			code = ExitFailure
		}
	}
	if code == ExitOK {
		log.Info("comet: stopped cleanly")
	}
	return code
}

func startControllerHTTP(cfg *config.Controller, c *controller.Controller, log *slog.Logger) (*ops.HTTPServer, error) {
	if cfg.HTTPListen == "" {
		return nil, nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		controllerCollector{c: c}, buildInfo())
	return ops.StartHTTP(ops.HTTPOptions{Addr: cfg.HTTPListen, Gatherer: reg, Logger: log,
		Status: func() any { return c.Stats() }})
}

// controllerCollector exposes a member's counters and per-group gauges.
type controllerCollector struct{ c *controller.Controller }

func ctlDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("comet_"+name, help, labels, nil)
}

var (
	descCtlLeader      = ctlDesc("controller_leader", "1 while this member leads the quorum and serves brokers.")
	descCtlEvents      = ctlDesc("controller_events_total", "Controller events on this member while it led, by kind.", "event")
	descCtlEpoch       = ctlDesc("controller_group_epoch", "Master epoch of a broker group.", "cluster", "group")
	descCtlSetSize     = ctlDesc("controller_group_in_sync_members", "Members of a broker group's in-sync set.", "cluster", "group")
	descCtlHasMaster   = ctlDesc("controller_group_has_master", "1 while a broker group has a master.", "cluster", "group")
	controllerDescList = []*prometheus.Desc{descCtlLeader, descCtlEvents, descCtlEpoch, descCtlSetSize, descCtlHasMaster}
)

func (cc controllerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range controllerDescList {
		ch <- d
	}
}

func (cc controllerCollector) Collect(ch chan<- prometheus.Metric) {
	st := cc.c.Stats()
	leader := 0.0
	if st.IsLeader {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(descCtlLeader, prometheus.GaugeValue, leader)
	for event, n := range map[string]int64{"leader_term": st.LeaderTerms, "election": st.Elections, "handover": st.Handovers,
		"master_lost": st.MastersLost, "in_sync_set_change": st.SetChanges, "fenced_request": st.FencedAsks,
		"role_notice": st.RoleNotices, "propose_failure": st.ProposeFails} {
		ch <- prometheus.MustNewConstMetric(descCtlEvents, prometheus.CounterValue, float64(n), event)
	}
	for _, g := range st.Groups {
		hasMaster := 0.0
		if g.MasterID != 0 {
			hasMaster = 1
		}
		ch <- prometheus.MustNewConstMetric(descCtlEpoch, prometheus.GaugeValue, float64(g.Epoch), g.Cluster, g.Group)
		ch <- prometheus.MustNewConstMetric(descCtlSetSize, prometheus.GaugeValue, float64(g.SyncStateSetSize), g.Cluster, g.Group)
		ch <- prometheus.MustNewConstMetric(descCtlHasMaster, prometheus.GaugeValue, hasMaster, g.Cluster, g.Group)
	}
}
