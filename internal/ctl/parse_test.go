package ctl

import (
	"errors"
	"testing"
	"time"
)

func TestParseWhen(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	for in, want := range map[string]int64{"now": now.UnixMilli(), "latest": -1, "-1": -1, "earliest": 0,
		"1699999999000": 1699999999000, "2023-11-14T22:13:20Z": 1700000000000, "-1h": now.Add(-time.Hour).UnixMilli()} {
		got, err := parseWhen(in, now)
		if err != nil || got != want {
			t.Errorf("parseWhen(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-2", "-x", "2023-13-01"} {
		if _, err := parseWhen(bad, now); !errors.Is(err, ErrUsage) {
			t.Errorf("parseWhen(%q): %v, want a usage error", bad, err)
		}
	}
}

func FuzzParseWhen(f *testing.F) {
	for _, s := range []string{"now", "latest", "1700000000000", "2023-11-14T22:13:20Z", "-90m", "-1"} {
		f.Add(s)
	}
	now := time.UnixMilli(1_700_000_000_000)
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := parseWhen(s, now); err != nil && !errors.Is(err, ErrUsage) {
			t.Fatalf("unclassed error %v", err)
		}
	})
}
