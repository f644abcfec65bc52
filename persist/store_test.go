package persist

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"testing"
	"time"
)

const testDir = "/data"

func testOptions(fsys FS) Options {
	return Options{
		Dir:                 testDir,
		FS:                  fsys,
		SegmentSize:         64 << 10,
		CQEntriesPerFile:    64,
		IndexSlotsPerFile:   128,
		IndexEntriesPerFile: 512,
		QueueFlushInterval:  time.Hour, // tests flush explicitly
		RetentionInterval:   time.Hour,
		ReadGrace:           time.Millisecond,
	}
}

func mustOpen(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

// stored is what a test expects to find at an offset.
type stored struct {
	topic   string
	queueID int32
	qoff    int64
	phys    int64
	body    []byte
	keys    string
}

func testMessage(rng *rand.Rand, i int) *Message {
	topic := fmt.Sprintf("topic-%d", i%3)
	body := make([]byte, 10+rng.Intn(900))
	rng.Read(body)
	keys := fmt.Sprintf("k%d shared", i)
	props := []byte("TAGS\x01tag" + fmt.Sprint(i%2) + "\x02KEYS\x01" + keys + "\x02UNIQ_KEY\x01U" + fmt.Sprint(i))
	return &Message{Topic: topic, QueueID: int32(i % 2), Body: body, Properties: props,
		BornTimestamp: 1000, BornHost: Host{IP: []byte{10, 0, 0, 1}, Port: 5000}}
}

// appendBatch appends n messages, syncs and publishes them.
func appendBatch(t testing.TB, s *Store, rng *rand.Rand, first, n int) []stored {
	t.Helper()
	var out []stored
	for i := first; i < first+n; i++ {
		m := testMessage(rng, i)
		res, err := s.Append(m, int64(2000+i))
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		out = append(out, stored{m.Topic, m.QueueID, res.QueueOffset, res.PhysicalOffset, m.Body, fmt.Sprintf("k%d", i)})
	}
	if err := s.Sync(); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if _, err := s.Publish(); err != nil {
		t.Fatalf("publish: %v", err)
	}
	return out
}

// verify checks that every expected record is readable through its
// consume queue, byte-exact, and that queue offsets are dense.
func verify(t testing.TB, s *Store, want []stored) {
	t.Helper()
	for _, w := range want {
		q := s.ConsumeQueue(w.topic, w.queueID)
		if q == nil {
			t.Fatalf("queue %s-%d missing", w.topic, w.queueID)
		}
		e, ok := q.Entry(w.qoff)
		if !ok {
			t.Fatalf("%s-%d offset %d missing (min %d max %d)", w.topic, w.queueID, w.qoff, q.MinOffset(), q.MaxOffset())
		}
		if e.CommitLogOffset != w.phys {
			t.Fatalf("%s-%d offset %d at phys %d, want %d", w.topic, w.queueID, w.qoff, e.CommitLogOffset, w.phys)
		}
		raw, err := s.ReadRecord(e.CommitLogOffset, e.Size)
		if err != nil {
			t.Fatalf("read %d: %v", e.CommitLogOffset, err)
		}
		rv, err := ParseRecord(raw, e.CommitLogOffset)
		if err != nil {
			t.Fatalf("parse %d: %v", e.CommitLogOffset, err)
		}
		if !bytes.Equal(rv.Body(), w.body) || string(rv.Topic()) != w.topic || rv.QueueOffset() != w.qoff {
			t.Fatalf("record at %d differs", e.CommitLogOffset)
		}
	}
}

func TestAppendPublishRead(t *testing.T) {
	s := mustOpen(t, testOptions(NewMemFS()))
	defer s.Close()
	rng := rand.New(rand.NewSource(1))
	var want []stored
	for b := 0; b < 20; b++ {
		want = append(want, appendBatch(t, s, rng, b*25, 25)...)
	}
	verify(t, s, want)
	if segs := len(s.cl.segs.Load().segs); segs < 3 {
		t.Fatalf("expected the log to roll over several segments, got %d", segs)
	}
	// No record straddles a segment and every segment but the last ends in a blank.
	for _, seg := range s.cl.segs.Load().segs[:len(s.cl.segs.Load().segs)-1] {
		pos := seg.base
		for {
			rv, st, why := parseRecord(seg.data[pos-seg.base:], pos, true)
			if st == recordBlank {
				break
			}
			if st != recordOK {
				t.Fatalf("segment %d at %d: status %d %s", seg.base, pos, st, why)
			}
			pos += int64(rv.Size())
		}
	}
	// Dense offsets per queue.
	counts := map[string]int64{}
	for _, w := range want {
		counts[fmt.Sprintf("%s-%d", w.topic, w.queueID)]++
	}
	for _, q := range s.Queues() {
		if got := q.MaxOffset(); got != counts[fmt.Sprintf("%s-%d", q.Topic(), q.QueueID())] {
			t.Fatalf("queue %s-%d max %d, want %d", q.Topic(), q.QueueID(), got, counts[q.Topic()])
		}
	}
}

func TestNotVisibleBeforePublish(t *testing.T) {
	s := mustOpen(t, testOptions(NewMemFS()))
	defer s.Close()
	rng := rand.New(rand.NewSource(2))
	m := testMessage(rng, 0)
	res, err := s.Append(m, 1)
	if err != nil {
		t.Fatal(err)
	}
	if q := s.ConsumeQueue(m.Topic, m.QueueID); q.MaxOffset() != 0 {
		t.Fatalf("queue visible before publish: max %d", q.MaxOffset())
	}
	if _, err := s.ReadRecord(res.PhysicalOffset, res.Size); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read before publish: %v", err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadRecord(res.PhysicalOffset, res.Size); err != nil {
		t.Fatalf("read after publish: %v", err)
	}
}

