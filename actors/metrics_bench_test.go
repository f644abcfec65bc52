package actors

import (
	"strconv"
	"testing"

	"github.com/cometmq/comet/persist"
)

// BenchmarkCountAppend measures the metrics work the writer goroutine does
// per completed append request.
func BenchmarkCountAppend(b *testing.B) {
	for _, topics := range []int{1, 1000} {
		b.Run("topics="+strconv.Itoa(topics), func(b *testing.B) {
			m := newBrokerMetrics()
			reqs := make([]*AppendRequest, topics)
			for i := range reqs {
				reqs[i] = &AppendRequest{Messages: []persist.Message{{Topic: "T" + strconv.Itoa(i)}},
					Results: []persist.AppendResult{{Size: 256}}}
			}
			b.ReportAllocs()
			b.SetBytes(256)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m.countAppend(reqs[i%topics])
			}
			b.StopTimer()
			var total int64
			for _, c := range *m.topics.Load() {
				total += c.putMessages.Load()
			}
			if total != int64(b.N) {
				b.Fatalf("counted %d of %d", total, b.N)
			}
		})
	}
}
