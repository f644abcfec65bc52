package config

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

// TestErrorsSayWhereTheValueCameFrom: a bad value names its key and
// whether a flag, the environment, the file or the default set it.
func TestErrorsSayWhereTheValueCameFrom(t *testing.T) {
	file := writeFile(t, "retention-hours = 0\n")
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{args: []string{"-retention-hours", "0"}, want: "retention-hours: 0: must be positive (set by flag -retention-hours)"},
		{env: map[string]string{"COMET_RETENTION_HOURS": "0"}, want: "(set by environment COMET_RETENTION_HOURS)"},
		{args: []string{"-config", file}, want: "(set in " + file + ")"},
		{args: []string{"-config", file}, env: map[string]string{"COMET_RETENTION_HOURS": "-3"}, want: "-3: must be positive (set by environment COMET_RETENTION_HOURS)"},
		{args: []string{"-max-message-size", "4194304", "-segment-size", "4096"}, want: "segment-size: 4096: want 0 (auto) or 8388608 (twice max-message-size) .. 17179869184 bytes (set by flag -segment-size)"},
		{args: []string{"-max-message-size", "16777216"}, want: "(set by flag -max-message-size)"},
	}
	for _, tc := range cases {
		_, err := loadWith(t, tc.args, tc.env)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: err %v, want ErrInvalid with %q", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestOriginOfEachKey(t *testing.T) {
	file := writeFile(t, "retention-hours = 24\nlog-level = \"warn\"\nflush = \"async\"\n")
	c, err := loadWith(t, []string{"-config", file, "-log-level", "debug"}, map[string]string{"COMET_FLUSH": "sync"})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"log-level": OriginFlag, "flush": OriginEnv, "retention-hours": OriginFile, "listen": OriginDefault} {
		if got := c.Origin(key); got != want {
			t.Errorf("Origin(%s) = %q, want %q", key, got, want)
		}
	}
	if got := c.DescribeOrigin("listen"); got != "the default" {
		t.Errorf("DescribeOrigin(listen) = %q", got)
	}
}

func TestUnknownEnvironmentVariables(t *testing.T) {
	fs := flag.NewFlagSet("comet", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	defineFlags(fs, &Config{})
	got := unknownEnv(fs, []string{"COMET_DATA_DIR=/x", "COMET_DATADIR=/y", "COMET_CONFIG=/c.toml", "HOME=/root",
		"COMET_LISTEN_ADDR=1", "COMET_DATADIR=/z", "XCOMET_FOO=1"})
	if want := []string{"COMET_DATADIR", "COMET_LISTEN_ADDR"}; !slices.Equal(got, want) {
		t.Errorf("unknownEnv = %q, want %q", got, want)
	}
}

func TestTypedValues(t *testing.T) {
	c, err := loadWith(t, []string{"-shutdown-timeout", "45s", "-retention-hours", "24"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := c.TypedValues()
	for key, want := range map[string]any{"shutdown-timeout": 45.0, "retention-hours": 24, "auto-create-topic": true,
		"flush": "sync", "frame-read-timeout": 30.0} {
		if v[key] != want {
			t.Errorf("%s = %#v, want %#v", key, v[key], want)
		}
	}
	next, err := loadWith(t, []string{"-log-level", "debug", "-log-rate-limit", "9"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.WithReloaded(next).TypedValues()["log-rate-limit"]; got != 9 {
		t.Errorf("reloaded log-rate-limit = %#v, want 9", got)
	}
}

// TestBrokerConfigViewShowsEachSettingOnce: the keys GET_BROKER_CONFIG
// shows under RocketMQ's names are not repeated under the flag names.
func TestBrokerConfigViewShowsEachSettingOnce(t *testing.T) {
	c, err := loadWith(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	view := c.BrokerOptions(nil).ConfigView()
	for _, k := range []string{"segment-size", "flush", "cluster", "data-dir", "retention-hours"} {
		if _, ok := view[k]; ok {
			t.Errorf("%s is shown under its RocketMQ name already", k)
		}
	}
	for _, k := range []string{"log-level", "delay-levels", "http-listen", "replication"} {
		if view[k] != c.Values()[k] {
			t.Errorf("%s = %q, want %q", k, view[k], c.Values()[k])
		}
	}
}

// TestStoreSizes: a loopback-only broker gets small store files, any
// other the large ones, and explicit sizes win.
func TestStoreSizes(t *testing.T) {
	cases := []struct {
		args    []string
		segment int64
		entries int
		small   bool
	}{
		{nil, 64 << 20, 1 << 20, true},
		{[]string{"-listen", "localhost:10911"}, 64 << 20, 1 << 20, true},
		{[]string{"-listen", "0.0.0.0:10911"}, 1 << 30, 16 << 20, false},
		{[]string{"-listen", "127.0.0.1:10911", "-advertise", "10.0.0.5:10911"}, 1 << 30, 16 << 20, false},
		{[]string{"-segment-size", "268435456"}, 256 << 20, 1 << 20, true},
		{[]string{"-listen", "10.0.0.5:10911", "-index-entries", "4096"}, 1 << 30, 4096, false},
		{[]string{"-segment-size", "268435456", "-index-entries", "4096"}, 256 << 20, 4096, false},
	}
	for _, tc := range cases {
		c, err := loadWith(t, tc.args, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := c.StoreSizes()
		if got.SegmentBytes != tc.segment || got.IndexEntries != tc.entries || got.Small != tc.small {
			t.Errorf("%v: %+v, want segment %d, entries %d, small %v", tc.args, got, tc.segment, tc.entries, tc.small)
		}
		if o := c.BrokerOptions(nil); o.SegmentSize != got.SegmentBytes || o.IndexEntriesPerFile != got.IndexEntries {
			t.Errorf("%v: broker options %d/%d", tc.args, o.SegmentSize, o.IndexEntriesPerFile)
		}
	}
	if _, err := loadWith(t, []string{"-index-entries", "10"}, nil); err == nil || !strings.Contains(err.Error(), "index-entries") {
		t.Errorf("index-entries 10: %v", err)
	}
}