func TestRollbackReusesOffsets(t *testing.T) {
	s := mustOpen(t, testOptions(NewMemFS()))
	defer s.Close()
	rng := rand.New(rand.NewSource(3))
	want := appendBatch(t, s, rng, 0, 5)
	end := s.WritePosition()
	for i := 0; i < 200; i++ { // enough to roll a segment inside the batch
		if _, err := s.Append(testMessage(rng, 5+i), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Rollback(); err != nil {
		t.Fatal(err)
	}
	if s.WritePosition() != end {
		t.Fatalf("write position %d after rollback, want %d", s.WritePosition(), end)
	}
	want = append(want, appendBatch(t, s, rng, 5, 5)...)
	verify(t, s, want)
	if want[5].phys != end {
		t.Fatalf("first record after rollback at %d, want %d", want[5].phys, end)
	}
}

func TestQueryByKeyAndTime(t *testing.T) {
	s := mustOpen(t, testOptions(NewMemFS()))
	defer s.Close()
	rng := rand.New(rand.NewSource(4))
	want := appendBatch(t, s, rng, 0, 60)
	got, err := s.QueryByKey("topic-1", "k4", 0, 1<<62, 10)
	if err != nil || len(got) != 1 || got[0].PhysicalOffset() != want[4].phys {
		t.Fatalf("query k4: %d results, err %v", len(got), err)
	}
	got, err = s.QueryByKey("topic-0", "U3", 0, 1<<62, 10)
	if err != nil || len(got) != 1 || got[0].PhysicalOffset() != want[3].phys {
		t.Fatalf("query UNIQ_KEY U3: %d results, err %v", len(got), err)
	}
	got, _ = s.QueryByKey("topic-0", "shared", 0, 1<<62, 5)
	if len(got) != 5 {
		t.Fatalf("query shared: %d results, want 5 (bounded)", len(got))
	}
	if got, _ = s.QueryByKey("topic-0", "k3", 0, 2002, 5); len(got) != 0 {
		t.Fatalf("time range ignored: %d results", len(got))
	}
	q := s.ConsumeQueue("topic-0", 0)
	// messages i ≡ 0 mod 6 land in topic-0 queue 0 with store time 2000+i
	if off := s.SearchOffsetByTime(q, 2013); off != 3 {
		t.Fatalf("search by time 2013: offset %d, want 3", off)
	}
	if off := s.SearchOffsetByTime(q, 1); off != 0 {
		t.Fatalf("search before all: %d", off)
	}
	if off := s.SearchOffsetByTime(q, 1<<50); off != q.MaxOffset() {
		t.Fatalf("search after all: %d", off)
	}
}

func TestCleanReopen(t *testing.T) {
	mem := NewMemFS()
	s := mustOpen(t, testOptions(mem))
	rng := rand.New(rand.NewSource(5))
	want := appendBatch(t, s, rng, 0, 100)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, testOptions(mem.Crash(nil)))
	defer s.Close()
	r := s.Recovery()
	if !r.Clean || r.CutReason != "" || r.RecordsScanned != 0 {
		t.Fatalf("clean reopen report: %+v", r)
	}
	verify(t, s, want)
	want = append(want, appendBatch(t, s, rng, 100, 10)...)
	verify(t, s, want)
}

func TestEmptyStore(t *testing.T) {
	mem := NewMemFS()
	s := mustOpen(t, testOptions(mem))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, testOptions(mem.Crash(nil)))
	defer s.Close()
	if r := s.Recovery(); !r.Clean || r.LogEnd != 0 {
		t.Fatalf("empty store report: %+v", r)
	}
}

