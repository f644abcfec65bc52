// Package config maps flags, an optional TOML config file and COMET_*
// environment variables onto a comet process's settings, validates them
// naming the offending key, and tells which changes a reload (SIGHUP) can
// apply. It is the one place that knows every setting; deploy's
// comet.example.toml documents each key with its default.
//
// Precedence: flag > environment (COMET_<KEY>: upper case, dashes as
// underscores) > file > default. The file is flat TOML whose keys are the
// flag names (`retention-hours = 72`, `flush = "sync"`); tables are
// rejected, as are unknown keys and values of the wrong TOML type.
package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
)

// ErrInvalid is the class of every configuration error.
var ErrInvalid = errors.New("config: invalid setting")

func invalid(key, format string, args ...any) error {
	return &settingError{key: key, msg: fmt.Sprintf(format, args...)}
}

// Config is the resolved configuration of a comet process.
type Config struct {
	File            string // the config file read, "" for none
	DataDir         string
	Listen          string
	NamesrvListen   string
	Namesrv         string
	Advertise       string
	Cluster         string
	BrokerName      string
	Flush           string
	AutoCreateTopic bool
	DefaultQueues   int
	MaxMessageSize  int
	RetentionHours  int
	SegmentSize     int // 0: auto (StoreSizes)
	IndexEntries    int // key-index entries per file; 0: auto (StoreSizes)
	// DiskEmergencyPercent lets retention delete unexpired data above this
	// disk usage; 0 never does.
	DiskEmergencyPercent int
	LogLevel             string
	LogFormat            string
	LogRateLimit         int
	HTTPListen           string
	Pprof                bool
	HTTPAPI              bool // the HTTP API and console on HTTPListen
	ShutdownTimeout      time.Duration

	FrameReadTimeout time.Duration
	MaxBufferedInput int

	DelayLevels              string
	MaxTimerDelay            time.Duration
	TransactionCheckInterval time.Duration
	TransactionTimeout       time.Duration
	TransactionCheckMax      int

	BrokerID          int
	HAListen          string
	HAAdvertise       string
	Replication       string
	MinInSyncReplicas int
	ReplicaLagMax     time.Duration

	// VIPListen is the VIP channel's address: "auto" (the listen address
	// with its port − 2), "" for none, or an address.
	VIPListen string

	// UnknownEnv are COMET_* environment variables that name no key; the
	// process warns about each.
	UnknownEnv []string

	Security

	MQTT MQTTConfig // mqtt.go

	Controller          string // controller quorum addresses (controller mode)
	ControllerHeartbeat time.Duration

	values  map[string]string // every key's final value, for GET_BROKER_CONFIG
	typed   map[string]any    // the same, typed, for /status
	origins origins
}

// Reloadable lists the keys a SIGHUP applies without a restart.
var Reloadable = []string{"log-level", "log-rate-limit"}

