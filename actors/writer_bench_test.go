package actors

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cometmq/comet/persist"
)

type chanCompletion chan struct{}

func (c chanCompletion) Complete(*AppendRequest) { c <- struct{}{} }

// BenchmarkWriter measures acknowledged appends through the ring and the
// single writer on the real file system: producers each keep one request
// in flight (like synchronous senders).
func BenchmarkWriter(b *testing.B) {
	for _, mode := range []FlushMode{FlushSync, FlushAsync} {
		for _, producers := range []int{1, 64, 512} {
			for _, size := range []int{128, 1024} {
				name := fmt.Sprintf("flush=%s/producers=%d/size=%d", mode, producers, size)
				b.Run(name, func(b *testing.B) { benchWriter(b, mode, producers, size) })
			}
		}
	}
}

func benchWriter(b *testing.B, mode FlushMode, producers, size int) {
	store, err := persist.Open(persist.Options{Dir: b.TempDir(), SegmentSize: 256 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	w := NewWriter(store, WriterOptions{Flush: mode})
	w.Start()
	defer w.Stop(b.Context())
	body := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var wg sync.WaitGroup
	per := b.N/producers + 1
	start := time.Now()
	b.ResetTimer()
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			done := make(chanCompletion, 1)
			req := &AppendRequest{Messages: []persist.Message{{Topic: "bench", QueueID: int32(p % 8), Body: body}}, Done: done}
			for i := 0; i < per; i++ {
				for w.Submit(req) != nil {
					time.Sleep(10 * time.Microsecond)
				}
				<-done
			}
		}(p)
	}
	wg.Wait()
	b.StopTimer()
	el := time.Since(start).Seconds()
	st := w.Stats()
	msgs := float64(st.Messages.Load())
	b.ReportMetric(msgs/el, "msgs/s")
	if syncs := st.Syncs.Load(); syncs > 0 {
		b.ReportMetric(msgs/float64(syncs), "msgs/sync")
		b.ReportMetric(float64(syncs)/el, "syncs/s")
	}
	if int(msgs) < per*producers {
		b.Fatalf("only %v of %d messages acknowledged", msgs, per*producers)
	}
}
