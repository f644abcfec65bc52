package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/perf"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{nil, false},
		{[]string{"-embedded"}, true}, // flags alone are a run
		{[]string{"run", "-embedded", "-flush", "async"}, true},
		{[]string{"compare", "-mode", "sync", "-count", "20k"}, true},
		{[]string{"run", "-target", "nats"}, true},
		{[]string{"run", "-flush", "sync"}, false}, // the broker's, not ours
		{[]string{"run", "-embedded", "-flush", "sometimes"}, false},
		{[]string{"run", "-target", "kafka"}, false},
		{[]string{"run", "-peer", "rabbitmq"}, false},
		{[]string{"run", "-target", "nats", "-peer", "nats"}, false},
		{[]string{"bench"}, false},
		{[]string{"run", "-size", "4"}, false},
		{[]string{"run", "extra"}, false},
	} {
		var stderr bytes.Buffer
		s, err := parseArgs(tc.args, &stderr)
		if (err == nil) != tc.ok {
			t.Errorf("parseArgs(%q) = %v, want ok %v", tc.args, err, tc.ok)
		}
		if err == nil && tc.args != nil && tc.args[0] == "compare" && s.peer != "nats" {
			t.Errorf("compare did not set the nats peer")
		}
	}
}

func TestRunEmbeddedJSONAndPlot(t *testing.T) {
	plot := filepath.Join(t.TempDir(), "plot.html")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"run", "-embedded", "-flush", "async", "-count", "500",
		"-producers", "2", "-json", "-html", plot, "-quiet"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var doc struct {
		Results []struct {
			Target  string `json:"target"`
			Label   string `json:"label"`
			Publish struct {
				Messages int64 `json:"messages"`
			} `json:"publish"`
			Consume struct {
				Messages int64 `json:"messages"`
			} `json:"consume"`
		} `json:"results"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if len(doc.Results) != 1 || doc.Results[0].Publish.Messages != 500 || doc.Results[0].Consume.Messages < 500 {
		t.Fatalf("report %+v", doc)
	}
	if !strings.Contains(doc.Results[0].Label, "flush=async") {
		t.Errorf("label %q lacks the flush mode", doc.Results[0].Label)
	}
	page, err := os.ReadFile(plot)
	if err != nil || !strings.Contains(string(page), "<svg") {
		t.Fatalf("plot: %v", err)
	}
}

// TestNoArgumentsListsCommands: a bare comet-bench is a usage error that
// names its subcommands; help is not an error.
func TestNoArgumentsListsCommands(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), nil, &stdout, &stderr); code != exitUsage {
		t.Errorf("no arguments: exit %d, want %d", code, exitUsage)
	}
	for _, want := range []string{"usage: comet-bench <command>", "  run ", "  compare "} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("no arguments: stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"help"}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "  compare ") {
		t.Errorf("help: exit %d, stdout:\n%s", code, stdout.String())
	}
	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), []string{"run", "-h"}, &stdout, &stderr); code != exitOK ||
		!strings.Contains(stderr.String(), "-producers") || stdout.Len() != 0 {
		t.Errorf("run -h: exit %d, stdout %q, stderr:\n%s", code, stdout.String(), stderr.String())
	}
}

// TestColumnLabelsCarryFlushAndAck: the compare table's headers say how
// each broker acknowledged; a remote Comet is asked for its flush mode.
func TestColumnLabelsCarryFlushAndAck(t *testing.T) {
	e, err := perf.StartEmbedded(perf.EmbeddedOptions{Flush: actors.FlushAsync})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop(context.Background())
	s, err := parseArgs([]string{"compare", "-namesrv", e.NamesrvAddr, "-nats-ack", "explicit", "-peer-label", "sync_interval=always"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var opts perf.Options
	target, stop, err := s.open("comet", slog.New(slog.DiscardHandler), &opts)
	if err != nil {
		t.Fatal(err)
	}
	target.Close()
	stop()
	if opts.Label != "flush=async" {
		t.Errorf("comet label %q, want flush=async (asked of the broker)", opts.Label)
	}
	if nats, _, err := s.open("nats", slog.New(slog.DiscardHandler), &opts); err == nil { // a NATS server may or may not be running
		nats.Close()
	}
	if opts.Label != "ack=explicit, sync_interval=always" {
		t.Errorf("nats label %q, want ack=explicit, sync_interval=always", opts.Label)
	}
}

func TestSplitList(t *testing.T) {
	got := splitList(" a:1; b:2,,c:3 ")
	if strings.Join(got, "|") != "a:1|b:2|c:3" {
		t.Fatalf("splitList = %q", got)
	}
}
