package persist

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Benchmarks of the store against the limits of the machine, each limit
// measured in the same run: async appends against a plain copy() of the
// same record bytes into mapped segments of the same size, sync appends
// against 256 KiB WriteAt + fdatasync on a preallocated file in the same
// directory.
//
//	go test -run XXX -bench 'Append' -benchtime 2s ./persist

// benchMessage is a message as the broker stores one from the official
// client: TAGS, WAIT and a 32-hex-digit UNIQ_KEY (indexed by the key
// index), different for every message. Without uniqKey the property is
// renamed, so nothing is indexed (the cost of the append path alone).
type benchMessage struct {
	m      Message
	uniqAt int // offset of the varying half of the key in m.Properties
}

func newBenchMessage(bodySize int, uniqKey bool) *benchMessage {
	name := "UNIQ_KEY"
	if !uniqKey {
		name = "NOTINDEX"
	}
	props := []byte("WAIT\x01true\x02TAGS\x01TagA\x02" + name + "\x01AC11000100002A9F0000000000000000")
	bm := &benchMessage{
		m: Message{Topic: "BenchTopic", Body: make([]byte, bodySize), Properties: props,
			BornTimestamp: time.Now().UnixMilli(), BornHost: Host{IP: []byte{127, 0, 0, 1}, Port: 50000}},
		uniqAt: len(props) - 16,
	}
	for i := range bm.m.Body {
		bm.m.Body[i] = byte('a' + i%26)
	}
	return bm
}

const hexDigits = "0123456789ABCDEF"

// next returns the message for sequence number i: its own UNIQ_KEY and one
// of 8 queues.
func (bm *benchMessage) next(i int) *Message {
	key := bm.m.Properties[bm.uniqAt:]
	for d := 15; d >= 0; d-- {
		key[d] = hexDigits[i&0xF]
		i >>= 4
	}
	bm.m.QueueID = int32(key[15] & 7)
	return &bm.m
}

func benchStore(b *testing.B, dir string) *Store {
	return benchStoreWith(b, Options{Dir: dir})
}

