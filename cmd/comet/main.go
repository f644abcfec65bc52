// Command comet runs a RocketMQ-compatible broker with its embedded name
// server, or (`comet namesrv`) a name server alone.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/internal/config"
)

func main() {
	args := os.Args[1:]
	mode := "broker"
	if len(args) > 0 && args[0] == "namesrv" {
		mode, args = "namesrv", args[1:]
	}
	cfg, err := config.Load(flag.NewFlagSet("comet", flag.ExitOnError), args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "comet:", err)
		os.Exit(2)
	}
	log := cfg.Logger(os.Stderr)
	if err := run(mode, cfg, log); err != nil {
		log.Error("comet: exiting", "err", err)
		os.Exit(1)
	}
}

func run(mode string, cfg *config.Config, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var ns *config.Namesrv
	if mode == "namesrv" || cfg.NamesrvListen != "" {
		var err error
		if ns, err = config.StartNamesrv(cfg, log); err != nil {
			return err
		}
		if mode == "namesrv" {
			log.Info("comet: name server ready", "namesrv", ns.Addr())
			<-ctx.Done()
			return ns.Stop(context.Background())
		}
	}
	opts := cfg.BrokerOptions(log)
	if ns != nil {
		opts.NamesrvAddrs = append([]string{ns.Addr()}, opts.NamesrvAddrs...)
	}
	b, err := actors.NewBroker(opts)
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	nsAddr := ""
	if ns != nil {
		nsAddr = ns.Addr()
	}
	log.Info("comet: ready", "broker", b.Addr(), "advertise", b.Advertise(), "namesrv", nsAddr,
		"dataDir", cfg.DataDir, "flush", cfg.Flush, "recovered", fmt.Sprintf("%+v", b.Store().Recovery()))
	<-ctx.Done()
	log.Info("comet: shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = b.Stop(shutdown)
	if ns != nil {
		if nerr := ns.Stop(shutdown); err == nil {
			err = nerr
		}
	}
	if err == nil {
		log.Info("comet: stopped cleanly")
	}
	return err
}
