// Package ctl is cometctl: the operator's command line over the RocketMQ
// remoting protocol. It talks to a name server (cluster membership, routes)
// and to brokers (runtime info, topic and consumer statistics, offset
// reset, message lookup) through internal/admin, the one implementation of
// these operations that the HTTP API shares, and prints human tables or,
// with -json, JSON for scripts. It holds no state between runs
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
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cometmq/comet/internal/admin"
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

// Error classes; every error a command returns wraps one of them, or one
// of internal/admin's (admin.ErrInvalid counts as a usage error).
var (
	ErrUsage       = errors.New("usage")
	ErrUnreachable = admin.ErrUnreachable
	ErrNotFound    = admin.ErrNotFound
	ErrBroker      = admin.ErrBroker
	ErrDamaged     = errors.New("damaged records found")
)

// exitCode maps an error to the process exit code.
func exitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrUsage), errors.Is(err, admin.ErrInvalid):
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
// the exit code. The common flags (-namesrv, -json, ...) may come before
// the command as well as after it.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return ExitUsage
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		printUsage(stdout)
		return ExitOK
	}
	global, rest, err := splitCommonFlags(args)
	if err != nil {
		fmt.Fprintln(stderr, "cometctl:", err)
		return ExitUsage
	}
	cmd, rest := findCommand(rest)
	if cmd == nil {
		fmt.Fprintf(stderr, "cometctl: unknown command %q\n\n", strings.Join(firstWords(args[len(global):], 2), " "))
		printUsage(stderr)
		return ExitUsage
	}
	e := &env{stdout: stdout, stderr: stderr}
	err = runCommand(e, cmd, append(global, rest...))
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		e.report(err)
	}
	return exitCode(err)
}

// runCommand parses the command's flags and runs it.
func runCommand(e *env, cmd *command, args []string) error {
	o := &cmdOpts{}
	fs := flag.NewFlagSet("cometctl "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: cometctl %s %s\n  %s\n\nflags:\n", cmd.name, cmd.args, cmd.help)
		fs.PrintDefaults()
	}
	e.defineFlags(fs)
	if cmd.flags != nil {
		cmd.flags(fs, o)
	}
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if len(pos) < cmd.minArgs || len(pos) > cmd.maxArgs {
		return usageError("cometctl %s %s", cmd.name, cmd.args)
	}
	if err := e.security.load(); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	defer e.close()
	return cmd.run(e, o, pos)
}

// report prints a failed command's error once: as a JSON object on stdout
// with -json when the command printed nothing else, on stderr otherwise.
func (e *env) report(err error) {
	if e.json && !e.emitted {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if enc.Encode(errorOut{Error: err.Error(), ExitCode: exitCode(err)}) == nil {
			return
		}
	}
	fmt.Fprintln(e.stderr, "cometctl:", err)
}

// errorOut is a failure as -json prints it.
type errorOut struct {
	Error    string `json:"error"`
	ExitCode int    `json:"exitCode"`
}

// splitCommonFlags takes the common flags that come before the command
// ("cometctl -namesrv X cluster list") off args.
func splitCommonFlags(args []string) (common, rest []string, err error) {
	known := flag.NewFlagSet("common", flag.ContinueOnError)
	(&env{}).defineFlags(known)
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		f := known.Lookup(name)
		if f == nil {
			return nil, nil, usageError("%s before the command: only the common flags (-namesrv, -broker, -json, -timeout, ...) "+
				"may come first; put the command's own flags after it", args[0])
		}
		n := 1
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && !(ok && b.IsBoolFlag()) {
			n = 2
		}
		if len(args) < n {
			return nil, nil, usageError("%s needs a value", args[0])
		}
		common, args = append(common, args[:n]...), args[n:]
	}
	return common, args, nil
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
	fmt.Fprintln(w, "security: -access-key/-secret-key (or $COMET_ACCESS_KEY, $COMET_SECRET_KEY) sign requests for ACL;")
	fmt.Fprintln(w, "  -tls, -tls-ca FILE, -tls-cert FILE -tls-key FILE (or $COMET_TLS=true, $COMET_TLS_CA, $COMET_TLS_CERT, $COMET_TLS_KEY)")
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
	e.security.defineFlags(fs)
}
