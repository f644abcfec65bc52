package config

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/cometmq/comet/controller"
)

// Controller is the resolved configuration of `comet controller`: one
// member of the controller quorum. Flags, the config file (-config) and
// COMET_* environment variables map onto it with the same precedence as
// Config.
type Controller struct {
	File            string
	ID              string
	Listen          string
	Peers           string
	DataDir         string
	ElectionTimeout time.Duration
	RaftTimeout     time.Duration
	LogLevel        string
	LogFormat       string
	LogRateLimit    int
	HTTPListen      string

	peers []controller.Peer
}

func defineControllerFlags(fs *flag.FlagSet, c *Controller) {
	fs.StringVar(&c.ID, "id", "", "this member's id; one of the --peers ids")
	fs.StringVar(&c.Listen, "listen", "", "address to bind for raft and the broker API (default: this member's --peers address)")
	fs.StringVar(&c.Peers, "peers", "", "every member as id=host:port,..., identical on each member")
	fs.StringVar(&c.DataDir, "data-dir", "./comet-controller", "directory for the raft log and snapshots")
	fs.DurationVar(&c.ElectionTimeout, "election-timeout", controller.DefaultElectionTimeout,
		"a master unheard for this long is replaced (its lease)")
	fs.DurationVar(&c.RaftTimeout, "raft-timeout", controller.DefaultRaftTimeout,
		"raft heartbeat and election timeout between controller members")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json")
	fs.IntVar(&c.LogRateLimit, "log-rate-limit", 5, "warnings/errors per second per message; 0 unlimited")
	fs.StringVar(&c.HTTPListen, "http-listen", "", "HTTP address for /metrics, /healthz, /readyz, /status (empty disables)")
	fs.StringVar(&c.File, "config", "", "TOML config file (keys are the flag names)")
}

// LoadController parses the arguments of `comet controller`, then the
// config file they name and the environment.
func LoadController(fs *flag.FlagSet, args []string) (*Controller, error) {
	return loadController(fs, args, os.LookupEnv)
}

func loadController(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) (*Controller, error) {
	c := &Controller{}
	defineControllerFlags(fs, c)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", ErrInvalid, fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if env, ok := lookupEnv("COMET_CONFIG"); ok && !set["config"] {
		c.File = env
	}
	if c.File != "" {
		if _, err := applyFile(fs, c.File, set); err != nil {
			return nil, err
		}
	}
	if err := applyEnv(fs, set, lookupEnv); err != nil {
		return nil, err
	}
	return c, c.Validate()
}

// Validate reports the first invalid setting, naming its key.
func (c *Controller) Validate() error {
	if c.Peers == "" {
		return invalid("peers", "is empty")
	}
	peers, err := controller.ParsePeers(c.Peers)
	if err != nil {
		return invalid("peers", "%v", err)
	}
	c.peers = peers
	if err := hostPort("listen", c.Listen, true); err != nil {
		return err
	}
	if err := hostPort("http-listen", c.HTTPListen, true); err != nil {
		return err
	}
	opts := c.Options(nil)
	if err := opts.Validate(); err != nil {
		return invalid("id/peers/data-dir/timeouts", "%v", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return invalid("log-format", "%q: want text or json", c.LogFormat)
	}
	if _, err := c.Level(); err != nil {
		return invalid("log-level", "%q: want debug, info, warn or error", c.LogLevel)
	}
	if c.LogRateLimit < 0 {
		return invalid("log-rate-limit", "%d: must not be negative", c.LogRateLimit)
	}
	return nil
}

// Level is the parsed log level.
func (c *Controller) Level() (slog.Level, error) {
	var lvl slog.Level
	err := lvl.UnmarshalText([]byte(c.LogLevel))
	return lvl, err
}

// Options maps the configuration onto the controller's options.
func (c *Controller) Options(log *slog.Logger) controller.Options {
	return controller.Options{ID: c.ID, Listen: c.Listen, Peers: c.peers, DataDir: c.DataDir,
		ElectionTimeout: c.ElectionTimeout, RaftTimeout: c.RaftTimeout, Logger: log}
}
