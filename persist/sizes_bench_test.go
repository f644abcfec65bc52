package persist

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkStoreSizes compares the store with the small files of a fresh
// try-out broker (64 MiB segments, key-index files of 1 Mi entries) and
// the large ones (1 GiB, 16 Mi) on the same appends, in one run: more
// segment rolls and index files against less disk taken up front.
//
//	go test -run XXX -bench StoreSizes -benchtime 400000x -count 3 ./persist
func BenchmarkStoreSizes(b *testing.B) {
	for _, sz := range []struct {
		name         string
		segment      int64
		indexEntries int
	}{{"small", 64 << 20, 1 << 20}, {"large", 1 << 30, 16 << 20}} {
		for _, mode := range []string{"sync", "async"} {
			b.Run(fmt.Sprintf("files=%s/flush=%s", sz.name, mode), func(b *testing.B) {
				opts := Options{Dir: filepath.Join(b.TempDir(), "store"), SegmentSize: sz.segment,
					IndexEntriesPerFile: sz.indexEntries, IndexSlotsPerFile: sz.indexEntries / 4}
				benchSizes(b, opts, mode == "sync")
			})
		}
	}
}

// benchSizes appends 1 KiB messages with unique keys in batches of 64,
// each batch synced (sync) or published only (async).
func benchSizes(b *testing.B, opts Options, sync bool) {
	s := benchStoreWith(b, opts)
	bm := newBenchMessage(1024, true)
	ts := time.Now().UnixMilli()
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		for end := min(i+64, b.N); i < end; i++ {
			if _, err := s.Append(bm.next(i), ts); err != nil {
				b.Fatal(err)
			}
		}
		if sync {
			if err := s.Sync(); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := s.Publish(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	elapsed := b.Elapsed()
	reportIndexLag(b, s, elapsed)
	if got := s.Stats().Appends; got != int64(b.N) {
		b.Fatalf("%d appends counted, want %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	closeAndRemove(b, s, opts.Dir)
}