func defineFlags(fs *flag.FlagSet, c *Config) {
	d := actors.DefaultBrokerOptions()
	fs.StringVar(&c.DataDir, "data-dir", "./comet-data", "directory for the commit log, queues and metadata")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:10911", "broker listen address")
	fs.StringVar(&c.NamesrvListen, "namesrv-listen", "127.0.0.1:9876", "embedded name server address (empty disables it)")
	fs.StringVar(&c.Namesrv, "namesrv", "", "remote name servers, ';' or ',' separated")
	fs.StringVar(&c.Advertise, "advertise", "", "IPv4 ip:port clients use to reach this broker (default: the listen address)")
	fs.StringVar(&c.Cluster, "cluster", d.ClusterName, "cluster name")
	fs.StringVar(&c.BrokerName, "broker-name", d.BrokerName, "broker name")
	fs.StringVar(&c.Flush, "flush", "sync", "sync: acknowledge after fdatasync (group commit); async: after the write")
	fs.BoolVar(&c.AutoCreateTopic, "auto-create-topic", true, "create unknown topics on first send")
	fs.IntVar(&c.DefaultQueues, "default-queue-nums", int(d.DefaultQueueNums), "queues of an auto-created topic")
	fs.IntVar(&c.MaxMessageSize, "max-message-size", d.MaxMessageSize, "largest message body (or batch) in bytes")
	fs.IntVar(&c.RetentionHours, "retention-hours", 72, "delete commit-log segments older than this")
	fs.IntVar(&c.SegmentSize, "segment-size", 0,
		"commit-log segment bytes, preallocated whole; at least twice max-message-size (0: 64 MiB on a loopback-only broker, else 1 GiB)")
	fs.IntVar(&c.IndexEntries, "index-entries", 0,
		"key-index entries per file, 32 bytes each, preallocated whole (0: 1 Mi on a loopback-only broker, else 16 Mi)")
	fs.IntVar(&c.DiskEmergencyPercent, "disk-emergency-percent", 0,
		"above this disk usage, delete the oldest segments even before retention-hours, losing unconsumed messages (0: never; a full disk then refuses sends)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error (reloadable)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json")
	fs.IntVar(&c.LogRateLimit, "log-rate-limit", 5, "warnings/errors per second per message; 0 unlimited (reloadable)")
	fs.StringVar(&c.HTTPListen, "http-listen", "127.0.0.1:9877", "HTTP address for /metrics, /healthz, /readyz, /status (empty disables)")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve /debug/pprof/ on the HTTP address (CPU and heap profiles)")
	fs.BoolVar(&c.HTTPAPI, "http-api", true, "serve the HTTP API (/api/v1) and the web console (/ui/) on the HTTP address")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "longest graceful drain on SIGTERM")
	fs.StringVar(&c.DelayLevels, "delay-levels", d.DelayLevels, "durations of the DELAY levels 1..N (units ms, s, m, h, d)")
	fs.DurationVar(&c.MaxTimerDelay, "max-timer-delay", d.MaxTimerDelay, "longest TIMER_DELIVER_MS/TIMER_DELAY_* delay accepted")
	fs.DurationVar(&c.TransactionCheckInterval, "transaction-check-interval", d.TransactionCheckInterval, "how often undecided transactions are checked back")
	fs.DurationVar(&c.TransactionTimeout, "transaction-timeout", d.TransactionTimeout, "age of a half message before its first check-back")
	fs.IntVar(&c.TransactionCheckMax, "transaction-check-max", d.TransactionCheckMax, "check-backs before an undecided half message is discarded")
	fs.DurationVar(&c.FrameReadTimeout, "frame-read-timeout", netio.DefaultFrameReadTimeout, "close a connection that leaves a request frame incomplete this long")
	fs.IntVar(&c.MaxBufferedInput, "max-buffered-input", netio.DefaultMaxBufferedInput, "bytes of incomplete or unserved requests buffered over all connections")
	fs.IntVar(&c.BrokerID, "broker-id", 0, "0: master of its broker name; 1 or more: a replica that finds its master through the name server")
	fs.StringVar(&c.HAListen, "ha-listen", "127.0.0.1:10912", "replication listen address of a master (empty disables it)")
	fs.StringVar(&c.HAAdvertise, "ha-advertise", "", "IPv4 ip:port replicas dial to reach this broker's HA listener (default: the bound HA address)")
	fs.StringVar(&c.Replication, "replication", "async", "async: acknowledge after the local write; sync: once every in-sync replica holds the batch")
	fs.IntVar(&c.MinInSyncReplicas, "min-insync-replicas", 1, "sync replication refuses sends while the in-sync set (master included) is smaller")
	fs.DurationVar(&c.ReplicaLagMax, "replica-lag-max", 10*time.Second, "a replica not caught up for this long leaves the in-sync set")
	fs.StringVar(&c.VIPListen, "vip-listen", VIPAuto, "VIP channel address, served like listen (RocketMQ clients with the VIP channel on use the broker port − 2): auto, an address, or empty to disable")
	defineMQTTFlags(fs, &c.MQTT)
	fs.StringVar(&c.Controller, "controller", "", "controller quorum addresses, ',' separated: the broker's role comes from the controllers (--broker-id stays 0)")
	fs.DurationVar(&c.ControllerHeartbeat, "controller-heartbeat", time.Second, "how often a broker in controller mode heartbeats (and renews a master's lease)")
	fs.StringVar(&c.File, "config", "", "TOML config file (keys are the flag names)")
	defineSecurityFlags(fs, &c.Security)
}

