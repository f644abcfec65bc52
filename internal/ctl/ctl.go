// Package ctl is cometctl: the operator's command line over the RocketMQ
// remoting protocol. It talks to a name server (cluster membership, routes)
// and to brokers (runtime info, topic and consumer statistics, offset
// reset, message lookup) with netio/remoting's Client, and prints human
// tables or, with -json, JSON for scripts. It holds no state between runs
// and never writes anywhere but its two output streams.
//
// Exit codes (part of the interface: scripts test them):
//
//	0  success
//	1  usage: unknown command, bad flag or argument
//	2  unreachable: a name server or broker did not answer
//	3  not found: no such topic, group, message or route
//	4  broker error: a server answered with an error code
//	5  damaged: broker verify found damaged records
package ctl

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Exit codes of Run.
const (
	ExitOK          = 0
	ExitUsage       = 1
	ExitUnreachable = 2
	ExitNotFound    = 3
	ExitBrokerError = 4
	ExitDamaged     = 5
)

// Error classes; every error a command returns wraps one of them.
var (
	ErrUsage       = errors.New("usage")
	ErrUnreachable = errors.New("unreachable")
	ErrNotFound    = errors.New("not found")
	ErrBroker      = errors.New("broker error")
	ErrDamaged     = errors.New("damaged records found")
)

// exitCode maps an error to the process exit code.
func exitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrUsage):
		return ExitUsage
	case errors.Is(err, ErrUnreachable):
		return ExitUnreachable
	case errors.Is(err, ErrNotFound):
		return ExitNotFound
	case errors.Is(err, ErrDamaged):
		return ExitDamaged
	}
	return ExitBrokerError
}

func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUsage}, args...)...)
}

// command is one cometctl command ("topic create").
type command struct {
	name    string
	args    string // synopsis of the positional arguments and flags
	help    string
	flags   func(fs *flag.FlagSet, o *cmdOpts)
	run     func(e *env, o *cmdOpts, args []string) error
	minArgs int
	maxArgs int
}

// cmdOpts are the per-command flags every command may define.
type cmdOpts struct {
	topic, key, timestamp, brokerName string
	queues, readQueues, writeQueues   int
	perm                              int
	order, force, all                 bool
	queue                             int
	offset, count                     int64
	begin, end                        string
	rateMiB                           int64 // broker verify
	controller, cluster               string
	brokerID                          int64
}

var commands []*command

func register(c *command) { commands = append(commands, c) }

// Run executes cometctl with args (without the program name) and returns
// the exit code.
func Run(args []string, stdout, stderr io.Writer) int {
	cmd, rest := findCommand(args)
	if cmd == nil {
		if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			printUsage(stdout)
			return ExitOK
		}
		fmt.Fprintf(stderr, "cometctl: unknown command %q\n\n", strings.Join(firstWords(args, 2), " "))
		printUsage(stderr)
		return ExitUsage
	}
	e := &env{stdout: stdout, stderr: stderr}
	o := &cmdOpts{}
	fs := flag.NewFlagSet("cometctl "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: cometctl %s %s\n  %s\n\nflags:\n", cmd.name, cmd.args, cmd.help)
		fs.PrintDefaults()
	}
	e.defineFlags(fs)
	if cmd.flags != nil {
		cmd.flags(fs, o)
	}
	pos, err := parseInterleaved(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err == nil && (len(pos) < cmd.minArgs || len(pos) > cmd.maxArgs) {
		err = usageError("cometctl %s %s", cmd.name, cmd.args)
	}
	if err == nil {
		defer e.close()
		err = cmd.run(e, o, pos)
	} else if !errors.Is(err, ErrUsage) {
		err = fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if err != nil {
		fmt.Fprintln(stderr, "cometctl:", err)
	}
	return exitCode(err)
}

// findCommand matches the longest command name at the start of args.
func findCommand(args []string) (*command, []string) {
	for words := 2; words >= 1; words-- {
		if len(args) < words {
			continue
		}
		name := strings.Join(args[:words], " ")
		for _, c := range commands {
			if c.name == name {
				return c, args[words:]
			}
		}
	}
	return nil, nil
}

func firstWords(args []string, n int) []string { return args[:min(n, len(args))] }

// parseInterleaved lets flags follow positional arguments
// ("topic create T -queues 8").
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: cometctl <command> [arguments] [flags]")
	fmt.Fprintln(w, "\ncommands:")
	sorted := slices.Clone(commands)
	slices.SortStableFunc(sorted, func(a, b *command) int { return strings.Compare(a.name, b.name) })
	for _, c := range sorted {
		fmt.Fprintf(w, "  %-18s %s\n", c.name, c.help)
	}
	fmt.Fprintln(w, "\ncommon flags: -namesrv addr (default $COMET_NAMESRV or 127.0.0.1:9876), -broker addr, -json, -timeout 5s")
	fmt.Fprintln(w, "exit codes: 0 ok, 1 usage, 2 unreachable, 3 not found, 4 broker error")
	fmt.Fprintln(w, "'cometctl <command> -h' shows a command's flags.")
}

// defaultNamesrv is $COMET_NAMESRV or the local default.
func defaultNamesrv() string {
	if v := os.Getenv("COMET_NAMESRV"); v != "" {
		return v
	}
	return "127.0.0.1:9876"
}

func (e *env) defineFlags(fs *flag.FlagSet) {
	fs.StringVar(&e.namesrv, "namesrv", defaultNamesrv(), "name server address(es), ';' separated")
	fs.StringVar(&e.broker, "broker", "", "talk to this broker address only, instead of every master the name server lists")
	fs.BoolVar(&e.json, "json", false, "print JSON instead of a table")
	fs.DurationVar(&e.timeout, "timeout", 5*time.Second, "time limit of each request")
}
