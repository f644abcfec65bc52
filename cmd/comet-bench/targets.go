package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/perf"
)

// runAll runs the workload against the target and then the peer, and
// returns the results it got, even when one run failed.
func (s *settings) runAll(ctx context.Context, logger *slog.Logger, stderr io.Writer) ([]*perf.Result, error) {
	targets := []string{s.target}
	if s.peer != "" {
		targets = append(targets, s.peer)
	}
	if s.target == "mqtt" {
		targets = s.mqtt.targetNames()
	}
	var results []*perf.Result
	var errs []error
	for _, name := range targets {
		res, err := s.runOne(ctx, name, logger, stderr)
		if res != nil {
			results = append(results, res)
		}
		if err != nil {
			errs = append(errs, err)
			if res == nil || ctx.Err() != nil {
				break
			}
		}
	}
	return results, errors.Join(errs...)
}

func (s *settings) runOne(ctx context.Context, name string, logger *slog.Logger, stderr io.Writer) (*perf.Result, error) {
	opts := perf.Options{Logger: logger}
	if !s.quiet {
		opts.Progress, opts.ProgressInPlace = stderr, isTerminal(stderr)
	}
	target, stop, err := s.open(name, logger, &opts)
	if err != nil {
		return nil, err
	}
	defer stop()
	res, err := perf.Run(ctx, target, s.workload, opts)
	if cerr := target.Close(); cerr != nil {
		logger.Warn("comet-bench: closing the target", "target", name, "err", cerr)
	}
	return res, err
}

// open connects to the named target and fills in its labels; stop undoes
// what open started.
func (s *settings) open(name string, logger *slog.Logger, opts *perf.Options) (perf.Target, func(), error) {
	if s.target == "mqtt" {
		return s.mqtt.open(name, opts)
	}
	if name == "nats" {
		label := s.peerLabel
		if s.target == "nats" {
			label = s.label
		}
		opts.Label, opts.ServerPID = joinLabel("ack="+s.natsAck, label), s.natsPID
		t, err := perf.NewNATS(perf.NATSOptions{URL: s.natsURL, Ack: perf.AckMode(s.natsAck), Logger: logger})
		return t, func() {}, err
	}
	opts.ServerPID = s.cometPID
	nameServers := splitList(s.namesrv)
	stop := func() {}
	flush := ""
	if s.embedded {
		e, err := s.startEmbedded(logger)
		if err != nil {
			return nil, nil, err
		}
		nameServers = []string{e.NamesrvAddr}
		stop = func() { e.Stop(context.Background()) }
		flush = "embedded, flush=" + s.flushMode().String()
	} else {
		flush = "flush=" + remoteFlush(nameServers, logger)
	}
	opts.Label = s.label
	if !strings.Contains(s.label, "flush=") {
		opts.Label = joinLabel(flush, s.label)
	}
	t, err := perf.NewComet(perf.CometOptions{NameServers: nameServers, Logger: logger})
	if err != nil {
		stop()
		return nil, nil, err
	}
	return t, stop, nil
}

// remoteFlush is the flush mode the brokers report, "unknown" when they
// cannot be asked.
func remoteFlush(nameServers []string, logger *slog.Logger) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	mode, err := perf.CometFlush(ctx, nameServers)
	if err != nil {
		logger.Warn("comet-bench: cannot tell the brokers' flush mode", "err", err)
		return "unknown"
	}
	return mode
}

// joinLabel joins the non-empty parts of a column label.
func joinLabel(parts ...string) string {
	return strings.Join(slices.DeleteFunc(parts, func(p string) bool { return p == "" }), ", ")
}

func (s *settings) flushMode() actors.FlushMode {
	m, _ := actors.ParseFlushMode(s.flush) // validated
	if s.flush == "" {
		m = actors.FlushSync
	}
	return m
}

func (s *settings) startEmbedded(logger *slog.Logger) (*perf.Embedded, error) {
	e, err := perf.StartEmbedded(perf.EmbeddedOptions{Flush: s.flushMode(), Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return e, nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' }) {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
