package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/perf"
)

// Exit codes.
const (
	exitOK         = 0
	exitFailed     = 1 // the run failed or was incomplete
	exitUsage      = 2 // bad flags
	defaultNATSURL = "nats://127.0.0.1:4222"
)

// settings are the command's flags besides the workload's.
type settings struct {
	workload   perf.Workload
	target     string
	peer       string
	namesrv    string
	embedded   bool
	flush      string
	natsURL    string
	natsAck    string
	label      string
	peerLabel  string
	cometPID   int
	natsPID    int
	jsonOut    bool
	htmlFile   string
	quiet      bool
	verbose    bool
	cpuProfile string
	subcommand string
	mqtt       mqttSettings // mqtt.go
}

// errNoCommand: comet-bench was run without a subcommand.
var errNoCommand = errors.New("no command given")

// subcommands are listed by printUsage, in this order.
var subcommands = []struct{ name, help string }{
	{"run", "run a workload against one broker: Comet (-namesrv, or -embedded) or, with -target nats, NATS JetStream"},
	{"compare", "run the same workload against Comet and NATS JetStream, side by side, with each row's ratio"},
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: comet-bench <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range subcommands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.help)
	}
	fmt.Fprintln(w, "\n'comet-bench <command> -h' lists the flags (workload, targets, output).")
}

func parseArgs(args []string, stderr io.Writer) (*settings, error) {
	s := &settings{workload: perf.DefaultWorkload()}
	switch {
	case len(args) == 0:
		return nil, errNoCommand
	case args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help":
		return nil, flag.ErrHelp
	case strings.HasPrefix(args[0], "-"):
		s.subcommand = "run" // flags alone: a run, as before subcommands existed
	default:
		s.subcommand, args = args[0], args[1:]
	}
	if s.subcommand != "run" && s.subcommand != "compare" {
		return nil, fmt.Errorf("unknown command %q (run or compare)", s.subcommand)
	}
	fs := flag.NewFlagSet("comet-bench "+s.subcommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	s.workload.RegisterFlags(fs)
	s.defineFlags(fs)
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if s.subcommand == "compare" && s.peer == "" {
		s.peer = "nats"
	}
	return s, s.validate()
}

func (s *settings) defineFlags(fs *flag.FlagSet) {
	natsURL := os.Getenv("NATS_URL")
	if natsURL == "" {
		natsURL = defaultNATSURL
	}
	fs.StringVar(&s.target, "target", "comet", "broker to run against: comet or nats")
	fs.StringVar(&s.peer, "peer", "", "also run the workload against this peer (nats) and compare")
	fs.StringVar(&s.namesrv, "namesrv", "127.0.0.1:9876", "Comet name servers, ';' or ',' separated")
	fs.BoolVar(&s.embedded, "embedded", false, "start an in-process Comet broker instead of using -namesrv")
	fs.StringVar(&s.flush, "flush", "", "flush mode of the -embedded broker: sync or async (default sync)")
	fs.StringVar(&s.natsURL, "nats-url", natsURL, "NATS server URL (env NATS_URL)")
	fs.StringVar(&s.natsAck, "nats-ack", string(perf.AckAll), "NATS consumer acks: all (every 100th), explicit or none")
	fs.StringVar(&s.label, "label", "", "note shown with the Comet column (e.g. flush=sync)")
	fs.StringVar(&s.peerLabel, "peer-label", "", "note shown with the NATS column (e.g. sync_interval=always)")
	fs.IntVar(&s.cometPID, "comet-pid", 0, "comet server PID, to report its CPU use")
	fs.IntVar(&s.natsPID, "nats-pid", 0, "nats-server PID, to report its CPU use")
	fs.BoolVar(&s.jsonOut, "json", false, "write the report as JSON to stdout instead of the table")
	fs.StringVar(&s.htmlFile, "html", "", "also write a latency percentile plot to this HTML file")
	fs.BoolVar(&s.quiet, "quiet", false, "no progress line")
	fs.BoolVar(&s.verbose, "v", false, "log the SDKs' and the embedded broker's warnings to stderr")
	fs.StringVar(&s.cpuProfile, "cpuprofile", "", "write this process's CPU profile (the clients, and an -embedded broker) to this file")
	s.mqtt.defineFlags(fs)
}

func (s *settings) validate() error {
	if err := s.workload.Validate(); err != nil {
		return err
	}
	if s.target == "mqtt" {
		return s.mqtt.validate(s)
	}
	switch {
	case s.target != "comet" && s.target != "nats":
		return fmt.Errorf("-target %q is not comet, nats or mqtt", s.target)
	case s.peer != "" && s.peer != "nats":
		return fmt.Errorf("-peer %q is not nats", s.peer)
	case s.peer != "" && s.target != "comet":
		return errors.New("-peer compares with Comet: leave -target at comet")
	case s.flush != "" && !s.embedded:
		return errors.New("-flush applies to the -embedded broker only; start comet with --flush sync|async")
	}
	if s.flush != "" {
		if _, err := actors.ParseFlushMode(s.flush); err != nil {
			return err
		}
	}
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	s, err := parseArgs(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		if s == nil { // help for comet-bench itself, not a subcommand's flags
			printUsage(stdout)
		}
		return exitOK
	case errors.Is(err, errNoCommand):
		printUsage(stderr)
		return exitUsage
	case err != nil:
		fmt.Fprintln(stderr, "comet-bench:", err)
		return exitUsage
	}
	logger := slog.New(slog.DiscardHandler)
	if s.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if s.cpuProfile != "" {
		stopProfile, err := startCPUProfile(s.cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "comet-bench:", err)
			return exitFailed
		}
		defer stopProfile()
	}
	results, runErr := s.runAll(ctx, logger, stderr)
	if len(results) > 0 {
		if err := s.write(perf.NewReport(results...), stdout); err != nil {
			fmt.Fprintln(stderr, "comet-bench:", err)
			return exitFailed
		}
	}
	if runErr != nil {
		fmt.Fprintln(stderr, "comet-bench:", runErr)
		return exitFailed
	}
	return exitOK
}

// startCPUProfile profiles this process into path until the returned
// function runs.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func (s *settings) write(rep *perf.Report, stdout io.Writer) error {
	if s.jsonOut {
		if err := rep.WriteJSON(stdout); err != nil {
			return err
		}
	} else if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if s.htmlFile == "" {
		return nil
	}
	f, err := os.Create(s.htmlFile)
	if err != nil {
		return err
	}
	if err := rep.WritePlot(f, "comet-bench: "+s.workload.String()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
