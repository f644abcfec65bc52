package perf

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/internal/cluster"
)

func cometTarget(t *testing.T, flush actors.FlushMode) *Comet {
	t.Helper()
	env := cluster.StartTest(t, func(o *actors.BrokerOptions) { o.Flush = flush })
	c, err := NewComet(CometOptions{NameServers: []string{env.NamesrvAddr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func runComet(t *testing.T, c *Comet, w Workload) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := Run(ctx, c, w, Options{})
	if err != nil {
		t.Fatalf("%s: %v", w.String(), err)
	}
	return res
}

// Tiny workloads of every send mode against an in-process broker: every
// message is acknowledged, every one is consumed, and the latencies are
// counted once each.
func TestRunCometModes(t *testing.T) {
	c := cometTarget(t, actors.FlushAsync)
	for _, tc := range []struct {
		name   string
		mutate func(*Workload)
	}{
		{"async", func(w *Workload) {}},
		{"async-linger", func(w *Workload) { w.Linger = time.Millisecond }},
		{"sync-paced", func(w *Workload) { w.Mode, w.Rate, w.Count = SendSync, 2000, 300 }},
		{"batch-backlog-pull", func(w *Workload) {
			w.Mode, w.Batch, w.Backlog, w.Consume, w.Consumers = SendBatch, 50, true, ConsumePull, 2
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := DefaultWorkload()
			w.Producers, w.Topics, w.Queues, w.Count, w.DrainTimeout = 2, 2, 2, 2000, 20*time.Second
			tc.mutate(&w)
			res := runComet(t, c, w)
			if res.Publish.Messages != w.Count || res.SendLatency.Count != w.Count || res.Failed != 0 {
				t.Fatalf("acked %d, latencies %d, failed %d; want %d acked", res.Publish.Messages,
					res.SendLatency.Count, res.Failed, w.Count)
			}
			if res.Consume == nil || res.Consume.Messages < w.Count {
				t.Fatalf("consume phase %+v, want >= %d messages", res.Consume, w.Count)
			}
			if !w.Backlog && res.EndToEnd.Count < w.Count {
				t.Fatalf("end-to-end latencies %d, want >= %d", res.EndToEnd.Count, w.Count)
			}
		})
	}
}

// With sync flush every acknowledgement follows an fdatasync; the run
// still completes and counts.
func TestRunCometSyncFlush(t *testing.T) {
	c := cometTarget(t, actors.FlushSync)
	w := DefaultWorkload()
	w.Count, w.Consumers, w.Mode = 500, 0, SendAsync
	res := runComet(t, c, w)
	if res.Publish.Messages != 500 || res.Consume != nil {
		t.Fatalf("publish %+v consume %+v", res.Publish, res.Consume)
	}
}

func TestEmbedded(t *testing.T) {
	e, err := StartEmbedded(EmbeddedOptions{Flush: actors.FlushAsync, SegmentSize: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewComet(CometOptions{NameServers: []string{e.NamesrvAddr}})
	if err != nil {
		t.Fatal(err)
	}
	w := DefaultWorkload()
	w.Count, w.Consumers = 100, 0
	res := runComet(t, c, w)
	c.Close()
	if err := e.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if res.Publish.Messages != 100 {
		t.Fatalf("acked %d of 100", res.Publish.Messages)
	}
	if _, err := NewComet(CometOptions{}); !errors.Is(err, ErrInvalidWorkload) {
		t.Fatalf("NewComet without name servers: %v", err)
	}
}
