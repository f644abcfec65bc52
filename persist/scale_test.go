//go:build scale

package persist

import (
	"bufio"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Scale tests: heavy on disk (2 GB and 11 GiB), run one at a time:
//
//	go test -tags scale -run ScaleConsumeQueue -v -timeout 30m ./persist
//	go test -tags scale -run ScaleRecovery -v -timeout 30m ./persist

// memSnapshot is the process's Go heap and resident set after a GC.
type memSnapshot struct {
	heap, rssAnon, rssFile uint64
}

func (m memSnapshot) String() string {
	return fmt.Sprintf("heap %.1f MiB, RssAnon %.1f MiB, RssFile %.1f MiB",
		float64(m.heap)/(1<<20), float64(m.rssAnon)/(1<<20), float64(m.rssFile)/(1<<20))
}

func snapshotMem(t *testing.T) memSnapshot {
	t.Helper()
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := memSnapshot{heap: ms.HeapAlloc}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "RssAnon":
			s.rssAnon = kb << 10
		case "RssFile":
			s.rssFile = kb << 10
		}
	}
	return s
}

// TestScaleConsumeQueue100M fills one consume queue with 100M entries
// (2 GB of files) and requires the Go heap and the anonymous resident set
// to stay flat from 1M to 100M entries: entries live in mapped files, whose
// pages are page cache (RssFile), reclaimable and bounded by nothing the
// process allocates. It then reports random lookup latency by queue offset
// with the pages mapped, on first touch after reopening (minor faults) and
// with the page cache dropped (reads from disk).
func TestScaleConsumeQueue100M(t *testing.T) {
	const total, entriesPerFile = 100_000_000, 300_000
	root := t.TempDir()
	q := newConsumeQueue(OSFS{}, root, "Scale", 0, entriesPerFile, &retirer{})
	var at1M memSnapshot
	start := time.Now()
	for off := int64(0); off < total; off++ {
		if err := q.put(off, CQEntry{CommitLogOffset: off * 100, Size: 100, TagsCode: off}); err != nil {
			t.Fatal(err)
		}
		if off+1 == 1_000_000 {
			at1M = snapshotMem(t)
		}
	}
	took := time.Since(start)
	at100M := snapshotMem(t)
	t.Logf("wrote %d entries in %v (%.1f M entries/s)", total, took, total/took.Seconds()/1e6)
	t.Logf("at   1M entries: %v", at1M)
	t.Logf("at 100M entries: %v", at100M)
	if grow := int64(at100M.heap) - int64(at1M.heap); grow > 4<<20 {
		t.Errorf("heap grew %d bytes from 1M to 100M entries", grow)
	}
	if grow := int64(at100M.rssAnon) - int64(at1M.rssAnon); grow > 16<<20 {
		t.Errorf("anonymous RSS grew %d bytes from 1M to 100M entries", grow)
	}
	t.Logf("random lookup, pages mapped: %s", seekLatency(t, q, total, 1_000_000))
	if err := q.flush(); err != nil {
		t.Fatal(err)
	}
	q = reopenQueue(t, q, root, entriesPerFile, false)
	t.Logf("after reopen: %v", snapshotMem(t))
	t.Logf("random lookup, first touch after reopen: %s", seekLatency(t, q, total, 200_000))
	q = reopenQueue(t, q, root, entriesPerFile, true)
	t.Logf("random lookup, page cache dropped: %s", seekLatency(t, q, total, 20_000))
	t.Logf("end: %v", snapshotMem(t))
	q.close()
}

func reopenQueue(t *testing.T, q *ConsumeQueue, root string, entriesPerFile int64, dropCache bool) *ConsumeQueue {
	t.Helper()
	paths := make([]string, 0, len(q.segs.Load().segs))
	for _, s := range q.segs.Load().segs {
		paths = append(paths, s.path)
	}
	if err := q.close(); err != nil {
		t.Fatal(err)
	}
	if dropCache {
		writeBack(t, paths, true)
	}
	q = newConsumeQueue(OSFS{}, root, "Scale", 0, entriesPerFile, &retirer{})
	if _, err := q.load(); err != nil {
		t.Fatal(err)
	}
	return q
}