func benchStoreWith(b *testing.B, opts Options) *Store {
	b.Helper()
	s, err := Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// closeAndRemove closes the store and deletes its files, so dirty pages of
// one run are dropped rather than written back during the next.
func closeAndRemove(b *testing.B, s *Store, dir string) {
	b.Helper()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAppendAsync appends from one writer with no sync (async flush):
// Append per message and Publish per batch, as the writer does, with
// records copied into the mapping (MappedWrites) or written with pwrite
// (the default). The limit
// is copy() of the same encoded records into fresh mapped segments of the
// same size.
func BenchmarkAppendAsync(b *testing.B) {
	for _, size := range []int{128, 1024, 4096} {
		for _, batch := range []int{1, 256} {
			for _, uniq := range []bool{true, false} {
				for _, mapped := range []bool{true, false} {
					name := fmt.Sprintf("size=%d/batch=%d/uniqkey=%v/mapped=%v", size, batch, uniq, mapped)
					b.Run(name, func(b *testing.B) { benchAppendAsync(b, size, batch, uniq, mapped) })
				}
			}
		}
	}
}

func benchAppendAsync(b *testing.B, size, batch int, uniqKey, mapped bool) {
	dir := b.TempDir()
	s := benchStoreWith(b, Options{Dir: filepath.Join(dir, "store"), MappedWrites: mapped})
	bm := newBenchMessage(size, uniqKey)
	ts := time.Now().UnixMilli()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Append(bm.next(i), ts); err != nil {
			b.Fatal(err)
		}
		if (i+1)%batch == 0 {
			if _, err := s.Publish(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := s.Publish(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	elapsed := b.Elapsed()
	reportIndexLag(b, s, elapsed)
	record := firstRecord(b, s)
	if got := s.Stats().Appends; got != int64(b.N) {
		b.Fatalf("%d appends counted, want %d", got, b.N)
	}
	segSize := s.opts.SegmentSize
	closeAndRemove(b, s, filepath.Join(dir, "store"))
	limit := copyLimit(b, filepath.Join(dir, "copy"), segSize, record, b.N)
	reportRatio(b, elapsed, limit, b.N, len(record), "copy")
}

// reportIndexLag reports how far the background key indexer was behind
// when the timer stopped, how long it then took to catch up, and the
// message rate counting that time (appended and indexed).
func reportIndexLag(b *testing.B, s *Store, elapsed time.Duration) {
	b.Helper()
	lag := s.MaxPhysicalOffset() - s.IndexedOffset()
	start := time.Now()
	if err := s.catchUpIndex(s.MaxPhysicalOffset(), nil); err != nil {
		b.Fatal(err)
	}
	catchUp := time.Since(start)
	b.ReportMetric(float64(lag)/1e6, "index_lag_MB")
	b.ReportMetric(float64(b.N)/(elapsed+catchUp).Seconds(), "indexed_msgs/s")
}

// firstRecord returns a copy of the first record stored.
func firstRecord(b *testing.B, s *Store) []byte {
	b.Helper()
	q := s.ConsumeQueue("BenchTopic", 0)
	if q == nil {
		q = s.Queues()[0]
	}
	e, ok := q.Entry(q.MinOffset())
	if !ok {
		b.Fatal("no record stored")
	}
	raw, err := s.ReadRecord(e.CommitLogOffset, e.Size)
	if err != nil {
		b.Fatal(err)
	}
	return append([]byte(nil), raw...)
}

// copyLimit copies record n times into segSize mapped segments created as
// the commit log creates them (fallocate, then mmap), rolling to a new one
// when the next copy would not leave room for a blank record, and returns
// the time taken.
func copyLimit(b *testing.B, dir string, segSize int64, record []byte, n int) time.Duration {
	b.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	var data []byte
	var pos int64
	var maps [][]byte
	for i := 0; i < n; i++ {
		if data == nil || pos+int64(len(record))+blankRecordSize > segSize {
			data = mapFreshFile(b, filepath.Join(dir, segmentName(int64(len(maps))*segSize)), segSize)
			maps = append(maps, data)
			pos = 0
		}
		copy(data[pos:], record)
		pos += int64(len(record))
	}
	took := time.Since(start)
	for _, m := range maps {
		unix.Munmap(m)
	}
	return took
}

func mapFreshFile(b *testing.B, path string, size int64) []byte {
	b.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		b.Fatal(err)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// reportRatio reports the store's message and record rates and its ratio
// to the limit that moved the same bytes in limitTook.
func reportRatio(b *testing.B, took, limitTook time.Duration, msgs, recordSize int, limitName string) {
	sec := took.Seconds()
	mb := float64(msgs) * float64(recordSize) / 1e6
	b.ReportMetric(float64(msgs)/sec, "msgs/s")
	b.ReportMetric(mb/sec, "rec_MB/s")
	b.ReportMetric(mb/limitTook.Seconds(), limitName+"_MB/s")
	b.ReportMetric(limitTook.Seconds()/sec, "ratio_vs_"+limitName)
}

// BenchmarkAppendSync appends batches of as many messages as there are
// concurrent producers, each batch made durable by one Sync (group commit)
// before Publish. The limit is 256 KiB WriteAt + fdatasync on a
// preallocated file in the same directory, measured in the same run; the
// ratio compares record MB/s to it.
func BenchmarkAppendSync(b *testing.B) {
	for _, producers := range []int{64, 512} {
		for _, size := range []int{128, 1024} {
			b.Run(fmt.Sprintf("producers=%d/size=%d", producers, size), func(b *testing.B) {
				benchAppendSync(b, producers, size)
			})
		}
	}
}

func benchAppendSync(b *testing.B, producers, size int) {
	dir := b.TempDir()
	s := benchStore(b, filepath.Join(dir, "store"))
	bm := newBenchMessage(size, true)
	ts := time.Now().UnixMilli()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		for end := min(i+producers, b.N); i < end; i++ {
			if _, err := s.Append(bm.next(i), ts); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.Sync(); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Publish(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	elapsed := b.Elapsed()
	reportIndexLag(b, s, elapsed)
	st := s.Stats()
	if st.DurableOffset != st.MaxOffset || st.Appends != int64(b.N) {
		b.Fatalf("durable %d of %d, %d appends of %d", st.DurableOffset, st.MaxOffset, st.Appends, b.N)
	}
	record := firstRecord(b, s)
	closeAndRemove(b, s, filepath.Join(dir, "store"))
	rawMBps := fdatasyncLimit(b, filepath.Join(dir, "raw"))
	sec := elapsed.Seconds()
	mbps := float64(b.N) * float64(len(record)) / 1e6 / sec
	b.ReportMetric(float64(b.N)/sec, "msgs/s")
	b.ReportMetric(float64(st.Syncs)/sec, "fsyncs/s")
	b.ReportMetric(float64(b.N)/float64(max(st.Syncs, 1)), "msgs/fsync")
	b.ReportMetric(mbps, "rec_MB/s")
	b.ReportMetric(rawMBps, "fdatasync_MB/s")
	b.ReportMetric(mbps/rawMBps, "ratio_vs_fdatasync")
}

// fdatasyncLimit measures sequential 256 KiB WriteAt + fdatasync on a
// preallocated file for at least 300 ms and returns MB/s.
func fdatasyncLimit(b *testing.B, path string) float64 {
	b.Helper()
	const chunk, fileSize = 256 << 10, 1 << 30
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(path)
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), 0, 0, fileSize); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, chunk)
	for i := range buf {
		buf[i] = byte(i)
	}
	start := time.Now()
	var off int64
	for off < fileSize && (off < 32*chunk || time.Since(start) < 300*time.Millisecond) {
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
		off += chunk
	}
	return float64(off) / 1e6 / time.Since(start).Seconds()
}

// BenchmarkReadRecord measures the read path a pull takes per record: the
// record sliced out of the log and copied into a response body.
// verify=false slices without checks (the read path before checksums were
// verified on read), verify=true is ReadRecord with its structure and body
// CRC checks. The records are spread over 64 MiB so the figure includes
// the cache misses of a backlog.
//
//	go test -run XXX -bench ReadRecord -count 5 ./persist
func BenchmarkReadRecord(b *testing.B) {
	for _, size := range []int{128, 1024, 16 << 10} {
		s := mustOpen(b, Options{Dir: b.TempDir(), SegmentSize: 128 << 20, QueueFlushInterval: time.Hour,
			RetentionInterval: time.Hour, noBackgroundIndexer: true})
		bm := newBenchMessage(size, false)
		var offs []AppendResult
		for written := 0; written < 64<<20; {
			res, err := s.Append(bm.next(len(offs)), 1)
			if err != nil {
				b.Fatal(err)
			}
			offs = append(offs, res)
			written += int(res.Size)
		}
		if _, err := s.Publish(); err != nil {
			b.Fatal(err)
		}
		for _, verify := range []bool{false, true} {
			b.Run(fmt.Sprintf("size=%d/verify=%v", size, verify), func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				var n int
				body := make([]byte, 0, 64<<10)
				for i := 0; b.Loop(); i++ {
					r := offs[i%len(offs)]
					var raw []byte
					var err error
					if verify {
						raw, err = s.ReadRecord(r.PhysicalOffset, r.Size)
					} else {
						raw, err = s.cl.read(r.PhysicalOffset, int(r.Size))
					}
					if err != nil {
						b.Fatal(err)
					}
					body = append(body[:0], raw...)
					n += len(body)
				}
				if n == 0 {
					b.Fatal("nothing read")
				}
			})
		}
		s.Close()
	}
}
