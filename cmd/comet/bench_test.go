package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/internal/cluster"
)

// BenchmarkSendSync measures the official client's SendSync against an
// in-process broker, with sync flush (every SEND_OK is on disk) and with
// async flush (RocketMQ's default): senders goroutines share one
// producer, each with one send in flight. RocketMQ 4.9.8 on the same kind
// of machine: 2,940 / 7,166 / 9,873 msgs/s at 128 B with 1 / 8 / 32
// senders (p99 0.86 / 12.3 / 18.4 ms).
//
//	go test -run XXX -bench SendSync -benchtime 20000x ./cmd/comet
func BenchmarkSendSync(b *testing.B) {
	rlog.SetLogLevel("error")
	for _, flush := range []actors.FlushMode{actors.FlushSync, actors.FlushAsync} {
		for _, size := range []int{128, 1024} {
			for _, senders := range []int{1, 8, 32} {
				b.Run(fmt.Sprintf("flush=%s/size=%d/senders=%d", flush, size, senders), func(b *testing.B) {
					benchSendSync(b, flush, senders, size)
				})
			}
		}
	}
}

func benchSendSync(b *testing.B, flush actors.FlushMode, senders, size int) {
	env := cluster.StartTest(b, func(o *actors.BrokerOptions) {
		o.SegmentSize = 0 // the production default
		o.Flush = flush
	})
	topic := fmt.Sprintf("Bench%d", size)
	ws := env.Broker.Writer().Stats()
	syncs0, syncNanos0, inline0 := ws.Syncs.Load(), ws.SyncNanos.Load(), ws.Inline.Load()
	sent := runSenders(b, env.NamesrvAddr, topic, senders, size)
	if syncs := ws.Syncs.Load() - syncs0; syncs > 0 {
		b.ReportMetric(float64(sent)/float64(syncs), "msgs/fsync")
		b.ReportMetric(float64(ws.SyncNanos.Load()-syncNanos0)/float64(syncs)/1e6, "fsync_ms")
	}
	if flush == actors.FlushAsync {
		b.ReportMetric(100*float64(ws.Inline.Load()-inline0)/float64(sent), "%inline")
	}
	if got := storedMessages(env.Broker, topic); got != int64(sent)+1 {
		b.Fatalf("broker stored %d messages of %s, want %d", got, topic, sent+1)
	}
}

// runSenders sends b.N messages of size bytes to topic from senders
// goroutines sharing one official-client producer, each with one send in
// flight, and reports msgs/s and p50/p99 latency. It returns how many
// messages were acknowledged in the timed part (one more went first, to
// create the topic and fetch the route).
func runSenders(b *testing.B, nsAddr, topic string, senders, size int, opts ...producer.Option) int {
	p := benchProducer(b, nsAddr, opts...)
	body := make([]byte, size)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	if err := sendOne(p, topic, body); err != nil { // creates the topic and the route
		b.Fatal(err)
	}
	per := b.N/senders + 1
	lat := make([][]time.Duration, senders)
	errs := make(chan error, senders)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		lat[s] = make([]time.Duration, 0, per)
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				start := time.Now()
				if err := sendOne(p, topic, body); err != nil {
					errs <- err
					return
				}
				lat[s] = append(lat[s], time.Since(start))
			}
		}(s)
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	sent := len(all)
	b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(all[sent/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(all[sent*99/100].Microseconds())/1000, "p99_ms")
	return sent
}

func benchProducer(b *testing.B, nsAddr string, opts ...producer.Option) rocketmq.Producer {
	b.Helper()
	p, err := rocketmq.NewProducer(append([]producer.Option{producer.WithNameServer([]string{nsAddr}),
		producer.WithGroupName(uniqueName("bench")), producer.WithRetry(0),
		producer.WithSendMsgTimeout(10 * time.Second)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Shutdown() })
	return p
}

func sendOne(p rocketmq.Producer, topic string, body []byte) error {
	res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, body))
	if err != nil {
		return err
	}
	if res.Status != primitive.SendOK {
		return fmt.Errorf("send status %d", res.Status)
	}
	return nil
}

// storedMessages counts the messages of topic in the broker's queues.
func storedMessages(b *actors.Broker, topic string) int64 {
	var n int64
	for _, q := range b.Store().Queues() {
		if q.Topic() == topic {
			n += q.MaxOffset() - q.MinOffset()
		}
	}
	return n
}
