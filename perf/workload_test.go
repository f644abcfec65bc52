package perf

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"128", 128, true}, {"128B", 128, true}, {"1KiB", 1024, true}, {"1k", 1024, true},
		{"4 MiB", 4 << 20, true}, {"1.5K", 1536, true}, {"1_024", 1024, true},
		{"", 0, false}, {"KiB", 0, false}, {"1GiB", 0, false}, {"-1", 0, false},
		{"0.3", 0, false}, {"1x", 0, false}, {"99999999999", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidWorkload) {
			t.Errorf("ParseSize(%q) error %v is not ErrInvalidWorkload", tc.in, err)
		}
	}
}

func TestParseCount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"100", 100, true}, {"100k", 100_000, true}, {"1M", 1_000_000, true},
		{"2.5k", 2500, true}, {"1G", 1e9, true}, {"1Ki", 0, false}, {"k", 0, false}, {"1.0001k", 0, false},
	} {
		got, err := ParseCount(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ParseCount(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	for _, n := range []int64{0, 7, 1000, 1500, 2_000_000, 3e9} {
		back, err := ParseCount(FormatCount(n))
		if err != nil || back != n {
			t.Errorf("ParseCount(FormatCount(%d)) = %d, %v", n, back, err)
		}
	}
}

func TestWorkloadValidate(t *testing.T) {
	if w := DefaultWorkload(); w.Validate() != nil {
		t.Fatalf("default workload invalid: %v", w.Validate())
	}
	for name, mutate := range map[string]func(*Workload){
		"no producers":         func(w *Workload) { w.Producers = 0 },
		"negative consumers":   func(w *Workload) { w.Consumers = -1 },
		"size below header":    func(w *Workload) { w.Size = 7 },
		"count and duration":   func(w *Workload) { w.Duration = time.Second },
		"neither":              func(w *Workload) { w.Count = 0 },
		"negative rate":        func(w *Workload) { w.Rate = -1 },
		"unknown mode":         func(w *Workload) { w.Mode = "oneway" },
		"batch of zero":        func(w *Workload) { w.Mode, w.Batch = SendBatch, 0 },
		"batch over 4 MiB":     func(w *Workload) { w.Mode, w.Batch, w.Size = SendBatch, 4096, 2048 },
		"zero window":          func(w *Workload) { w.Window = 0 },
		"no topics":            func(w *Workload) { w.Topics = 0 },
		"no queues":            func(w *Workload) { w.Queues = 0 },
		"unknown consume":      func(w *Workload) { w.Consume = "poll" },
		"backlog no consumers": func(w *Workload) { w.Backlog, w.Consumers = true, 0 },
		"zero drain timeout":   func(w *Workload) { w.DrainTimeout = 0 },
	} {
		w := DefaultWorkload()
		mutate(&w)
		if err := w.Validate(); !errors.Is(err, ErrInvalidWorkload) {
			t.Errorf("%s: Validate() = %v, want ErrInvalidWorkload", name, err)
		}
	}
}

func TestWorkloadFlags(t *testing.T) {
	w := DefaultWorkload()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	w.RegisterFlags(fs)
	err := fs.Parse([]string{"-producers", "4", "-size", "1KiB", "-count", "0", "-duration", "10s",
		"-rate", "50k", "-mode", "batch", "-batch", "256", "-backlog", "-consume", "pull"})
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultWorkload()
	want.Producers, want.Size, want.Count, want.Duration = 4, 1024, 0, 10*time.Second
	want.Rate, want.Mode, want.Batch, want.Backlog, want.Consume = 50_000, SendBatch, 256, true, ConsumePull
	if w != want {
		t.Fatalf("parsed %+v\nwant   %+v", w, want)
	}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	if s := w.String(); !strings.Contains(s, "batch of 256") || !strings.Contains(s, "at 50k/s") {
		t.Errorf("String() = %q", s)
	}
	if err := fs.Parse([]string{"-size", "huge"}); err == nil {
		t.Error("bad size accepted")
	}
}

func TestParseProcStat(t *testing.T) {
	stat := "4242 (comet (x) y) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 125 0 0 20 0 12 0 100 0 0"
	got, ok := parseProcStat(stat)
	if !ok || got != 3750*time.Millisecond {
		t.Fatalf("parseProcStat = %v, %v; want 3.75s", got, ok)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 a b c"} {
		if _, ok := parseProcStat(bad); ok {
			t.Errorf("parseProcStat(%q) accepted", bad)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"128", "1KiB", "4 MiB", "1.5k", "", "-1", "1e3", "1_0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
		if err != nil && !errors.Is(err, ErrInvalidWorkload) {
			t.Fatalf("ParseSize(%q): error class %v", s, err)
		}
	})
}

func FuzzParseCount(f *testing.F) {
	for _, s := range []string{"100k", "1M", "2.5k", "", "k", "1G", "NaN", "Inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseCount(s)
		if err == nil && (n < 0 || n > 1e15) {
			t.Fatalf("ParseCount(%q) = %d", s, n)
		}
	})
}

func FuzzParseProcStat(f *testing.F) {
	f.Add("4242 (comet) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 125 0 0 20 0 12 0 100 0 0")
	f.Add("1 ()) S")
	f.Fuzz(func(t *testing.T, s string) {
		if d, ok := parseProcStat(s); ok && d < 0 {
			t.Fatalf("parseProcStat(%q) = %v", s, d)
		}
	})
}
