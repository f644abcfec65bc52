package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func loadWith(t *testing.T, args []string, env map[string]string) (*Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("comet", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return load(fs, args, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "comet.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c, err := loadWith(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:10911" || c.HTTPListen != "127.0.0.1:9877" || c.RetentionHours != 72 ||
		c.ShutdownTimeout != 30*time.Second || c.HTTPOffLoopback() || !c.AutoCreateTopic {
		t.Fatalf("defaults: %+v", c)
	}
	opts := c.BrokerOptions(nil)
	if opts.RetentionAge != 72*time.Hour || opts.MaxMessageSize != 4<<20 || opts.DefaultQueueNums != 4 || opts.ConfigView == nil {
		t.Fatalf("broker options: %+v", opts)
	}
}

func TestPrecedenceFlagEnvFile(t *testing.T) {
	path := writeFile(t, `
# comment
data-dir = "/var/lib/comet"      # trailing comment
retention-hours = 24
auto-create-topic = false
log-level = "warn"
shutdown-timeout = "45s"
namesrv = "10.0.0.1:9876;10.0.0.2:9876"
`)
	c, err := loadWith(t, []string{"-config", path, "-log-level", "debug"},
		map[string]string{"COMET_LOG_LEVEL": "error", "COMET_RETENTION_HOURS": "12", "COMET_HTTP_LISTEN": ""})
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case c.LogLevel != "debug":
		t.Fatalf("flag must beat env and file: %q", c.LogLevel)
	case c.RetentionHours != 12:
		t.Fatalf("env must beat file: %d", c.RetentionHours)
	case c.DataDir != "/var/lib/comet" || c.AutoCreateTopic || c.ShutdownTimeout != 45*time.Second:
		t.Fatalf("file values: %+v", c)
	case c.HTTPListen != "":
		t.Fatalf("empty env value must disable http: %q", c.HTTPListen)
	case !slices.Equal(c.NamesrvAddrs(), []string{"10.0.0.1:9876", "10.0.0.2:9876"}):
		t.Fatalf("namesrv: %v", c.NamesrvAddrs())
	}
	if c.Values()["retention-hours"] != "12" {
		t.Fatalf("values: %v", c.Values())
	}
	viaEnv, err := loadWith(t, nil, map[string]string{"COMET_CONFIG": path})
	if err != nil || viaEnv.DataDir != "/var/lib/comet" {
		t.Fatalf("COMET_CONFIG: %v %+v", err, viaEnv)
	}
}

func TestValidationNamesTheKey(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		file string
		key  string
	}{
		{args: []string{"-flush", "sometimes"}, key: "flush"},
		{args: []string{"-data-dir", ""}, key: "data-dir"},
		{args: []string{"-retention-hours", "0"}, key: "retention-hours"},
		{args: []string{"-listen", "nope"}, key: "listen"},
		{args: []string{"-http-listen", "localhost"}, key: "http-listen"},
		{args: []string{"-advertise", "example.com:1"}, key: "advertise"},
		{args: []string{"-log-format", "xml"}, key: "log-format"},
		{args: []string{"-log-level", "loud"}, key: "log-level"},
		{args: []string{"-log-rate-limit", "-1"}, key: "log-rate-limit"},
		{args: []string{"-default-queue-nums", "0"}, key: "default-queue-nums"},
		{args: []string{"-max-message-size", "10"}, key: "max-message-size"},
		{args: []string{"-shutdown-timeout", "10ms"}, key: "shutdown-timeout"},
		{args: []string{"-namesrv", "a;b:1"}, key: "namesrv"},
		{args: []string{"-frame-read-timeout", "1ms"}, key: "frame-read-timeout"},
		{args: []string{"-max-buffered-input", "1024"}, key: "max-buffered-input"},
		{args: []string{"-ha-advertise", "example.com:1"}, key: "ha-advertise"},
		{args: []string{"-controller", "nope"}, key: "controller"},
		{args: []string{"-controller", "127.0.0.1:9880", "-broker-id", "1"}, key: "broker-id"},
		{args: []string{"-controller", "127.0.0.1:9880", "-ha-listen", ""}, key: "ha-listen"},
		{args: []string{"-controller", "127.0.0.1:9880", "-controller-heartbeat", "1ms"}, key: "controller-heartbeat"},
		{env: map[string]string{"COMET_RETENTION_HOURS": "soon"}, key: "retention-hours"},
		{file: `retention-hours = "72"`, key: "retention-hours"},
		{file: `auto-create-topic = "yes"`, key: "auto-create-topic"},
		{file: `listen = 10911`, key: "listen"},
		{file: `shutdown-timeout = 30`, key: "shutdown-timeout"},
		{file: `no-such-key = 1`, key: "no-such-key"},
		{file: "[broker]\nlisten = \"x:1\"", key: "broker"},
		{file: `config = "other.toml"`, key: "config"},
		{file: "listen = \"127.0.0.1:1\"\nretention-hours = = 3", key: "line 2"},
	}
	for _, tc := range cases {
		args := tc.args
		if tc.file != "" {
			args = append(args, "-config", writeFile(t, tc.file))
		}
		_, err := loadWith(t, args, tc.env)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%v %v %q: err %v, want ErrInvalid naming %q", tc.args, tc.env, tc.file, err, tc.key)
		}
	}
}

