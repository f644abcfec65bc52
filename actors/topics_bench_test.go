package actors

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/cometmq/comet/persist"
)

// prefillTopics adds n topics in large batches.
func prefillTopics(b *testing.B, tt *topicTable, n int) {
	b.Helper()
	for done := 0; done < n; {
		batch := make([]topicChange, 0, min(10_000, n-done))
		for len(batch) < cap(batch) {
			batch = append(batch, putTopic(fmt.Sprintf("Existing%07d", done), 8))
			done++
		}
		if _, err := tt.apply(batch...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTopicCreate measures creating topics one after the other, each
// waiting until it is durable (one append and one sync), on the real file
// system, next to 1k, 13k and 100k existing topics: the rate must not
// depend on how many topics exist. creators=64 runs 64 creators at once,
// whose changes share syncs.
func BenchmarkTopicCreate(b *testing.B) {
	for _, existing := range []int{1_000, 13_000, 100_000} {
		for _, creators := range []int{1, 64} {
			b.Run(fmt.Sprintf("existing=%d/creators=%d", existing, creators), func(b *testing.B) {
				tt, err := loadTopicTable(persist.OSFS{}, b.TempDir(), slog.New(slog.DiscardHandler))
				if err != nil {
					b.Fatal(err)
				}
				defer tt.close()
				prefillTopics(b, tt, existing)
				b.ReportAllocs()
				b.ResetTimer()
				var wg sync.WaitGroup
				for c := range creators {
					wg.Go(func() {
						for i := c; i < b.N; i += creators {
							if _, err := tt.apply(putTopic(fmt.Sprintf("New%07d", i), 8)); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
				if tt.len() != existing+b.N {
					b.Fatalf("table holds %d topics, want %d", tt.len(), existing+b.N)
				}
			})
		}
	}
}

// BenchmarkTopicCompact measures writing the snapshot of n topics, the
// cost the log's compaction adds once per (snapshot bytes / record bytes)
// changes.
func BenchmarkTopicCompact(b *testing.B) {
	for _, n := range []int{1_000, 13_000, 100_000} {
		b.Run(fmt.Sprintf("topics=%d", n), func(b *testing.B) {
			tt, err := loadTopicTable(persist.OSFS{}, b.TempDir(), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer tt.close()
			prefillTopics(b, tt, n)
			tt.requests.Close()
			<-tt.stopped
			b.ResetTimer()
			for b.Loop() {
				if err := tt.store.compact(tt.snapshot()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(tt.store.snapshotBytes), "snapshot-bytes")
		})
	}
}
