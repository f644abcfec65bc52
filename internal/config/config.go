// Package config maps flags, an optional config file and environment
// variables onto the broker's options, in one place. Precedence: flag >
// environment (COMET_<KEY>, upper-case, dashes as underscores) > file >
// default.
//
// The config file is a TOML subset: `key = value` lines, values optionally
// double-quoted, `#` comments, blank lines. Keys are the flag names.
package config

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cometmq/comet/actors"
)

// Config is the resolved configuration of a comet process.
type Config struct {
	DataDir         string
	Listen          string
	NamesrvListen   string
	Namesrv         string
	Advertise       string
	Cluster         string
	BrokerName      string
	Flush           string
	AutoCreateTopic bool
	LogLevel        string
	LogFormat       string
	RetentionHours  int
}

func defineFlags(fs *flag.FlagSet, c *Config) *string {
	fs.StringVar(&c.DataDir, "data-dir", "./comet-data", "directory for the commit log, queues and metadata")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:10911", "broker listen address")
	fs.StringVar(&c.NamesrvListen, "namesrv-listen", "127.0.0.1:9876", "embedded name server address (empty disables it)")
	fs.StringVar(&c.Namesrv, "namesrv", "", "remote name servers, ';' or ',' separated")
	fs.StringVar(&c.Advertise, "advertise", "", "IPv4 ip:port clients use to reach this broker (default: the listen address)")
	fs.StringVar(&c.Cluster, "cluster", "DefaultCluster", "cluster name")
	fs.StringVar(&c.BrokerName, "broker-name", "broker-a", "broker name")
	fs.StringVar(&c.Flush, "flush", "sync", "sync: acknowledge after fdatasync (group commit); async: after the write")
	fs.BoolVar(&c.AutoCreateTopic, "auto-create-topic", true, "create unknown topics on first send")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json")
	fs.IntVar(&c.RetentionHours, "retention-hours", 72, "delete commit-log segments older than this")
	return fs.String("config", "", "config file (key = value lines; keys are flag names)")
}

// Load parses args (and the config file and environment they point to).
func Load(fs *flag.FlagSet, args []string) (*Config, error) {
	c := &Config{}
	cfgFile := defineFlags(fs, c)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *cfgFile != "" {
		data, err := os.ReadFile(*cfgFile)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		kv, err := ParseFile(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("config: %s: %w", *cfgFile, err)
		}
		if err := apply(fs, kv, set); err != nil {
			return nil, fmt.Errorf("config: %s: %w", *cfgFile, err)
		}
	}
	env := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv("COMET_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))); ok {
			env[f.Name] = v
		}
	})
	if err := apply(fs, env, set); err != nil {
		return nil, fmt.Errorf("config: environment: %w", err)
	}
	return c, c.Validate()
}

func apply(fs *flag.FlagSet, kv map[string]string, set map[string]bool) error {
	for k, v := range kv {
		if set[k] {
			continue
		}
		if fs.Lookup(k) == nil || k == "config" {
			return fmt.Errorf("unknown key %q", k)
		}
		if err := fs.Set(k, v); err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
	}
	return nil
}

// ParseFile reads `key = value` lines.
func ParseFile(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: want key = value", n)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if strings.HasPrefix(v, `"`) {
			uq, err := strconv.Unquote(v)
			if err != nil {
				return nil, fmt.Errorf("line %d: key %q: bad quoted value", n, k)
			}
			v = uq
		} else if i := strings.Index(v, " #"); i >= 0 {
			v = strings.TrimSpace(v[:i])
		}
		if k == "" {
			return nil, fmt.Errorf("line %d: empty key", n)
		}
		out[k] = v
	}
	return out, sc.Err()
}

// Validate reports the first invalid setting, naming its key.
func (c *Config) Validate() error {
	if _, err := actors.ParseFlushMode(c.Flush); err != nil {
		return fmt.Errorf("config: flush: %w", err)
	}
	if c.DataDir == "" {
		return fmt.Errorf("config: data-dir is empty")
	}
	if c.RetentionHours <= 0 {
		return fmt.Errorf("config: retention-hours must be positive")
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("config: log-format %q: want text or json", c.LogFormat)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("config: log-level %q: %w", c.LogLevel, err)
	}
	return nil
}

// Logger builds the process logger.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(c.LogLevel))
	ho := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// BrokerOptions maps the configuration onto the broker's options.
func (c *Config) BrokerOptions(log *slog.Logger) actors.BrokerOptions {
	flush, _ := actors.ParseFlushMode(c.Flush)
	var ns []string
	for _, a := range strings.FieldsFunc(c.Namesrv, func(r rune) bool { return r == ';' || r == ',' }) {
		ns = append(ns, strings.TrimSpace(a))
	}
	return actors.BrokerOptions{
		DataDir: c.DataDir, Listen: c.Listen, Advertise: c.Advertise, NamesrvAddrs: ns,
		ClusterName: c.Cluster, BrokerName: c.BrokerName, Flush: flush, AutoCreateTopic: c.AutoCreateTopic,
		RetentionAge: time.Duration(c.RetentionHours) * time.Hour, Logger: log,
	}
}
