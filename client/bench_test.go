package client

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/internal/cluster"
)

// Benchmarks run the SDK against an in-process broker on loopback, so
// client and broker share the machine's cores.

func benchEnv(b *testing.B, flush actors.FlushMode) (*cluster.Cluster, *Client, string) {
	b.Helper()
	env := cluster.StartTest(b, func(o *actors.BrokerOptions) {
		o.Flush = flush
		o.SegmentSize = 1 << 30
	})
	c, err := New(WithNameServers(env.NamesrvAddr), WithLogger(testLogger()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	topic := fmt.Sprintf("Bench_%d", topicSeq.Add(1))
	if err := c.CreateTopic(context.Background(), topic, 8); err != nil {
		b.Fatal(err)
	}
	return env, c, topic
}

func flushName(f actors.FlushMode) string {
	if f == actors.FlushSync {
		return "sync"
	}
	return "async"
}

func benchProducer(b *testing.B, c *Client, opts ...ProducerOption) *Producer {
	b.Helper()
	p, err := c.NewProducer("bench-pg", opts...)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkSendSync measures one synchronous send at a time: the round
// trip latency, reported as p50/p99 in microseconds.
func BenchmarkSendSync(b *testing.B) {
	for _, flush := range []actors.FlushMode{actors.FlushAsync, actors.FlushSync} {
		b.Run("flush="+flushName(flush)+"/size=128", func(b *testing.B) {
			_, c, topic := benchEnv(b, flush)
			p := benchProducer(b, c)
			msg := NewMessage(topic, make([]byte, 128))
			ctx := context.Background()
			for range 100 { // warm up connections and routes
				if _, err := p.SendSync(ctx, msg); err != nil {
					b.Fatal(err)
				}
			}
			lat := make([]time.Duration, 0, b.N)
			b.SetBytes(128)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if _, err := p.SendSync(ctx, msg); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			reportLatency(b, lat)
		})
	}
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds())
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// BenchmarkSendAsync measures publish throughput with publishers goroutines
// each sending asynchronously (b.N messages in total).
func BenchmarkSendAsync(b *testing.B) {
	cases := []struct {
		flush    actors.FlushMode
		size     int
		batching bool
		ids      bool
	}{
		{actors.FlushAsync, 128, false, true}, {actors.FlushAsync, 1024, false, true},
		{actors.FlushAsync, 128, true, true}, {actors.FlushAsync, 128, true, false},
		{actors.FlushSync, 128, true, true},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("flush=%s/size=%d/publishers=4/batching=%v", flushName(tc.flush), tc.size, tc.batching)
		if tc.batching {
			name += fmt.Sprintf("/ids=%v", tc.ids)
		}
		b.Run(name, func(b *testing.B) {
			_, c, topic := benchEnv(b, tc.flush)
			opts := []ProducerOption{WithBatchMessageIDs(tc.ids)}
			if tc.batching {
				opts = append(opts, WithBatching(time.Millisecond, 128, 256<<10))
			}
			p := benchProducer(b, c, opts...)
			runPublishers(b, p, topic, tc.size, 4)
		})
	}
}

func runPublishers(b *testing.B, p *Producer, topic string, size, publishers int) {
	ctx := context.Background()
	if _, err := p.SendSync(ctx, NewMessage(topic, make([]byte, size))); err != nil {
		b.Fatal(err)
	}
	var done sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	callback := func(_ SendResult, err error) {
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err)
		}
		done.Done()
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	done.Add(b.N)
	var senders sync.WaitGroup
	for w := range publishers {
		n := b.N / publishers
		if w < b.N%publishers {
			n++
		}
		senders.Go(func() {
			for range n {
				msg := NewMessage(topic, make([]byte, size))
				if err := p.SendAsync(ctx, msg, callback); err != nil {
					callback(SendResult{}, err)
				}
			}
		})
	}
	senders.Wait()
	done.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d sends failed, first: %v", n, firstErr.Load())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkSendBatch measures explicit SendBatch calls from 4 goroutines.
func BenchmarkSendBatch(b *testing.B) {
	for _, tc := range []struct {
		batch int
		ids   bool
	}{{64, true}, {256, true}, {256, false}} {
		batch := tc.batch
		b.Run(fmt.Sprintf("flush=async/size=128/batch=%d/publishers=4/ids=%v", batch, tc.ids), func(b *testing.B) {
			_, c, topic := benchEnv(b, actors.FlushAsync)
			p := benchProducer(b, c, WithBatchMessageIDs(tc.ids))
			msgs := make([]*Message, batch)
			for i := range msgs {
				msgs[i] = NewMessage(topic, make([]byte, 128))
			}
			ctx := context.Background()
			if _, err := p.SendBatch(ctx, msgs); err != nil {
				b.Fatal(err)
			}
			calls := max(1, b.N/batch)
			var next atomic.Int64
			b.SetBytes(128)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for next.Add(1) <= int64(calls) {
						if _, err := p.SendBatch(ctx, msgs); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(calls*batch)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// fillBacklog stores n messages of size bytes in topic with batches.
func fillBacklog(b *testing.B, c *Client, topic string, n, size int) {
	b.Helper()
	p := benchProducer(b, c)
	ctx := context.Background()
	const batch = 256
	msgs := make([]*Message, batch)
	for i := range msgs {
		msgs[i] = NewMessage(topic, make([]byte, size))
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				from := next.Add(batch) - batch
				if from >= int64(n) {
					return
				}
				if _, err := p.SendBatch(ctx, msgs[:min(batch, n-int(from))]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkConsumeBacklog measures draining a backlog of b.N messages with
// a push consumer (callback) and with pull calls (fetch).
func BenchmarkConsumeBacklog(b *testing.B) {
	b.Run("mode=push/size=128", benchPushBacklog)
	b.Run("mode=pull/size=128", benchPullBacklog)
}

func benchPushBacklog(b *testing.B) {
	_, c, topic := benchEnv(b, actors.FlushAsync)
	fillBacklog(b, c, topic, b.N, 128)
	var got atomic.Int64
	all := make(chan struct{})
	pc, err := c.NewPushConsumer("bench-cg", WithConsumeFrom(ConsumeFromFirst), WithPullBatchSize(512),
		WithConsumeBatchSize(64), WithMaxCachedPerQueue(4096), WithConcurrency(4))
	if err != nil {
		b.Fatal(err)
	}
	err = pc.Subscribe(topic, All, func(_ context.Context, msgs []*MessageExt) error {
		if got.Add(int64(len(msgs))) == int64(b.N) {
			close(all)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(128)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if err := pc.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	<-all
	elapsed := time.Since(start)
	b.StopTimer()
	pc.Close()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

func benchPullBacklog(b *testing.B) {
	_, c, topic := benchEnv(b, actors.FlushAsync)
	fillBacklog(b, c, topic, b.N, 128)
	pull, err := c.NewPullConsumer("bench-pull")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	queues, err := pull.Queues(ctx, topic)
	if err != nil {
		b.Fatal(err)
	}
	var got atomic.Int64
	b.SetBytes(128)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, mq := range queues {
		wg.Go(func() {
			for off := int64(0); ; {
				res, err := pull.Pull(ctx, mq, off, 1024)
				if err != nil {
					b.Error(err)
					return
				}
				if res.Status != PullFound {
					return
				}
				got.Add(int64(len(res.Messages)))
				off = res.NextOffset
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if got.Load() != int64(b.N) {
		b.Fatalf("pulled %d of %d", got.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkClientOverhead sends to a fake broker that answers at once, so
// the figure is the SDK's own cost (and the loopback's).
func BenchmarkClientOverhead(b *testing.B) {
	for _, mode := range []string{"sync", "async", "async-batching"} {
		b.Run("mode="+mode+"/size=128", func(b *testing.B) {
			fake := newFakeServer(b, nil)
			c, err := New(WithNameServers(fake.addr()))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			switch mode {
			case "async":
				runPublishers(b, benchProducer(b, c), "Bench", 128, 4)
				return
			case "async-batching":
				runPublishers(b, benchProducer(b, c, WithBatching(time.Millisecond, 128, 256<<10)), "Bench", 128, 4)
				return
			}
			p := benchProducer(b, c)
			msg := NewMessage("Bench", make([]byte, 128))
			ctx := context.Background()
			if _, err := p.SendSync(ctx, msg); err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, b.N)
			b.SetBytes(128)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if _, err := p.SendSync(ctx, msg); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			reportLatency(b, lat)
		})
	}
}