// crashImage builds a store with records, crashes it (process crash: the
// page cache survives), lets mutate damage the image, reopens.
func crashImage(t *testing.T, n int, checkpointed bool, mutate func(fs *MemFS, s *Store, want []stored)) (*Store, []stored) {
	t.Helper()
	mem := NewMemFS()
	s := mustOpen(t, testOptions(mem))
	rng := rand.New(rand.NewSource(6))
	want := appendBatch(t, s, rng, 0, n)
	if checkpointed {
		if err := s.FlushQueues(); err != nil {
			t.Fatal(err)
		}
	}
	waitIndexed(t, s)
	stopBackground(s)
	img := mem.ProcessCrash()
	mutate(img, s, want)
	s.closeFiles()
	s2, err := Open(testOptions(img))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { s2.Close() })
	if s2.Recovery().Clean {
		t.Fatalf("unclean shutdown reported clean")
	}
	return s2, want
}

func segmentBytes(t *testing.T, fsys *MemFS, base int64) []byte {
	t.Helper()
	f, err := fsys.OpenFile(filepath.Join(testDir, "commitlog", segmentName(base)), 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := f.Map(64 << 10)
	if err != nil {
		t.Fatal(err)
	}
	return m.Bytes()
}

func lastSegmentBase(want []stored) int64 {
	last := want[len(want)-1].phys
	return last - last%(64<<10)
}

func TestRecoverTornTail(t *testing.T) {
	s, want := crashImage(t, 30, false, func(fs *MemFS, _ *Store, want []stored) {
		last := want[len(want)-1]
		seg := segmentBytes(t, fs, lastSegmentBase(want))
		at := int(last.phys % (64 << 10))
		// The last record's header is intact but its tail never made it.
		size := int(uint32(seg[at])<<24 | uint32(seg[at+1])<<16 | uint32(seg[at+2])<<8 | uint32(seg[at+3]))
		clear(seg[at+size/2 : at+size])
	})
	r := s.Recovery()
	if r.CutReason != "torn tail" || r.CutBytes <= 0 {
		t.Fatalf("report %+v", r)
	}
	verify(t, s, want[:len(want)-1])
	if r.LogEnd != want[len(want)-1].phys {
		t.Fatalf("log end %d, want %d", r.LogEnd, want[len(want)-1].phys)
	}
	if q := s.ConsumeQueue(want[len(want)-1].topic, want[len(want)-1].queueID); q.MaxOffset() != want[len(want)-1].qoff {
		t.Fatalf("queue still holds the torn record: max %d", q.MaxOffset())
	}
}

func TestRecoverZeroedTail(t *testing.T) {
	s, want := crashImage(t, 30, false, func(fs *MemFS, _ *Store, want []stored) {
		last := want[len(want)-1]
		seg := segmentBytes(t, fs, lastSegmentBase(want))
		at := int(last.phys % (64 << 10))
		clear(seg[at : at+16]) // the header page was lost, the rest landed
	})
	r := s.Recovery()
	if r.CutReason != "zeroed tail" {
		t.Fatalf("report %+v", r)
	}
	verify(t, s, want[:len(want)-1])
}

// TestRecoverCorruptMidSegment damages the body of a record with
// acknowledged records after it: recovery cuts nothing, reports the
// range, keeps the record's queue entry (reads refuse it) and keeps every
// record after it.
func TestRecoverCorruptMidSegment(t *testing.T) {
	victim := 0
	s, want := crashImage(t, 30, false, func(fs *MemFS, _ *Store, want []stored) {
		victim = len(want) - 5
		seg := segmentBytes(t, fs, want[victim].phys-want[victim].phys%(64<<10))
		seg[int(want[victim].phys%(64<<10))+100] ^= 0xFF // inside the body
	})
	r := s.Recovery()
	bad := want[victim]
	if r.CutReason != "" || r.CutBytes != 0 || len(r.Damaged) != 1 || r.Damaged[0].Offset != bad.phys {
		t.Fatalf("report %+v: want nothing cut and one damaged range at %d", r, bad.phys)
	}
	e, ok := s.ConsumeQueue(bad.topic, bad.queueID).Entry(bad.qoff)
	if !ok || e.CommitLogOffset != bad.phys {
		t.Fatalf("queue entry of the damaged record: %+v %v", e, ok)
	}
	if _, err := s.ReadRecord(e.CommitLogOffset, e.Size); !errors.Is(err, ErrCorruption) {
		t.Fatalf("damaged record served: %v", err)
	}
	verify(t, s, append(append([]stored(nil), want[:victim]...), want[victim+1:]...))
}

// TestRecoverDamagedHeadersInAFullRescan destroys two whole records
// (headers included) of a store whose queues are gone, so recovery
// rebuilds them from the log: the records after the damage are kept, and
// the queue offsets of the destroyed ones get placeholder entries that
// readers refuse, so every queue stays dense.
func TestRecoverDamagedHeadersInAFullRescan(t *testing.T) {
	var lost []stored
	s, want := crashImage(t, 60, true, func(fs *MemFS, _ *Store, want []stored) {
		lost = want[20:22]
		seg := segmentBytes(t, fs, 0)
		end := want[22].phys
		for i := lost[0].phys; i < end; i++ {
			seg[i] = 0xA5
		}
		for _, name := range []string{"topic-0", "topic-1", "topic-2"} {
			removeAll(fs, filepath.Join(testDir, "consumequeue", name))
		}
		fs.Remove(filepath.Join(testDir, "checkpoint"))
	})
	r := s.Recovery()
	if !r.FullRescan || r.CutBytes != 0 || len(r.Damaged) != 1 || r.PlaceholderEntries != 2 {
		t.Fatalf("report %+v: want a full rescan, nothing cut, one range, two placeholders", r)
	}
	for _, l := range lost {
		e, ok := s.ConsumeQueue(l.topic, l.queueID).Entry(l.qoff)
		if !ok {
			t.Fatalf("queue %s-%d has a hole at %d", l.topic, l.queueID, l.qoff)
		}
		if _, err := s.ReadRecord(e.CommitLogOffset, e.Size); !errors.Is(err, ErrCorruption) {
			t.Fatalf("placeholder of %d read: %v", l.phys, err)
		}
	}
	verify(t, s, append(append([]stored(nil), want[:20]...), want[22:]...))
}

func TestRecoverMissingQueueFiles(t *testing.T) {
	s, want := crashImage(t, 200, true, func(fs *MemFS, _ *Store, _ []stored) {
		dir := filepath.Join(testDir, "consumequeue", "topic-1", "0")
		names, _ := fs.ReadDir(dir)
		if len(names) < 1 {
			t.Fatalf("no queue files to remove")
		}
		if err := fs.Remove(filepath.Join(dir, names[0])); err != nil {
			t.Fatal(err)
		}
		if err := fs.Remove(filepath.Join(testDir, "consumequeue", "topic-2", "1", segmentName(0))); err != nil {
			t.Fatal(err)
		}
	})
	if !s.Recovery().FullRescan {
		t.Fatalf("report %+v", s.Recovery())
	}
	verify(t, s, want)
}

func TestRecoverQueueAheadOfLog(t *testing.T) {
	var cut int64
	s, want := crashImage(t, 40, false, func(fs *MemFS, _ *Store, want []stored) {
		// The log lost its last three records (as after a power cut with
		// async flush) while the queues and the index kept them.
		cut = want[len(want)-3].phys
		seg := segmentBytes(t, fs, lastSegmentBase(want))
		clear(seg[cut%(64<<10):])
	})
	r := s.Recovery()
	if r.QueueEntriesDropped != 3 || r.LogEnd != cut {
		t.Fatalf("report %+v", r)
	}
	verify(t, s, want[:len(want)-3])
	gone := want[len(want)-2]
	if got, _ := s.QueryByKey(gone.topic, gone.keys, 0, 1<<62, 10); len(got) != 0 {
		t.Fatalf("index serves a record cut from the log")
	}
	// New appends reuse the freed queue offsets densely.
	rng := rand.New(rand.NewSource(99))
	more := appendBatch(t, s, rng, 37, 3)
	verify(t, s, more)
}

func TestDiskFullAndResume(t *testing.T) {
	mem := NewMemFS()
	opts := testOptions(mem)
	s := mustOpen(t, opts)
	defer s.Close()
	rng := rand.New(rand.NewSource(7))
	want := appendBatch(t, s, rng, 0, 10)
	used := int64(0)
	if total, free, _ := mem.Usage(testDir); true {
		used = int64(total - free)
	}
	mem.SetCapacity(used + 1024) // no room for another segment
	var full error
	i := 10
	for ; i < 1000 && full == nil; i++ {
		_, full = s.Append(testMessage(rng, i), 1)
	}
	if !errors.Is(full, ErrDiskFull) {
		t.Fatalf("append on a full disk: %v", full)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(); err != nil {
		t.Fatal(err)
	}
	verify(t, s, want) // reads keep working
	mem.SetCapacity(0)
	more := appendBatch(t, s, rng, 2000, 10)
	verify(t, s, append(want, more...))
}

func TestRetentionByAge(t *testing.T) {
	mem := NewMemFS()
	now := time.UnixMilli(10_000_000)
	opts := testOptions(mem)
	opts.Now = func() time.Time { return now }
	opts.RetentionAge = time.Hour
	s := mustOpen(t, opts)
	defer s.Close()
	rng := rand.New(rand.NewSource(8))
	// Old records: store time 2000+i ms, far more than an hour ago.
	old := appendBatch(t, s, rng, 0, 300)
	// Fresh records in new segments.
	var fresh []stored
	for i := 300; i < 400; i++ {
		m := testMessage(rng, i)
		res, err := s.Append(m, now.UnixMilli())
		if err != nil {
			t.Fatal(err)
		}
		fresh = append(fresh, stored{m.Topic, m.QueueID, res.QueueOffset, res.PhysicalOffset, m.Body, ""})
	}
	s.Sync()
	s.Publish()
	n, err := s.EnforceRetention()
	if err != nil || n == 0 {
		t.Fatalf("retention deleted %d segments, err %v", n, err)
	}
	minOff := s.MinPhysicalOffset()
	if minOff <= old[0].phys {
		t.Fatalf("min offset did not move: %d", minOff)
	}
	for _, q := range s.Queues() {
		if e, ok := q.Entry(q.MinOffset()); ok && e.CommitLogOffset < minOff {
			t.Fatalf("queue %s-%d min entry points below the log: %d < %d", q.Topic(), q.QueueID(), e.CommitLogOffset, minOff)
		}
	}
	verify(t, s, fresh)
}

func TestDeleteTopicThenAppendAgain(t *testing.T) {
	s := mustOpen(t, testOptions(NewMemFS()))
	defer s.Close()
	rng := rand.New(rand.NewSource(12))
	appendBatch(t, s, rng, 0, 30)
	if err := s.DeleteTopic("topic-0"); err != nil {
		t.Fatal(err)
	}
	if q := s.ConsumeQueue("topic-0", 0); q != nil {
		t.Fatalf("queue of a deleted topic still listed")
	}
	// The re-created topic starts its queues at 0 again, densely.
	want := appendBatch(t, s, rng, 30, 12)
	verify(t, s, want)
	for _, w := range want {
		if w.topic == "topic-0" && w.qoff >= 2 {
			t.Fatalf("re-created topic continued old offsets: %+v", w.qoff)
		}
	}
}

func TestFitsInPlace(t *testing.T) {
	s := mustOpen(t, testOptions(NewMemFS())) // 64 KiB segments, 64 entries per queue file
	defer s.Close()
	msg := func(q int32, size int) []Message {
		return []Message{{Topic: "Fit", QueueID: q, Body: make([]byte, size)}}
	}
	if s.FitsInPlace(msg(0, 10)) {
		t.Fatal("fits although the log has no segment and the queue no file")
	}
	if _, err := s.Append(&msg(0, 10)[0], 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(); err != nil {
		t.Fatal(err)
	}
	if !s.FitsInPlace(msg(0, 10)) {
		t.Fatal("does not fit although the segment and the queue file are mapped")
	}
	if s.FitsInPlace(msg(1, 10)) {
		t.Fatal("fits although queue 1 does not exist yet")
	}
	if s.FitsInPlace(msg(0, 64<<10)) {
		t.Fatal("a record larger than the segment's room fits")
	}
	// Fill queue 0 to the end of its first file: the 65th entry needs a new one.
	for i := 1; i < 64; i++ {
		if _, err := s.Append(&msg(0, 10)[0], 1); err != nil {
			t.Fatal(err)
		}
	}
	if s.FitsInPlace(msg(0, 10)) {
		t.Fatal("fits although the queue's next entry starts a new file")
	}
	if _, err := s.Publish(); err != nil {
		t.Fatal(err)
	}
	if s.FitsInPlace(msg(0, 10)) {
		t.Fatal("fits although the queue's next entry starts a new file (published)")
	}
}

// TestPendingSyncVoidedByRollback: a sync prepared before a rollback must
// not mark the rolled-back range durable.
func TestPendingSyncVoidedByRollback(t *testing.T) {
	s := mustOpen(t, testOptions(NewMemFS()))
	defer s.Close()
	rng := rand.New(rand.NewSource(5))
	appendBatch(t, s, rng, 0, 3)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	durable := s.DurableOffset()
	if durable != s.WritePosition() {
		t.Fatalf("durable %d after Sync, want %d", durable, s.WritePosition())
	}
	for i := 0; i < 3; i++ {
		if _, err := s.Append(testMessage(rng, 3+i), 1); err != nil {
			t.Fatal(err)
		}
	}
	p := s.PrepareSync()
	if p.Bytes() != s.WritePosition()-durable {
		t.Fatalf("pending sync covers %d bytes, want %d", p.Bytes(), s.WritePosition()-durable)
	}
	if err := s.Rollback(); err != nil {
		t.Fatal(err)
	}
	s.FinishSync(p, p.Run())
	if s.DurableOffset() != durable {
		t.Fatalf("durable offset %d after a sync voided by rollback, want %d", s.DurableOffset(), durable)
	}
	appendBatch(t, s, rng, 3, 2)
	p = s.PrepareSync()
	if _, err := s.Append(testMessage(rng, 9), 1); err != nil { // after the prepare: not covered
		t.Fatal(err)
	}
	covered := s.WritePosition()
	s.FinishSync(p, p.Run())
	if got := s.DurableOffset(); got >= covered || got <= durable {
		t.Fatalf("durable offset %d, want past %d and short of %d", got, durable, covered)
	}
}

// TestIndexFlushedLessOftenThanQueues: a queue flush without the key index
// (what the background loop does between index flushes) never moves the
// checkpoint past what the last index flush covered; a flush with the
// index catches it up.
func TestIndexFlushedLessOftenThanQueues(t *testing.T) {
	s := mustOpen(t, testOptions(NewMemFS())) // background flushes off
	defer s.Close()
	readCkpt := func() int64 {
		ck, ok, err := s.ckpt.read()
		if err != nil || !ok {
			t.Fatalf("read checkpoint: ok=%v err=%v", ok, err)
		}
		return ck.dispatched
	}
	rng := rand.New(rand.NewSource(8))
	appendBatch(t, s, rng, 0, 5)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	first := s.WritePosition()
	if _, err := s.QueryByKey("none", "none", 0, 1<<62, 1); err != nil { // catches the indexer up
		t.Fatal(err)
	}
	if err := s.flushQueues(true); err != nil {
		t.Fatal(err)
	}
	if got := readCkpt(); got != first {
		t.Fatalf("checkpoint %d after a flush with the index, want %d", got, first)
	}
	appendBatch(t, s, rng, 5, 5)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.QueryByKey("none", "none", 0, 1<<62, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.flushQueues(false); err != nil {
		t.Fatal(err)
	}
	if got := readCkpt(); got != first {
		t.Fatalf("checkpoint moved to %d past the last index flush at %d", got, first)
	}
	if err := s.FlushQueues(); err != nil { // the public flush includes the index
		t.Fatal(err)
	}
	if got := readCkpt(); got != s.WritePosition() {
		t.Fatalf("checkpoint %d after FlushQueues, want %d", got, s.WritePosition())
	}
}

// TestCrashAfterRollKeepsEarlierSegments: a segment's allocated length may
// not be durable when the next one is created (only the synced records
// are), so after a crash an earlier segment can be short of its size. Its
// size is where the next one starts; the log must open and serve every
// synced record.
func TestCrashAfterRollKeepsEarlierSegments(t *testing.T) {
	mem := NewMemFS()
	s := mustOpen(t, testOptions(mem)) // 64 KiB segments
	rng := rand.New(rand.NewSource(31))
	var want []stored
	for s.WritePosition() < 3*(64<<10) {
		want = append(want, appendBatch(t, s, rng, len(want), 10)...)
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	crashed := mem.Crash(nil)
	s.Close()
	s = mustOpen(t, testOptions(crashed))
	defer s.Close()
	verify(t, s, want)
}
