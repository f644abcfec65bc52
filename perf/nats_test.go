package perf

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// natsURL returns the URL of a NATS server to run the peer against: the
// one in COMET_BENCH_NATS_URL, or a nats-server found on PATH started on a
// port the system picks; otherwise the test is skipped.
func natsURL(t *testing.T) string {
	t.Helper()
	if url := os.Getenv("COMET_BENCH_NATS_URL"); url != "" {
		return url
	}
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		t.Skip("no nats-server on PATH and COMET_BENCH_NATS_URL unset (perf/peer/nats.sh build installs one)")
	}
	return startNATSServer(t, bin)
}

func startNATSServer(t *testing.T, bin string) string {
	dir := t.TempDir()
	cmd := exec.Command(bin, "-js", "-sd", filepath.Join(dir, "store"), "-a", "127.0.0.1", "-p", "-1",
		"-ports_file_dir", dir, "-l", filepath.Join(dir, "nats.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	portsFile := filepath.Join(dir, filepath.Base(bin)+"_"+strconv.Itoa(cmd.Process.Pid)+".ports")
	var ports struct {
		Nats []string `json:"nats"`
	}
	err := pollUntil(context.Background(), 10*time.Second, func() bool {
		raw, err := os.ReadFile(portsFile)
		return err == nil && json.Unmarshal(raw, &ports) == nil && len(ports.Nats) > 0
	})
	if err != nil {
		t.Fatalf("nats-server wrote no ports file %s: %v", portsFile, err)
	}
	return ports.Nats[0]
}

func TestRunNATSPeer(t *testing.T) {
	url := natsURL(t)
	for _, tc := range []struct {
		name   string
		mutate func(*Workload)
	}{
		{"async-push", func(w *Workload) {}},
		{"sync", func(w *Workload) { w.Mode, w.Count = SendSync, 300 }},
		{"batch-backlog-pull", func(w *Workload) { w.Mode, w.Batch, w.Backlog, w.Consume = SendBatch, 50, true, ConsumePull }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := NewNATS(NATSOptions{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			w := DefaultWorkload()
			w.Producers, w.Consumers, w.Topics, w.Count, w.Window = 2, 2, 2, 2000, 100
			w.DrainTimeout = 20 * time.Second
			tc.mutate(&w)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := Run(ctx, n, w, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Publish.Messages != w.Count || res.Consume.Messages < w.Count {
				t.Fatalf("acked %d, consumed %d; want %d", res.Publish.Messages, res.Consume.Messages, w.Count)
			}
		})
	}
}

func TestNATSOptions(t *testing.T) {
	if _, err := NewNATS(NATSOptions{}); !errors.Is(err, ErrInvalidWorkload) {
		t.Fatalf("NewNATS without URL: %v", err)
	}
	if _, err := NewNATS(NATSOptions{URL: "nats://127.0.0.1:1", Ack: "sometimes"}); !errors.Is(err, ErrInvalidWorkload) {
		t.Fatalf("NewNATS with a bad ack mode: %v", err)
	}
}