// Load parses args, then the config file they name and the environment.
func Load(fs *flag.FlagSet, args []string) (*Config, error) {
	c, err := load(fs, args, os.LookupEnv)
	if c != nil {
		c.UnknownEnv = unknownEnv(fs, os.Environ())
	}
	return c, err
}

// NamesrvKeys are the settings of `comet namesrv`: the name server's own
// address, the HTTP endpoint and logging.
var NamesrvKeys = append([]string{"namesrv-listen", "http-listen", "pprof", "http-api", "log-level", "log-format",
	"log-rate-limit", "shutdown-timeout", "config"}, SecurityKeys...)

// LoadNamesrv is Load for `comet namesrv`: only NamesrvKeys are flags (and
// listed by -h); a config file or the environment may still carry broker
// keys, so one file can serve both.
func LoadNamesrv(fs *flag.FlagSet, args []string) (*Config, error) {
	c := &Config{}
	full := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	defineFlags(full, c)
	for _, k := range NamesrvKeys {
		f := full.Lookup(k)
		fs.Var(f.Value, f.Name, f.Usage)
	}
	c, err := loadInto(c, fs, full, args, os.LookupEnv)
	if c != nil {
		c.UnknownEnv = unknownEnv(full, os.Environ())
	}
	return c, err
}

func load(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) (*Config, error) {
	c := &Config{}
	defineFlags(fs, c)
	return loadInto(c, fs, fs, args, lookupEnv)
}

// loadInto parses the command line with fs, then applies the config file
// and the environment to full, which holds every key (fs may hold fewer).
func loadInto(c *Config, fs, full *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) (*Config, error) {
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
	c.origins = origins{kind: map[string]string{}, file: c.File}
	for k := range set {
		c.origins.kind[k] = OriginFlag
	}
	if c.File != "" {
		applied, err := applyFile(full, c.File, set)
		if err != nil {
			return nil, err
		}
		for _, k := range applied {
			c.origins.kind[k] = OriginFile
		}
	}
	if err := applyEnv(full, set, lookupEnv); err != nil {
		return nil, err
	}
	full.VisitAll(func(f *flag.Flag) {
		if _, ok := lookupEnv(EnvName(f.Name)); ok && f.Name != "config" && c.origins.kind[f.Name] != OriginFlag {
			c.origins.kind[f.Name] = OriginEnv
		}
	})
	c.values, c.typed = map[string]string{}, map[string]any{}
	full.VisitAll(func(f *flag.Flag) {
		c.values[f.Name], c.typed[f.Name] = f.Value.String(), typedValue(f)
		if secretKeys[f.Name] && c.values[f.Name] != "" {
			c.values[f.Name], c.typed[f.Name] = redacted, redacted
		}
	})
	if err := c.Validate(); err != nil {
		return nil, c.origins.withOrigin(err)
	}
	return c, nil
}

// applyFile sets the keys of the file at path that no flag set, and
// returns them.
func applyFile(fs *flag.FlagSet, path string, set map[string]bool) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	kv, err := ParseFile(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	var applied []string
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		if fs.Lookup(k) == nil || k == "config" {
			return nil, fmt.Errorf("%w (in %s)", invalid(k, "unknown key"), path)
		}
		if set[k] {
			continue
		}
		if err := setTyped(fs, k, kv[k]); err != nil {
			return nil, fmt.Errorf("%w (in %s)", err, path)
		}
		applied = append(applied, k)
	}
	return applied, nil
}

func applyEnv(fs *flag.FlagSet, set map[string]bool, lookupEnv func(string) (string, bool)) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] || f.Name == "config" {
			return
		}
		name := EnvName(f.Name)
		if v, ok := lookupEnv(name); ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = invalid(f.Name, "environment %s=%q: %v", name, v, serr)
			}
		}
	})
	return err
}