func TestMissingFileAndStrayArgument(t *testing.T) {
	if _, err := loadWith(t, []string{"-config", filepath.Join(t.TempDir(), "absent.toml")}, nil); err == nil {
		t.Fatal("missing config file accepted")
	}
	if _, err := loadWith(t, []string{"stray"}, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("stray argument: %v", err)
	}
}

func TestChangesAndReload(t *testing.T) {
	old, _ := loadWith(t, nil, nil)
	next, err := loadWith(t, []string{"-log-level", "debug", "-listen", "127.0.0.1:1", "-log-rate-limit", "0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reload, restart := old.Changes(next)
	if !slices.Equal(reload, []string{"log-level", "log-rate-limit"}) || !slices.Equal(restart, []string{"listen"}) {
		t.Fatalf("reload %v restart %v", reload, restart)
	}
	applied := old.WithReloaded(next)
	if applied.LogLevel != "debug" || applied.LogRateLimit != 0 || applied.Listen != old.Listen || applied.Values()["log-level"] != "debug" {
		t.Fatalf("applied: %+v", applied)
	}
	if old.LogLevel != "info" {
		t.Fatal("WithReloaded changed its receiver")
	}
	r2, s2 := applied.Changes(next)
	if len(r2) != 0 || !slices.Equal(s2, []string{"listen"}) {
		t.Fatalf("after apply: %v %v", r2, s2)
	}
}

func TestHTTPOffLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:9877": false, "localhost:1": false, "[::1]:1": false,
		"0.0.0.0:9877": true, ":9877": true, "10.1.2.3:80": true, "": false} {
		c := &Config{HTTPListen: addr}
		if c.HTTPOffLoopback() != want {
			t.Errorf("%q: off loopback %v, want %v", addr, !want, want)
		}
	}
}

// TestExampleFileMatchesDefaults keeps deploy/comet.example.toml honest:
// it must parse, name every key, and state each default.
func TestExampleFileMatchesDefaults(t *testing.T) {
	data, err := os.ReadFile("../../deploy/comet.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	kv, err := ParseFile(data)
	if err != nil {
		t.Fatal(err)
	}
	defaults, _ := loadWith(t, nil, nil)
	path := writeFile(t, string(data))
	fromFile, err := loadWith(t, []string{"-config", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for key, def := range defaults.Values() {
		if key == "config" {
			continue
		}
		if _, ok := kv[key]; !ok {
			t.Errorf("example file lacks key %q", key)
		}
		if fromFile.Values()[key] != def {
			t.Errorf("example file sets %q to %q; the default is %q", key, fromFile.Values()[key], def)
		}
	}
}

func FuzzParseFile(f *testing.F) {
	f.Add([]byte("listen = \"127.0.0.1:1\"\nretention-hours = 3\n"))
	f.Add([]byte("[t]\nk = 1"))
	f.Add([]byte("a = [1, 2]\nb = 1.5\nc = 1979-05-27T07:32:00Z"))
	f.Fuzz(func(t *testing.T, data []byte) {
		kv, err := ParseFile(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("unclassed error %v", err)
			}
			return
		}
		fs := flag.NewFlagSet("comet", flag.ContinueOnError)
		defineFlags(fs, &Config{})
		for k, v := range kv {
			if err := setTyped(fs, k, v); err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("unclassed error %v", err)
			}
		}
	})
}

func TestLoadNamesrvListsOnlyNameServerFlags(t *testing.T) {
	var usage strings.Builder
	fs := flag.NewFlagSet("comet namesrv", flag.ContinueOnError)
	fs.SetOutput(&usage)
	if _, err := LoadNamesrv(fs, []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	if !strings.Contains(usage.String(), "-namesrv-listen") || strings.Contains(usage.String(), "-data-dir") {
		t.Fatalf("namesrv usage lists the wrong flags:\n%s", usage.String())
	}
	fs = flag.NewFlagSet("comet namesrv", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := LoadNamesrv(fs, []string{"-data-dir", "x"}); err == nil {
		t.Fatal("a broker flag was accepted by comet namesrv")
	}
	file := filepath.Join(t.TempDir(), "comet.toml")
	if err := os.WriteFile(file, []byte("data-dir = \"/srv/comet\"\nnamesrv-listen = \"127.0.0.1:19876\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs = flag.NewFlagSet("comet namesrv", flag.ContinueOnError)
	c, err := LoadNamesrv(fs, []string{"-config", file})
	if err != nil {
		t.Fatalf("a shared config file with broker keys: %v", err)
	}
	if c.NamesrvListen != "127.0.0.1:19876" {
		t.Fatalf("namesrv-listen from the file: got %q", c.NamesrvListen)
	}
}
