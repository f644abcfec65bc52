package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{nil, true},
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

func TestSplitList(t *testing.T) {
	got := splitList(" a:1; b:2,,c:3 ")
	if strings.Join(got, "|") != "a:1|b:2|c:3" {
		t.Fatalf("splitList = %q", got)
	}
}
