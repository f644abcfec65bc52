package ha

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cometmq/comet/persist"
)

// BenchmarkCatchUp measures how fast an empty replica on disk copies a
// master's log over loopback (append, checksum, dispatch, sync per chunk
// under sync flush), against the raw rate of writing the same bytes to a
// file with one fsync at the end on the same disk. b.N is the number of
// MiB in the master's log.
func BenchmarkCatchUp(b *testing.B) {
	for _, syncFlush := range []bool{true, false} {
		b.Run(fmt.Sprintf("syncFlush=%v/size=1024", syncFlush), func(b *testing.B) { benchCatchUp(b, syncFlush) })
	}
}

func diskStore(b *testing.B, dir string) *persist.Store {
	b.Helper()
	s, err := persist.Open(persist.Options{Dir: dir, SegmentSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func benchCatchUp(b *testing.B, syncFlush bool) {
	mib := max(b.N, 16)
	master := &lockedStore{s: diskStore(b, b.TempDir())}
	const size = 1024
	perMiB := (1 << 20) / (size + 100)
	for i := 0; i < mib; i++ {
		fillMessages(b, master, i*perMiB, perMiB, size)
	}
	total := master.s.WrittenOffset()
	rawRate := rawWriteRate(b, total)
	replica := &lockedStore{s: diskStore(b, b.TempDir())}
	srv, err := NewServer(ServerOptions{Listen: "127.0.0.1:0", BrokerName: "b", Source: master.s, SegmentSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	srv.SetMaster(0)
	srv.Start()
	defer srv.Close()
	addr := srv.Addr()
	c, err := NewClient(ClientOptions{BrokerName: "b", BrokerID: 1, SegmentSize: 64 << 20, Sink: replica,
		SyncFlush: syncFlush, Master: func() string { return addr }})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	c.Start()
	for replica.DurableOffset() < total {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	c.Stop()
	if replica.WrittenOffset() != total {
		b.Fatalf("replica at %d, master at %d", replica.WrittenOffset(), total)
	}
	rate := float64(total) / elapsed.Seconds() / (1 << 20)
	b.SetBytes(total / int64(b.N))
	b.ReportMetric(rate, "catchup-MiB/s")
	b.ReportMetric(rawRate, "rawdisk-MiB/s")
	b.ReportMetric(rate/rawRate, "catchup/raw")
}

// fillMessages appends n messages of size bytes to the master in one batch.
func fillMessages(b *testing.B, l *lockedStore, first, n, size int) {
	body := make([]byte, size)
	for i := first; i < first+n; i++ {
		m := &persist.Message{Topic: fmt.Sprintf("t%d", i%4), QueueID: int32(i % 8), Body: body,
			BornHost: persist.Host{IP: []byte{127, 0, 0, 1}, Port: 1}}
		if _, err := l.s.Append(m, 1); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := l.s.Publish(); err != nil {
		b.Fatal(err)
	}
}

// rawWriteRate writes total bytes sequentially in 1 MiB writes to a fresh
// file on the test's disk and syncs once: MiB/s.
func rawWriteRate(b *testing.B, total int64) float64 {
	path := filepath.Join(b.TempDir(), "raw")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	start := time.Now()
	for written := int64(0); written < total; written += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	return float64(total) / time.Since(start).Seconds() / (1 << 20)
}
