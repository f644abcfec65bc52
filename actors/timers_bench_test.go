package actors

import (
	"context"
	"flag"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
)

var timerPending = flag.Int("timer-pending", 1_000_000, "timers pending (due in an hour) while BenchmarkTimers runs")

// scheduleTimers stores n timer messages through the writer in batches of
// 512 (async flush), due at dueMs, and returns when all are stored.
func scheduleTimers(tb testing.TB, b *Broker, topic string, n int, dueMs int64) {
	tb.Helper()
	if _, _, err := b.topics.ensure(newTopicConfig(topic, 1, remoting.PermRead|remoting.PermWrite)); err != nil {
		tb.Fatal(err)
	}
	props := remoting.AppendProperty(nil, remoting.PropertyTimerDeliverMS, strconv.FormatInt(dueMs, 10))
	body := make([]byte, 128)
	var wg sync.WaitGroup
	for start := 0; start < n; start += 512 {
		req := &AppendRequest{}
		done := make(chan struct{})
		req.Done = completionFunc(func(*AppendRequest) { close(done) })
		now := time.Now().UnixMilli()
		for i := start; i < min(start+512, n); i++ {
			m := persist.Message{Topic: topic, BornTimestamp: now, BornHost: b.storeHost, Body: body, Properties: props}
			if ok, err := b.timers.prepare(&m, now); !ok || err != nil {
				tb.Fatalf("prepare: %v %v", ok, err)
			}
			req.Messages = append(req.Messages, m)
		}
		for b.writer.Submit(req) != nil {
			runtime.Gosched()
		}
		wg.Add(1)
		go func() { <-done; wg.Done() }()
	}
	wg.Wait()
}

type completionFunc func(*AppendRequest)

func (f completionFunc) Complete(r *AppendRequest) { f(r) }

// BenchmarkTimers measures the timer ladder with -timer-pending timers
// waiting: schedule throughput, then delivery of b.N timers due at the same
// instant (deliveries/s and lateness percentiles of their store times).
func BenchmarkTimers(b *testing.B) {
	br := startTestBroker(b, b.TempDir(), func(o *BrokerOptions) { o.Flush = FlushAsync; o.SegmentSize = 1 << 30 })
	defer br.Stop(context.Background())
	scheduleTimers(b, br, "FarFuture", *timerPending, time.Now().Add(time.Hour).UnixMilli())
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heapMiB := float64(ms.HeapAlloc) / (1 << 20)
	b.Run("op=schedule", func(b *testing.B) {
		b.ReportMetric(heapMiB, "live_heap_MiB_with_pending")
		b.ReportAllocs()
		start := time.Now()
		scheduleTimers(b, br, "Scheduled", b.N, time.Now().Add(time.Hour).UnixMilli())
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "schedules/s")
	})
	b.Run("op=deliver", func(b *testing.B) {
		topic := "Due" + strconv.Itoa(b.N)
		due := time.Now().Add(2 * time.Second)
		scheduleTimers(b, br, topic, b.N, due.UnixMilli())
		if time.Now().After(due) {
			b.Skip("scheduling took longer than the 2 s lead")
		}
		b.ResetTimer()
		deadline := time.Now().Add(5 * time.Minute)
		for q := br.store.ConsumeQueue(topic, 0); q == nil || q.MaxOffset() < int64(b.N); q = br.store.ConsumeQueue(topic, 0) {
			if time.Now().After(deadline) {
				st := br.TimerStats()
				b.Fatalf("timed out: delivered %d hops %d busy %d backlog %d", st.Delivered.Load(), st.Hops.Load(), st.Busy.Load(), br.TimerBacklog())
			}
			time.Sleep(5 * time.Millisecond)
		}
		elapsed := time.Since(due)
		b.StopTimer()
		late := deliveryLateness(b, br, topic, due.UnixMilli())
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
		b.ReportMetric(float64(late[len(late)/2]), "late_p50_ms")
		b.ReportMetric(float64(late[len(late)*99/100]), "late_p99_ms")
		b.ReportMetric(float64(late[0]), "late_min_ms")
	})
}

// deliveryLateness returns the sorted store-time lateness (ms) of every
// message delivered to topic.
func deliveryLateness(tb testing.TB, b *Broker, topic string, dueMs int64) []int64 {
	q := b.store.ConsumeQueue(topic, 0)
	out := make([]int64, 0, q.MaxOffset())
	for off := q.MinOffset(); off < q.MaxOffset(); off++ {
		e, _ := q.Entry(off)
		rv, err := b.store.RecordAt(e.CommitLogOffset)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, rv.StoreTimestamp()-dueMs)
	}
	slices.Sort(out)
	return out
}

// BenchmarkRedelivery measures CONSUMER_SEND_MSG_BACK over the wire: each
// op moves one stored message to the retry ladder.
func BenchmarkRedelivery(b *testing.B) {
	br := startTestBroker(b, b.TempDir(), func(o *BrokerOptions) { o.Flush = FlushAsync })
	defer br.Stop(context.Background())
	c := remoting.NewClient(remoting.ClientOptions{})
	defer c.Close()
	resp := sendRaw(b, c, br.Addr(), "RedeliverT", string(make([]byte, 128)), "")
	id, _ := resp.ExtString("msgId")
	_, _, phys, err := remoting.ParseOffsetMsgID(id)
	if err != nil {
		b.Fatal(err)
	}
	const senders = 16
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := s; i < b.N; i += senders {
				req := remoting.NewRequest(remoting.RequestConsumerSendMsgBack)
				req.Ext.Set("group", "bench-group")
				req.Ext.Set("offset", strconv.FormatInt(phys, 10))
				req.Ext.Set("delayLevel", "0")
				req.Ext.Set("maxReconsumeTimes", "16")
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				r, err := c.Invoke(ctx, br.Addr(), req)
				cancel()
				if err != nil || r.Code != remoting.ResponseSuccess {
					b.Errorf("send-back: %v %v", err, r)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sendbacks/s")
}
