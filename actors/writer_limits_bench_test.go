package actors

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cometmq/comet/persist"
)

// BenchmarkWriterVsLimit drives the writer from concurrent producers, each
// keeping one request in flight (like synchronous senders), and reports
// the ratio to the machine's limit measured in the same run: for async
// flush, copy() of the same records into fresh mapped segments; for sync
// flush, 256 KiB WriteAt + fdatasync on a preallocated file in the same
// directory.
//
//	go test -run XXX -bench WriterVsLimit -benchtime 2s ./actors
func BenchmarkWriterVsLimit(b *testing.B) {
	for _, producers := range []int{1, 8} {
		for _, size := range []int{128, 1024, 4096} {
			b.Run(fmt.Sprintf("flush=async/producers=%d/size=%d", producers, size), func(b *testing.B) {
				benchWriterVsLimit(b, FlushAsync, producers, size)
			})
		}
	}
	for _, producers := range []int{64, 512} {
		for _, size := range []int{128, 1024} {
			b.Run(fmt.Sprintf("flush=sync/producers=%d/size=%d", producers, size), func(b *testing.B) {
				benchWriterVsLimit(b, FlushSync, producers, size)
			})
		}
	}
}

// limitMessage is a message as the official client sends one: TAGS, WAIT
// and a UNIQ_KEY, which the key index indexes.
func limitMessage(p, i int, body []byte) persist.Message {
	props := fmt.Appendf(nil, "WAIT\x01true\x02TAGS\x01TagA\x02UNIQ_KEY\x01AC11000100002A9F%08X%08X", p, i)
	return persist.Message{Topic: "bench", QueueID: int32(p % 8), Body: body, Properties: props,
		BornHost: persist.Host{IP: []byte{127, 0, 0, 1}, Port: 50000}}
}

func benchWriterVsLimit(b *testing.B, mode FlushMode, producers, size int) {
	dir := b.TempDir()
	store, err := persist.Open(persist.Options{Dir: filepath.Join(dir, "store")})
	if err != nil {
		b.Fatal(err)
	}
	w := NewWriter(store, WriterOptions{Flush: mode})
	w.Start()
	body := make([]byte, size)
	per := b.N/producers + 1
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			done := make(chanCompletion, 1)
			req := &AppendRequest{Messages: []persist.Message{limitMessage(p, 0, body)}, Done: done}
			for i := 0; i < per; i++ {
				req.Messages[0] = limitMessage(p, i, body)
				for w.Submit(req) != nil {
					time.Sleep(10 * time.Microsecond)
				}
				<-done
				if req.Err != nil {
					b.Error(req.Err)
					return
				}
			}
		}(p)
	}
	wg.Wait()
	b.StopTimer()
	elapsed := b.Elapsed().Seconds()
	st := w.Stats()
	msgs := st.Messages.Load()
	if msgs != int64(per*producers) {
		b.Fatalf("%d of %d messages acknowledged", msgs, per*producers)
	}
	if err := w.Stop(b.Context()); err != nil {
		b.Fatal(err)
	}
	recSize := persist.RecordSize(&persist.Message{Topic: "bench", Body: body,
		Properties: limitMessage(0, 0, body).Properties, BornHost: persist.Host{IP: make([]byte, 4)}},
		persist.Host{IP: make([]byte, 4)})
	if err := store.Close(); err != nil {
		b.Fatal(err)
	}
	os.RemoveAll(filepath.Join(dir, "store"))
	mbps := float64(msgs) * float64(recSize) / 1e6 / elapsed
	b.ReportMetric(float64(msgs)/elapsed, "msgs/s")
	b.ReportMetric(mbps, "rec_MB/s")
	if mode == FlushSync {
		syncs := st.Syncs.Load()
		limit := fdatasyncMBps(b, filepath.Join(dir, "raw"))
		b.ReportMetric(float64(syncs)/elapsed, "fsyncs/s")
		b.ReportMetric(float64(msgs)/float64(max(syncs, 1)), "msgs/fsync")
		b.ReportMetric(limit, "fdatasync_MB/s")
		b.ReportMetric(mbps/limit, "ratio_vs_fdatasync")
		return
	}
	limit := copyMBps(b, filepath.Join(dir, "copy"), recSize, int(msgs))
	b.ReportMetric(limit, "copy_MB/s")
	b.ReportMetric(mbps/limit, "ratio_vs_copy")
}

// copyMBps copies n records of recSize bytes into fresh 1 GiB mapped
// segments (fallocate, then mmap, as the commit log makes them) and
// returns MB/s.
func copyMBps(b *testing.B, dir string, recSize, n int) float64 {
	b.Helper()
	const segSize = 1 << 30
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	record := make([]byte, recSize)
	start := time.Now()
	var data []byte
	var maps [][]byte
	pos := 0
	for i := 0; i < n; i++ {
		if data == nil || pos+recSize+8 > segSize {
			data = mapNewFile(b, filepath.Join(dir, fmt.Sprintf("%020d", len(maps)*segSize)), segSize)
			maps = append(maps, data)
			pos = 0
		}
		copy(data[pos:], record)
		pos += recSize
	}
	took := time.Since(start)
	for _, m := range maps {
		unix.Munmap(m)
	}
	return float64(n) * float64(recSize) / 1e6 / took.Seconds()
}

func mapNewFile(b *testing.B, path string, size int) []byte {
	b.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), 0, 0, int64(size)); err != nil {
		b.Fatal(err)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// fdatasyncMBps measures sequential 256 KiB WriteAt + fdatasync on a
// preallocated file for at least 300 ms and returns MB/s.
func fdatasyncMBps(b *testing.B, path string) float64 {
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
