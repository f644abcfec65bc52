package actors

import (
	"strconv"
	"testing"

	"github.com/cometmq/comet/persist"
)

// BenchmarkCountPublished measures the metrics work the writer goroutine
// does per published batch of 64 messages of one topic.
func BenchmarkCountPublished(b *testing.B) {
	for _, topics := range []int{1, 1000} {
		b.Run("topics="+strconv.Itoa(topics), func(b *testing.B) {
			m := newBrokerMetrics()
			batches := make([][]persist.Dispatched, topics)
			for i := range batches {
				batches[i] = make([]persist.Dispatched, 64)
				for j := range batches[i] {
					batches[i][j] = persist.Dispatched{Topic: "T" + strconv.Itoa(i), Size: 256}
				}
			}
			b.ReportAllocs()
			b.SetBytes(64 * 256)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m.countPublished(batches[i%topics])
			}
			b.StopTimer()
			var total int64
			for _, c := range *m.topics.Load() {
				total += c.putMessages.Load()
			}
			if total != 64*int64(b.N) {
				b.Fatalf("counted %d of %d", total, 64*b.N)
			}
		})
	}
}