// EnvName is the environment variable of a key: COMET_DATA_DIR for data-dir.
func EnvName(key string) string {
	return "COMET_" + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

// ParseFile decodes the TOML text of a config file into its flat keys.
func ParseFile(data []byte) (map[string]any, error) {
	kv := map[string]any{}
	if _, err := toml.Decode(string(data), &kv); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	for k, v := range kv {
		if _, table := v.(map[string]any); table {
			return nil, invalid(k, "tables are not supported: every key is top level")
		}
	}
	return kv, nil
}

// setTyped sets flag k from a TOML value, checking the TOML type against
// the flag's type.
func setTyped(fs *flag.FlagSet, k string, v any) error {
	f := fs.Lookup(k)
	if f == nil || k == "config" {
		return invalid(k, "unknown key")
	}
	var text string
	switch want := f.Value.(flag.Getter).Get().(type) {
	case bool:
		b, ok := v.(bool)
		if !ok {
			return invalid(k, "want true or false, got %s", tomlType(v))
		}
		text = fmt.Sprint(b)
	case int:
		n, ok := v.(int64)
		if !ok {
			return invalid(k, "want an integer, got %s", tomlType(v))
		}
		text = fmt.Sprint(n)
	case string, time.Duration:
		s, ok := v.(string)
		if !ok {
			return invalid(k, "want a quoted string, got %s", tomlType(v))
		}
		text = s
	default:
		return invalid(k, "unsupported flag type %T", want)
	}
	if err := f.Value.Set(text); err != nil {
		return invalid(k, "%q: %v", text, err)
	}
	return nil
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

// Validate reports the first invalid setting, naming its key.
func (c *Config) Validate() error {
	checks := []func() error{c.validateAddrs, c.validateStore, c.validateLogs, c.validateNetwork, c.validateReplication,
		c.Security.Validate, c.MQTT.validate, c.validateController}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateAddrs() error {
	if err := hostPort("listen", c.Listen, false); err != nil {
		return err
	}
	if err := hostPort("namesrv-listen", c.NamesrvListen, true); err != nil {
		return err
	}
	if err := hostPort("http-listen", c.HTTPListen, true); err != nil {
		return err
	}
	if c.VIPListen != VIPAuto {
		if err := hostPort("vip-listen", c.VIPListen, true); err != nil {
			return err
		}
	}
	for _, a := range c.NamesrvAddrs() {
		if err := hostPort("namesrv", a, false); err != nil {
			return err
		}
	}
	if c.Advertise != "" {
		host, _, err := net.SplitHostPort(c.Advertise)
		if err != nil || net.ParseIP(host).To4() == nil {
			return invalid("advertise", "%q: want an IPv4 ip:port", c.Advertise)
		}
	}
	return nil
}

func hostPort(key, addr string, emptyOK bool) error {
	if addr == "" {
		if emptyOK {
			return nil
		}
		return invalid(key, "is empty")
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return invalid(key, "%q: %v", addr, err)
	}
	return nil
}

func (c *Config) validateStore() error {
	if _, err := actors.ParseFlushMode(c.Flush); err != nil {
		return invalid("flush", "%q: want sync or async", c.Flush)
	}
	switch {
	case c.DataDir == "":
		return invalid("data-dir", "is empty")
	case c.RetentionHours <= 0:
		return invalid("retention-hours", "%d: must be positive", c.RetentionHours)
	case c.SegmentSize != 0 && (c.SegmentSize < 2*c.MaxMessageSize || c.SegmentSize > 16<<30):
		return invalid("segment-size", "%d: want 0 (auto) or %d (twice max-message-size) .. %d bytes", c.SegmentSize, 2*c.MaxMessageSize, 16<<30)
	case c.IndexEntries != 0 && (c.IndexEntries < 1024 || c.IndexEntries > 64<<20):
		return invalid("index-entries", "%d: want 0 (auto) or 1024 .. %d", c.IndexEntries, 64<<20)
	case c.DiskEmergencyPercent < 0 || c.DiskEmergencyPercent > 99:
		return invalid("disk-emergency-percent", "%d: want 0 (never) or 1..99", c.DiskEmergencyPercent)
	case c.DefaultQueues < 1 || c.DefaultQueues > 1024:
		return invalid("default-queue-nums", "%d: want 1..1024", c.DefaultQueues)
	case c.MaxMessageSize < 1024 || c.MaxMessageSize > 15<<20:
		return invalid("max-message-size", "%d: want 1024..%d bytes", c.MaxMessageSize, 15<<20)
	case c.Cluster == "":
		return invalid("cluster", "is empty")
	case c.BrokerName == "":
		return invalid("broker-name", "is empty")
	case c.ShutdownTimeout < time.Second:
		return invalid("shutdown-timeout", "%s: want at least 1s", c.ShutdownTimeout)
	case c.MaxTimerDelay < time.Second:
		return invalid("max-timer-delay", "%s: want at least 1s", c.MaxTimerDelay)
	case c.TransactionCheckInterval < 100*time.Millisecond:
		return invalid("transaction-check-interval", "%s: want at least 100ms", c.TransactionCheckInterval)
	case c.TransactionTimeout < 0:
		return invalid("transaction-timeout", "%s: must not be negative", c.TransactionTimeout)
	case c.TransactionCheckMax < 1:
		return invalid("transaction-check-max", "%d: must be positive", c.TransactionCheckMax)
	}
	if _, err := actors.ParseDelayLevels(c.DelayLevels); err != nil {
		return invalid("delay-levels", "%q: %v", c.DelayLevels, err)
	}
	return nil
}

func (c *Config) validateLogs() error {
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

func (c *Config) validateNetwork() error {
	if c.FrameReadTimeout < 100*time.Millisecond {
		return invalid("frame-read-timeout", "%s: want at least 100ms", c.FrameReadTimeout)
	}
	if c.MaxBufferedInput < remoting.DefaultMaxFrameSize {
		return invalid("max-buffered-input", "%d: want at least one largest frame, %d bytes", c.MaxBufferedInput, remoting.DefaultMaxFrameSize)
	}
	return nil
}

// Level is the parsed log level.
func (c *Config) Level() (slog.Level, error) {
	var lvl slog.Level
	err := lvl.UnmarshalText([]byte(c.LogLevel))
	return lvl, err
}

// NamesrvAddrs splits the namesrv setting.
func (c *Config) NamesrvAddrs() []string {
	var ns []string
	for _, a := range strings.FieldsFunc(c.Namesrv, func(r rune) bool { return r == ';' || r == ',' }) {
		if a = strings.TrimSpace(a); a != "" {
			ns = append(ns, a)
		}
	}
	return ns
}

// Values returns every key with its final value.
func (c *Config) Values() map[string]string {
	return maps.Clone(c.values)
}

// Changes lists the keys whose values differ between c and next, split
// into those a reload applies and those that need a restart.
func (c *Config) Changes(next *Config) (reload, restart []string) {
	for k, v := range next.values {
		if c.values[k] == v {
			continue
		}
		if slices.Contains(Reloadable, k) {
			reload = append(reload, k)
		} else {
			restart = append(restart, k)
		}
	}
	slices.Sort(reload)
	slices.Sort(restart)
	return reload, restart
}

// WithReloaded returns a copy of c with the reloadable keys of next.
func (c *Config) WithReloaded(next *Config) *Config {
	out := *c
	out.values, out.typed = maps.Clone(c.values), maps.Clone(c.typed)
	out.LogLevel, out.LogRateLimit = next.LogLevel, next.LogRateLimit
	for _, k := range Reloadable {
		out.values[k], out.typed[k] = next.values[k], next.typed[k]
	}
	return &out
}

// HTTPOffLoopback reports whether the HTTP endpoint listens beyond
// loopback (allowed, but only when configured so).
func (c *Config) HTTPOffLoopback() bool {
	host, _, err := net.SplitHostPort(c.HTTPListen)
	if err != nil || c.HTTPListen == "" {
		return false
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// BrokerOptions maps the configuration onto the broker's options.
func (c *Config) BrokerOptions(log *slog.Logger) actors.BrokerOptions {
	flush, _ := actors.ParseFlushMode(c.Flush)
	replication, _ := actors.ParseReplicationMode(c.Replication)
	return actors.BrokerOptions{
		DataDir: c.DataDir, Listen: c.Listen, Advertise: c.Advertise, NamesrvAddrs: c.NamesrvAddrs(),
		ClusterName: c.Cluster, BrokerName: c.BrokerName, Flush: flush, AutoCreateTopic: c.AutoCreateTopic,
		DefaultQueueNums: int32(c.DefaultQueues), MaxMessageSize: c.MaxMessageSize,
		RetentionAge: time.Duration(c.RetentionHours) * time.Hour, Logger: log, ConfigView: c.brokerConfigView,
		DiskEmergencyRatio: float64(c.DiskEmergencyPercent) / 100, SegmentSize: c.StoreSizes().SegmentBytes,
		IndexEntriesPerFile: c.StoreSizes().IndexEntries,
		DelayLevels:         c.DelayLevels, MaxTimerDelay: c.MaxTimerDelay, TransactionCheckInterval: c.TransactionCheckInterval,
		TransactionTimeout: c.TransactionTimeout, TransactionCheckMax: c.TransactionCheckMax,
		FrameReadTimeout: c.FrameReadTimeout, MaxBufferedInput: c.MaxBufferedInput,
		BrokerID: int64(c.BrokerID), HAListen: c.HAListen, HAAdvertise: c.HAAdvertise, Replication: replication,
		MinInSyncReplicas: c.MinInSyncReplicas, ReplicaLagMax: c.ReplicaLagMax,
		VIPListen:  c.VIPAddr(),
		Controller: actors.ControllerOptions{Addrs: c.ControllerAddrs(), HeartbeatInterval: c.ControllerHeartbeat},
	}
}

// VIPAuto is the vip-listen value that derives the VIP address from the
// listen address.
const VIPAuto = "auto"

// VIPAddr is the address the VIP channel listens on, "" for none. "auto"
// is the listen host with the listen port − 2, RocketMQ's VIP port, which
// clients derive from the advertised port; a listen port of 0 or below 3
// leaves nothing to derive from, so auto serves no VIP channel then.
func (c *Config) VIPAddr() string {
	if c.VIPListen != VIPAuto {
		return c.VIPListen
	}
	host, portText, err := net.SplitHostPort(c.Listen)
	port, perr := strconv.Atoi(portText)
	if err != nil || perr != nil || port < 3 {
		return ""
	}
	return net.JoinHostPort(host, strconv.Itoa(port-2))

}

// ControllerAddrs splits the controller setting.
func (c *Config) ControllerAddrs() []string {
	var out []string
	for _, a := range strings.Split(c.Controller, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func (c *Config) validateController() error {
	addrs := c.ControllerAddrs()
	if len(addrs) == 0 {
		return nil
	}
	for _, a := range addrs {
		if err := hostPort("controller", a, false); err != nil {
			return err
		}
	}
	switch {
	case c.BrokerID != 0:
		return invalid("broker-id", "%d: with --controller the controllers assign ids; leave it 0", c.BrokerID)
	case c.HAListen == "":
		return invalid("ha-listen", "is empty, but --controller needs it: any member may become master")
	case c.ControllerHeartbeat < 10*time.Millisecond || c.ControllerHeartbeat > 10*time.Second:
		return invalid("controller-heartbeat", "%s: want 10ms..10s", c.ControllerHeartbeat)
	}
	return nil
}

func (c *Config) validateReplication() error {
	mode, err := actors.ParseReplicationMode(c.Replication)
	switch {
	case err != nil:
		return invalid("replication", "%q: want async or sync", c.Replication)
	case c.BrokerID < 0:
		return invalid("broker-id", "%d: must not be negative", c.BrokerID)
	case c.MinInSyncReplicas < 1:
		return invalid("min-insync-replicas", "%d: want at least 1 (the master)", c.MinInSyncReplicas)
	case mode != actors.ReplicationSync && c.MinInSyncReplicas > 1:
		return invalid("min-insync-replicas", "%d: applies to --replication sync only", c.MinInSyncReplicas)
	case mode == actors.ReplicationSync && c.HAListen == "":
		return invalid("ha-listen", "is empty, but --replication sync needs it")
	case c.ReplicaLagMax < 100*time.Millisecond:
		return invalid("replica-lag-max", "%s: want at least 100ms", c.ReplicaLagMax)
	}
	if c.HAAdvertise != "" {
		host, _, err := net.SplitHostPort(c.HAAdvertise)
		if err != nil || net.ParseIP(host).To4() == nil {
			return invalid("ha-advertise", "%q: want an IPv4 ip:port", c.HAAdvertise)
		}
	}
	return hostPort("ha-listen", c.HAListen, true)
}