// writeBack writes back the files' dirty pages and, with evict, drops
// their cached pages so the next reads come from the disk.
func writeBack(t *testing.T, paths []string, evict bool) {
	t.Helper()
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			t.Fatal(err)
		}
		if evict {
			if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
	}
}

// seekLatency looks up n random queue offsets, checks each entry and
// returns the latency percentiles (timer overhead included; it is reported
// alongside).
func seekLatency(t *testing.T, q *ConsumeQueue, total int64, n int) string {
	t.Helper()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	lat := make([]time.Duration, n)
	timer := make([]time.Duration, n)
	for i := range lat {
		off := rng.Int63n(total)
		start := time.Now()
		e, ok := q.Entry(off)
		lat[i] = time.Since(start)
		if !ok || e.CommitLogOffset != off*100 || e.TagsCode != off {
			t.Fatalf("entry %d: %+v ok=%v", off, e, ok)
		}
		start = time.Now()
		timer[i] = time.Since(start)
	}
	slices.Sort(lat)
	slices.Sort(timer)
	pct := func(d []time.Duration, p int) time.Duration { return d[len(d)*p/100] }
	return fmt.Sprintf("%d lookups: p50 %v p99 %v max %v (timer alone p50 %v)",
		n, pct(lat, 50), pct(lat, 99), lat[len(lat)-1], pct(timer, 50))
}

// TestScaleRecovery10GiB writes a 10 GiB commit log of 1 MiB records,
// abandons the store as kill -9 would with the checkpoint still at the log
// start, and times Open: the recovery scan checks every record's CRC. It
// runs three times: with the log written back but still in the page cache,
// with the page cache dropped (the scan reads the disk), and once more
// after a checkpoint at the log end (the common case: the flusher
// checkpoints every second).
func TestScaleRecovery10GiB(t *testing.T) {
	const logBytes, bodySize = 10 << 30, 1 << 20
	dir := t.TempDir()
	opts := Options{Dir: dir, QueueFlushInterval: time.Hour, RetentionAge: -1}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	bm := newBenchMessage(bodySize, true)
	ts := time.Now().UnixMilli()
	start := time.Now()
	n := 0
	for ; s.WritePosition() < logBytes; n++ {
		if _, err := s.Append(bm.next(n), ts); err != nil {
			t.Fatal(err)
		}
		if n%16 == 15 {
			if _, err := s.Publish(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s.Publish(); err != nil {
		t.Fatal(err)
	}
	end := s.WritePosition()
	t.Logf("wrote %d records, %.2f GiB, in %v", n, float64(end)/(1<<30), time.Since(start))
	waitIndexed(t, s) // so the checkpoint written by the last recovery can reach the log end
	abandon(s)
	ckpt, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cold := range []bool{false, true} {
		if err := os.WriteFile(filepath.Join(dir, "checkpoint"), ckpt, 0o644); err != nil {
			t.Fatal(err)
		}
		segs, _ := filepath.Glob(filepath.Join(dir, "commitlog", "*"))
		writeBack(t, segs, cold)
		rep := timeRecovery(t, opts, n, end)
		t.Logf("cache dropped=%v: %s", cold, rep)
	}
	t.Logf("after a checkpoint at the log end: %s", timeRecovery(t, opts, 0, end))
}

// timeRecovery opens the store, checks what recovery found, abandons the
// store again and describes the recovery.
func timeRecovery(t *testing.T, opts Options, wantRecords int, wantEnd int64) string {
	t.Helper()
	start := time.Now()
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	rep := s.Recovery()
	if rep.Clean || rep.LogEnd != wantEnd || rep.CutBytes != 0 || rep.RecordsScanned != int64(wantRecords) {
		t.Fatalf("recovery %+v, want end %d and %d records scanned", rep, wantEnd, wantRecords)
	}
	abandon(s)
	scanned := float64(wantEnd - rep.ScanFrom)
	return fmt.Sprintf("Open %v (scan %v), scanned %.2f GiB from %d, %.2f GB/s, %d records",
		took, rep.Duration, scanned/(1<<30), rep.ScanFrom, scanned/1e9/took.Seconds(), rep.RecordsScanned)
}
