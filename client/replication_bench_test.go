package client

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/namesrv"
)

// BenchmarkReplication compares, in one run, a single sync-flush broker
// with a master and a replica (both sync flush, in this process) under
// async and under sync replication (min-insync 2): each setup takes b.N
// sends from 16 goroutines calling SendSync. Reported: each setup's
// msgs/s, p50 and p99 in µs, and the ratios of the replicated setups to
// the single broker.
func BenchmarkReplication(b *testing.B) {
	for _, size := range []int{128, 1024} {
		b.Run(fmt.Sprintf("size=%d/senders=16", size), func(b *testing.B) {
			single := replicationRun(b, size, nil)
			async := replicationRun(b, size, &actors.BrokerOptions{Replication: actors.ReplicationAsync})
			sync := replicationRun(b, size, &actors.BrokerOptions{Replication: actors.ReplicationSync, MinInSyncReplicas: 2})
			for _, r := range []struct {
				name string
				m    replicationMeasure
			}{{"single", single}, {"async", async}, {"sync", sync}} {
				b.ReportMetric(r.m.rate, r.name+"-msgs/s")
				b.ReportMetric(float64(r.m.p50.Microseconds()), r.name+"-p50-µs")
				b.ReportMetric(float64(r.m.p99.Microseconds()), r.name+"-p99-µs")
			}
			b.ReportMetric(sync.rate/single.rate, "sync/single-tput")
			b.ReportMetric(float64(sync.p50)/float64(single.p50), "sync/single-p50")
			b.ReportMetric(float64(sync.p99)/float64(single.p99), "sync/single-p99")
			b.ReportMetric(async.rate/single.rate, "async/single-tput")
		})
	}
}

type replicationMeasure struct {
	rate     float64
	p50, p99 time.Duration
}

// replicationRun starts a name server and one broker (repl nil) or a
// master and a replica with repl's replication settings, and measures b.N
// SendSync calls.
func replicationRun(b *testing.B, size int, repl *actors.BrokerOptions) replicationMeasure {
	b.StopTimer()
	ns, err := namesrv.Serve("127.0.0.1:0", testLogger())
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Stop(context.Background())
	start := func(id int64) *actors.Broker {
		o := actors.BrokerOptions{DataDir: b.TempDir(), Listen: "127.0.0.1:0", NamesrvAddrs: []string{ns.Addr()},
			AutoCreateTopic: true, Flush: actors.FlushSync, SegmentSize: 1 << 30, BrokerID: id, Logger: testLogger()}
		if repl != nil {
			o.HAListen, o.Replication, o.MinInSyncReplicas = "127.0.0.1:0", repl.Replication, repl.MinInSyncReplicas
		}
		br, err := actors.NewBroker(o)
		if err == nil {
			err = br.Start()
		}
		if err != nil {
			b.Fatal(err)
		}
		return br
	}
	master := start(0)
	defer master.Stop(context.Background())
	if repl != nil {
		replica := start(1)
		defer replica.Stop(context.Background())
		deadline := time.Now().Add(30 * time.Second)
		for master.ReplicationStatus().InSync < 2 {
			if time.Now().After(deadline) {
				b.Fatal("the replica never joined the in-sync set")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	c, err := New(WithNameServers(ns.Addr()), WithLogger(testLogger()))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	topic := uniqueTopic(b)
	if err := c.CreateTopic(context.Background(), topic, 8); err != nil {
		b.Fatal(err)
	}
	return measureSendSync(b, benchProducer(b, c), topic, size, 16)
}

func measureSendSync(b *testing.B, p *Producer, topic string, size, senders int) replicationMeasure {
	ctx := context.Background()
	for range 200 { // warm up
		if _, err := p.SendSync(ctx, NewMessage(topic, make([]byte, size))); err != nil {
			b.Fatal(err)
		}
	}
	lats := make([][]time.Duration, senders)
	b.SetBytes(int64(size))
	b.StartTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range senders {
		n := b.N / senders
		if w < b.N%senders {
			n++
		}
		wg.Go(func() {
			msg := NewMessage(topic, make([]byte, size))
			for range n {
				t := time.Now()
				if _, err := p.SendSync(ctx, msg); err != nil {
					b.Error(err)
					return
				}
				lats[w] = append(lats[w], time.Since(t))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lats...)
	if len(all) == 0 {
		b.Fatal("no send completed")
	}
	slices.Sort(all)
	return replicationMeasure{rate: float64(len(all)) / elapsed.Seconds(),
		p50: all[len(all)/2], p99: all[min(len(all)-1, len(all)*99/100)]}
}
