package persist

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitIndexed polls until the background indexer has reached the
// published end of the log.
func waitIndexed(t testing.TB, s *Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.IndexedOffset() < s.MaxPhysicalOffset() {
		if time.Now().After(deadline) {
			t.Fatalf("indexer stuck at %d of %d (stats %+v)", s.IndexedOffset(), s.MaxPhysicalOffset(), s.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// indexHolds reports whether the key index itself (no catch-up) has phys
// for topic and key.
func indexHolds(t testing.TB, s *Store, topic, key string, phys int64) bool {
	t.Helper()
	offs, err := s.index.query(topic, key, 0, 1<<62, 1<<10)
	if err != nil {
		t.Fatalf("index query %s/%s: %v", topic, key, err)
	}
	return slices.Contains(offs, phys)
}

// mustFind asserts that QueryByKey finds the record of w by its KEYS
// entry and by its UNIQ_KEY.
func mustFind(t testing.TB, s *Store, w stored, i int) {
	t.Helper()
	for _, key := range []string{w.keys, fmt.Sprintf("U%d", i)} {
		got, err := s.QueryByKey(w.topic, key, 0, 1<<62, 4)
		if err != nil || len(got) != 1 || got[0].PhysicalOffset() != w.phys {
			t.Fatalf("query %s/%s: %d results, err %v; want the record at %d", w.topic, key, len(got), err, w.phys)
		}
	}
}

func manualIndexing(opts Options) Options {
	opts.noBackgroundIndexer = true
	return opts
}

func TestIndexerCatchesUpAfterPublish(t *testing.T) {
	s := mustOpen(t, testOptions(NewMemFS()))
	defer s.Close()
	rng := rand.New(rand.NewSource(21))
	var want []stored
	for b := 0; b < 8; b++ {
		want = append(want, appendBatch(t, s, rng, b*25, 25)...)
	}
	waitIndexed(t, s)
	for i, w := range want {
		if !indexHolds(t, s, w.topic, w.keys, w.phys) || !indexHolds(t, s, w.topic, fmt.Sprintf("U%d", i), w.phys) {
			t.Fatalf("record %d at %d not indexed in the background", i, w.phys)
		}
	}
	if st := s.Stats(); st.IndexedOffset != st.MaxOffset || st.IndexErrors != 0 || st.IndexSkipped != 0 {
		t.Fatalf("stats after catch-up: %+v", st)
	}
	if segs := len(s.cl.segs.Load().segs); segs < 2 {
		t.Fatalf("indexer never crossed a segment end: %d segment(s)", segs)
	}
}

func TestQueryByKeyRightAfterPublish(t *testing.T) {
	t.Run("indexer=off", func(t *testing.T) {
		s := mustOpen(t, manualIndexing(testOptions(NewMemFS())))
		defer s.Close()
		want := appendBatch(t, s, rand.New(rand.NewSource(22)), 0, 40)
		if s.IndexedOffset() != 0 {
			t.Fatalf("indexed %d without an indexer", s.IndexedOffset())
		}
		for i, w := range want {
			mustFind(t, s, w, i)
		}
		if s.IndexedOffset() != s.MaxPhysicalOffset() {
			t.Fatalf("query left the index at %d of %d", s.IndexedOffset(), s.MaxPhysicalOffset())
		}
	})
	t.Run("indexer=on", func(t *testing.T) {
		s := mustOpen(t, testOptions(NewMemFS()))
		defer s.Close()
		rng := rand.New(rand.NewSource(23))
		for i := 0; i < 300; i++ {
			w := appendBatch(t, s, rng, i, 1)[0]
			mustFind(t, s, w, i)
		}
	})
}

// TestCheckpointDoesNotClaimUnindexedRecords: with the index behind the
// log, the checkpoint stays at the index's position, and after a crash
// recovery resumes indexing there and the index catches up.
func TestCheckpointDoesNotClaimUnindexedRecords(t *testing.T) {
	mem := NewMemFS()
	s := mustOpen(t, manualIndexing(testOptions(mem)))
	rng := rand.New(rand.NewSource(24))
	indexed := appendBatch(t, s, rng, 0, 50)
	if err := s.catchUpIndex(s.MaxPhysicalOffset(), nil); err != nil {
		t.Fatal(err)
	}
	indexedEnd := s.IndexedOffset()
	behind := appendBatch(t, s, rng, 50, 50)
	if err := s.FlushQueues(); err != nil {
		t.Fatal(err)
	}
	if got := s.ckpt.last.dispatched; got != indexedEnd {
		t.Fatalf("checkpoint at %d with the index at %d and the log at %d", got, indexedEnd, s.MaxPhysicalOffset())
	}
	logEnd := s.MaxPhysicalOffset()
	stopBackground(s)
	images := map[string]*MemFS{"machine": mem.Crash(nil), "process": mem.ProcessCrash()}
	abandon(s)
	for name, img := range images {
		t.Run("crash="+name, func(t *testing.T) {
			s := mustOpen(t, testOptions(img))
			defer s.Close()
			rep := s.Recovery()
			if rep.IndexFrom != behind[0].phys || rep.LogEnd != logEnd || rep.PageCacheIntact != (name == "process") {
				t.Fatalf("report %+v; want IndexFrom %d, LogEnd %d", rep, behind[0].phys, logEnd)
			}
			waitIndexed(t, s)
			for i, w := range behind {
				if !indexHolds(t, s, w.topic, w.keys, w.phys) {
					t.Fatalf("record %d at %d not re-indexed", 50+i, w.phys)
				}
			}
			for i, w := range append(indexed, behind...) {
				mustFind(t, s, w, i)
			}
		})
	}
}

// TestRecoverReindexesUnflushedIndexEntries: the index had caught up in
// the page cache but was not flushed when the machine crashed.
func TestRecoverReindexesUnflushedIndexEntries(t *testing.T) {
	mem := NewMemFS()
	s := mustOpen(t, testOptions(mem))
	rng := rand.New(rand.NewSource(25))
	want := appendBatch(t, s, rng, 0, 60)
	waitIndexed(t, s)
	if err := s.FlushQueues(); err != nil {
		t.Fatal(err)
	}
	flushedEnd := s.MaxPhysicalOffset()
	want = append(want, appendBatch(t, s, rng, 60, 40)...)
	waitIndexed(t, s)
	stopBackground(s)
	img := mem.Crash(nil)
	abandon(s)
	s = mustOpen(t, testOptions(img))
	defer s.Close()
	if rep := s.Recovery(); rep.IndexFrom != flushedEnd || rep.ScanFrom != flushedEnd {
		t.Fatalf("report %+v; want the scan and the indexer to resume at %d", rep, flushedEnd)
	}
	waitIndexed(t, s)
	for i, w := range want {
		if !indexHolds(t, s, w.topic, w.keys, w.phys) {
			t.Fatalf("record %d at %d missing from the index", i, w.phys)
		}
		mustFind(t, s, w, i)
	}
}

// TestProcessCrashRepairsOnlyKeyIndexTail: after kill -9 the key index is
// repaired by reading the entries added since its last flush; after a
// machine crash by reading all of them.
func TestProcessCrashRepairsOnlyKeyIndexTail(t *testing.T) {
	mem := NewMemFS()
	opts := testOptions(mem)
	opts.IndexSlotsPerFile, opts.IndexEntriesPerFile = 1<<10, 1<<14
	s := mustOpen(t, opts)
	rng := rand.New(rand.NewSource(26))
	var want []stored
	for b := 0; b < 20; b++ {
		want = append(want, appendBatch(t, s, rng, b*50, 50)...)
	}
	waitIndexed(t, s)
	if err := s.FlushQueues(); err != nil {
		t.Fatal(err)
	}
	const tail = 20
	want = append(want, appendBatch(t, s, rng, 1000, tail)...)
	waitIndexed(t, s)
	stopBackground(s)
	proc, machine := mem.ProcessCrash(), mem.Crash(nil)
	abandon(s)

	opts.FS = proc
	s = mustOpen(t, opts)
	rep := s.Recovery()
	// Three keys per record, plus the zeroed entry that ends the tail.
	if !rep.PageCacheIntact || rep.KeyIndexEntriesRead != 3*tail+1 {
		t.Fatalf("kill -9: report %+v; want %d key-index entries read", rep, 3*tail+1)
	}
	if rep.IndexFrom != rep.LogEnd {
		t.Fatalf("kill -9: the page cache held the whole index, yet indexing resumes at %d of %d", rep.IndexFrom, rep.LogEnd)
	}
	for i := 0; i < len(want); i += 37 {
		mustFind(t, s, want[i], i)
	}
	mustFind(t, s, want[len(want)-1], len(want)-1)
	s.Close()

	opts.FS = machine
	s = mustOpen(t, opts)
	defer s.Close()
	if rep := s.Recovery(); rep.PageCacheIntact || rep.KeyIndexEntriesRead < 3000 {
		t.Fatalf("machine crash: report %+v; want the whole index rescanned", rep)
	}
	for i := 0; i < len(want); i += 37 {
		mustFind(t, s, want[i], i)
	}
}

func TestAbortMarkerFromAnotherBootIsNotTrusted(t *testing.T) {
	mem := NewMemFS()
	s := mustOpen(t, testOptions(mem))
	appendBatch(t, s, rand.New(rand.NewSource(27)), 0, 10)
	stopBackground(s)
	img := mem.ProcessCrash()
	abandon(s)
	f, err := img.OpenFile(filepath.Join(testDir, "abort"), 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("1 other-boot"), 0)
	s = mustOpen(t, testOptions(img))
	defer s.Close()
	if rep := s.Recovery(); rep.Clean || rep.PageCacheIntact {
		t.Fatalf("report %+v", rep)
	}
}

// TestRetentionOvertakesIndexer deletes segments the indexer has not read:
// it skips them, the checkpoint stays inside the log, and later records
// are found.
func TestRetentionOvertakesIndexer(t *testing.T) {
	now := time.UnixMilli(10_000_000)
	opts := manualIndexing(testOptions(NewMemFS()))
	opts.Now = func() time.Time { return now }
	opts.RetentionAge = time.Hour
	s := mustOpen(t, opts)
	defer s.Close()
	rng := rand.New(rand.NewSource(28))
	appendBatch(t, s, rng, 0, 300) // store times near 0: long expired
	var fresh []stored
	for i := 300; i < 340; i++ {
		m := testMessage(rng, i)
		res, err := s.Append(m, now.UnixMilli())
		if err != nil {
			t.Fatal(err)
		}
		fresh = append(fresh, stored{m.Topic, m.QueueID, res.QueueOffset, res.PhysicalOffset, m.Body, fmt.Sprintf("k%d", i)})
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.EnforceRetention(); err != nil || n == 0 {
		t.Fatalf("retention deleted %d segments, err %v", n, err)
	}
	if s.IndexedOffset() != s.MinPhysicalOffset() {
		t.Fatalf("indexer at %d, log starts at %d", s.IndexedOffset(), s.MinPhysicalOffset())
	}
	if err := s.FlushQueues(); err != nil {
		t.Fatal(err)
	}
	if ck := s.ckpt.last.dispatched; ck < s.MinPhysicalOffset() {
		t.Fatalf("checkpoint %d below the log start %d would force a full rescan", ck, s.MinPhysicalOffset())
	}
	for i, w := range fresh {
		mustFind(t, s, w, 300+i)
	}
}

// TestIndexerRacesRetentionOnRealMappings runs the writer, an indexer
// lagging by several segments and aggressive retention (every
// segment but the last expired, retired mappings unmapped at once)
// together on the real file system: indexing must never read an unmapped
// segment. (Readers of records keep their ReadGrace; this test gives them
// none, so it does not read records itself.)
func TestIndexerRacesRetentionOnRealMappings(t *testing.T) {
	opts := manualIndexing(testOptions(OSFS{})) // the catch-up below lags
	opts.Dir = t.TempDir()
	opts.ReadGrace = time.Nanosecond
	opts.RetentionAge = time.Millisecond
	s := mustOpen(t, opts)
	defer s.Close()
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() { // retention
		defer wg.Done()
		for !done.Load() {
			if _, err := s.EnforceRetention(); err != nil {
				errs <- err
				return
			}
			s.cl.retire.reap(time.Now(), false)
		}
	}()
	go func() { // what QueryByKey does before it queries
		defer wg.Done()
		for !done.Load() {
			if err := s.catchUpIndex(s.MaxPhysicalOffset(), nil); err != nil {
				errs <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	rng := rand.New(rand.NewSource(29))
	for i := 0; i < 3000; i += 10 {
		appendBatch(t, s, rng, i, 10)
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if st := s.Stats(); st.DeletedSegments == 0 || st.IndexErrors != 0 || st.IndexSkipped != 0 {
		t.Fatalf("stats %+v: want deletions and no indexing errors", st)
	}
}

// TestDamagedKeyIndexFileIsRebuiltFromTheLog corrupts the header of the
// first key-index file of a cleanly closed store: loading drops it and
// every later file, and the records they covered, all below the
// checkpoint, must be indexed again from the commit log, so that every key
// is found after the restart.
func TestDamagedKeyIndexFileIsRebuiltFromTheLog(t *testing.T) {
	mem := NewMemFS()
	opts := testOptions(mem)
	s := mustOpen(t, opts)
	rng := rand.New(rand.NewSource(31))
	var want []stored
	for b := 0; b < 10; b++ {
		want = append(want, appendBatch(t, s, rng, len(want), 60)...)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	indexDir := filepath.Join(testDir, "index")
	names, _ := mem.ReadDir(indexDir)
	if len(names) < 3 {
		t.Fatalf("want several key-index files, have %v", names)
	}
	f, err := mem.OpenFile(filepath.Join(indexDir, names[0]), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("JUNK"), 0) // the magic
	f.Sync()
	f.Close()

	s = mustOpen(t, opts)
	defer s.Close()
	if rep := s.Recovery(); !rep.KeyIndexRebuilt || rep.IndexFrom != 0 {
		t.Fatalf("recovery %+v: want the key index rebuilt from offset 0", rep)
	}
	waitIndexed(t, s)
	for i, w := range want {
		if !indexHolds(t, s, w.topic, w.keys, w.phys) {
			t.Fatalf("record %d at %d not re-indexed under %s/%s", i, w.phys, w.topic, w.keys)
		}
		mustFind(t, s, w, i)
	}
	// The rebuilt index is flushed and trusted on the next open.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, opts)
	defer s.Close()
	if s.Recovery().KeyIndexRebuilt {
		t.Fatalf("index rebuilt again after a clean close: %+v", s.Recovery())
	}
	for i, w := range want {
		mustFind(t, s, w, i)
	}
}

// TestIndexerSkipsOnlyTheDamagedRecord: a damaged record in the middle of
// a segment costs the key index that record, not the rest of the segment.
func TestIndexerSkipsOnlyTheDamagedRecord(t *testing.T) {
	s := mustOpen(t, manualIndexing(testOptions(NewMemFS())))
	defer s.Close()
	rng := rand.New(rand.NewSource(61))
	want := appendBatch(t, s, rng, 0, 30)
	flipByte(s, want[12].phys+offQueueOffset, 7) // the header: the record cannot be framed
	for i, w := range want {
		if i == 12 {
			continue
		}
		mustFind(t, s, w, i)
	}
}
