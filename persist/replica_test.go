package persist

import (
	"errors"
	"hash/crc32"
	"math/rand"
	"testing"
)

// replicateAll ships master's log to replica in chunks of at most chunk
// bytes until the replica holds everything the master wrote.
func replicateAll(t testing.TB, master, replica *Store, chunk int) {
	t.Helper()
	for off := replica.WrittenOffset(); off < master.WrittenOffset(); off = replica.WrittenOffset() {
		data, err := master.ReadRaw(off, chunk)
		if err != nil {
			t.Fatalf("read raw at %d: %v", off, err)
		}
		if len(data) == 0 {
			t.Fatalf("read raw at %d below written end %d returned nothing", off, master.WrittenOffset())
		}
		if _, err := replica.AppendReplicated(off, data, true); err != nil {
			t.Fatalf("append replicated at %d: %v", off, err)
		}
	}
}

// segmentChecksums is the CRC32 of every whole commit-log segment, by base.
func segmentChecksums(s *Store) map[int64]uint32 {
	out := map[int64]uint32{}
	for _, seg := range s.cl.segs.Load().segs {
		out[seg.base] = crc32.ChecksumIEEE(seg.data)
	}
	return out
}

func requireIdenticalLogs(t testing.TB, master, replica *Store) {
	t.Helper()
	if m, r := master.WrittenOffset(), replica.WrittenOffset(); m != r {
		t.Fatalf("written offsets differ: master %d, replica %d", m, r)
	}
	want, got := segmentChecksums(master), segmentChecksums(replica)
	for base, sum := range want {
		if base < replica.MinPhysicalOffset() {
			continue // older than where the replica started
		}
		if got[base] != sum {
			t.Fatalf("segment %s: replica checksum %08x, master %08x", segmentName(base), got[base], sum)
		}
	}
	if len(got) == 0 || len(got) > len(want) {
		t.Fatalf("replica has %d segments, master %d", len(got), len(want))
	}
}

func TestReplicaCatchUpFromEmptyAndBehind(t *testing.T) {
	master := mustOpen(t, testOptions(NewMemFS()))
	defer master.Close()
	replica := mustOpen(t, testOptions(NewMemFS()))
	defer replica.Close()
	rng := rand.New(rand.NewSource(3))
	var acked []stored
	for b := 0; b < 8; b++ { // several 64 KiB segments
		acked = append(acked, appendBatch(t, master, rng, b*40, 40)...)
	}
	replicateAll(t, master, replica, 16<<10)
	requireIdenticalLogs(t, master, replica)
	verify(t, replica, acked)
	for b := 8; b < 12; b++ { // the replica is behind again
		acked = append(acked, appendBatch(t, master, rng, b*40, 40)...)
	}
	replicateAll(t, master, replica, 1) // one record per chunk
	requireIdenticalLogs(t, master, replica)
	verify(t, replica, acked)
	checkAllReadable(t, replica)
	got, err := replica.QueryByKey(acked[5].topic, acked[5].keys, 0, 1<<62, 4)
	if err != nil || len(got) != 1 || got[0].PhysicalOffset() != acked[5].phys {
		t.Fatalf("key index of the replica: %d results, err %v", len(got), err)
	}
}

func TestReplicaStartsAtMastersFirstSegment(t *testing.T) {
	master := mustOpen(t, testOptions(NewMemFS()))
	defer master.Close()
	rng := rand.New(rand.NewSource(4))
	var acked []stored
	for b := 0; b < 6; b++ {
		acked = append(acked, appendBatch(t, master, rng, b*40, 40)...)
	}
	if _, err := master.cl.deleteOldest(func(_, _ *segment) bool { return false }); err != nil {
		t.Fatal(err)
	}
	start := master.MinPhysicalOffset()
	if start == 0 {
		t.Fatal("the oldest segment was not deleted")
	}
	replica := mustOpen(t, testOptions(NewMemFS()))
	defer replica.Close()
	if _, err := replica.AppendReplicated(start, nil, true); err != nil {
		t.Fatal(err)
	}
	replicateAll(t, master, replica, 64<<10)
	requireIdenticalLogs(t, master, replica)
	var kept []stored
	for _, a := range acked {
		if a.phys >= start {
			kept = append(kept, a)
		}
	}
	verify(t, replica, kept)
}

func TestAppendReplicatedRefusesBadInput(t *testing.T) {
	master := mustOpen(t, testOptions(NewMemFS()))
	defer master.Close()
	appendBatch(t, master, rand.New(rand.NewSource(5)), 0, 20)
	replica := mustOpen(t, testOptions(NewMemFS()))
	defer replica.Close()
	data, err := master.ReadRaw(0, 8<<10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := replica.AppendReplicated(0, data[:len(data)/2], true); !errors.Is(err, ErrCorruption) {
		t.Fatalf("half a chunk: %v, want ErrCorruption", err)
	}
	bad := append([]byte(nil), data...)
	first, _, _ := parseRecord(bad, 0, true)
	bad[first.bodyAt] ^= 0xFF // the checksum covers the body
	if _, err := replica.AppendReplicated(0, bad, true); !errors.Is(err, ErrCorruption) {
		t.Fatalf("flipped byte: %v, want ErrCorruption", err)
	}
	if replica.WrittenOffset() != 0 || replica.MaxPhysicalOffset() != 0 {
		t.Fatalf("a refused chunk left the log at %d", replica.WrittenOffset())
	}
	if _, err := replica.AppendReplicated(0, data, true); err != nil {
		t.Fatal(err)
	}
	if _, err := replica.AppendReplicated(1, data, true); !errors.Is(err, ErrReplicaGap) {
		t.Fatalf("wrong offset: %v, want ErrReplicaGap", err)
	}
}

func TestAppendReplicatedRefusesOtherSegmentSize(t *testing.T) {
	master := mustOpen(t, testOptions(NewMemFS()))
	defer master.Close()
	rng := rand.New(rand.NewSource(6))
	for b := 0; b < 4; b++ {
		appendBatch(t, master, rng, b*40, 40)
	}
	opts := testOptions(NewMemFS())
	opts.SegmentSize = 128 << 10
	replica := mustOpen(t, opts)
	defer replica.Close()
	for off := int64(0); ; off = replica.WrittenOffset() {
		data, err := master.ReadRaw(off, 64<<10)
		if err != nil {
			t.Fatal(err)
		}
		if _, err = replica.AppendReplicated(off, data, true); err != nil {
			if !errors.Is(err, ErrCorruption) {
				t.Fatalf("segment sizes differ: %v, want ErrCorruption", err)
			}
			return
		}
	}
}

// recordBoundaryAfter returns the start of the first acked record at or
// after phys.
func recordBoundaryAfter(acked []stored, phys int64) int64 {
	for _, a := range acked {
		if a.phys >= phys {
			return a.phys
		}
	}
	return -1
}

func TestTruncateToThenReplicateAgain(t *testing.T) {
	master := mustOpen(t, testOptions(NewMemFS()))
	defer master.Close()
	rng := rand.New(rand.NewSource(7))
	var acked []stored
	for b := 0; b < 6; b++ {
		acked = append(acked, appendBatch(t, master, rng, b*40, 40)...)
	}
	mem := NewMemFS()
	replica := mustOpen(t, testOptions(mem))
	replicateAll(t, master, replica, 32<<10)
	if err := replica.FlushQueues(); err != nil {
		t.Fatal(err)
	}
	cut := recordBoundaryAfter(acked, master.WrittenOffset()/3)
	if err := replica.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	if replica.WrittenOffset() != cut || replica.MaxPhysicalOffset() != cut {
		t.Fatalf("log ends at %d/%d after truncating to %d", replica.WrittenOffset(), replica.MaxPhysicalOffset(), cut)
	}
	for _, a := range acked {
		q := replica.ConsumeQueue(a.topic, a.queueID)
		if _, ok := q.Entry(a.qoff); ok != (a.phys < cut) {
			t.Fatalf("record at %d (cut at %d): queue entry present=%v", a.phys, cut, ok)
		}
	}
	late := acked[len(acked)-1]
	if got, _ := replica.QueryByKey(late.topic, late.keys, 0, 1<<62, 4); len(got) != 0 {
		t.Fatalf("key index still finds a cut record")
	}
	replica.Close()
	replica = mustOpen(t, testOptions(mem.Crash(nil)))
	defer replica.Close()
	if replica.WrittenOffset() != cut {
		t.Fatalf("reopened log ends at %d, want %d", replica.WrittenOffset(), cut)
	}
	replicateAll(t, master, replica, 32<<10)
	requireIdenticalLogs(t, master, replica)
	verify(t, replica, acked)
}

// TestTruncateToFaultInjection fails every file-system operation of a
// truncation in turn, crashes, reopens, and requires the replica to be
// consistent (every queue entry readable, nothing before the cut lost) and
// to converge on the master's log after truncating again and catching up.
func TestTruncateToFaultInjection(t *testing.T) {
	master := mustOpen(t, testOptions(NewMemFS()))
	defer master.Close()
	rng := rand.New(rand.NewSource(8))
	var acked []stored
	for b := 0; b < 5; b++ {
		acked = append(acked, appendBatch(t, master, rng, b*40, 40)...)
	}
	cut := recordBoundaryAfter(acked, master.WrittenOffset()*9/10) // in the last segment
	var before []stored
	for _, a := range acked {
		if a.phys < cut {
			before = append(before, a)
		}
	}
	for i := int64(0); ; i++ {
		mem := NewMemFS()
		efs := NewErrorFS(mem, nil)
		replica := mustOpen(t, testOptions(efs))
		replicateAll(t, master, replica, 32<<10)
		// The checkpoint moves to the log end, past the cut.
		if err := replica.catchUpIndex(replica.MaxPhysicalOffset(), nil); err != nil {
			t.Fatal(err)
		}
		if err := replica.FlushQueues(); err != nil {
			t.Fatal(err)
		}
		efs.inject = FailAt(efs.Ops() + i)
		err := replica.TruncateTo(cut)
		abandon(replica)
		if err != nil && !errors.Is(err, ErrInjected) && !errors.Is(err, ErrSyncFailed) {
			t.Fatalf("op %d: error without the injected fault: %v", i, err)
		}
		reopened := mustOpen(t, testOptions(mem.Crash(nil)))
		checkAllReadable(t, reopened)
		verify(t, reopened, before)
		if err := reopened.TruncateTo(cut); err != nil {
			t.Fatalf("op %d: truncate again: %v", i, err)
		}
		replicateAll(t, master, reopened, 32<<10)
		requireIdenticalLogs(t, master, reopened)
		verify(t, reopened, acked)
		reopened.Close()
		if err == nil {
			t.Logf("truncation took %d file-system operations; each failed once", i)
			return
		}
	}
}

func TestReadRawStopsAtWrittenEndAndSegments(t *testing.T) {
	s := mustOpen(t, testOptions(NewMemFS()))
	defer s.Close()
	rng := rand.New(rand.NewSource(9))
	for b := 0; b < 3; b++ {
		appendBatch(t, s, rng, b*40, 40)
	}
	if _, err := s.Append(testMessage(rng, 999), 1); err != nil {
		t.Fatal(err)
	}
	end := s.WrittenOffset() // the staged record is not written yet
	seen := 0
	for off := int64(0); off < end; {
		data, err := s.ReadRaw(off, 4<<10)
		if err != nil {
			t.Fatal(err)
		}
		seg := s.cl.segs.Load().find(off)
		if off+int64(len(data)) > seg.end() {
			t.Fatalf("chunk at %d crosses its segment end %d", off, seg.end())
		}
		if len(data) == blankRecordSize && uint32(data[4])<<24|uint32(data[5])<<16|uint32(data[6])<<8|uint32(data[7]) == MagicBlank {
			off = seg.end()
			continue
		}
		off += int64(len(data))
		seen++
	}
	if data, err := s.ReadRaw(end, 4<<10); err != nil || data != nil {
		t.Fatalf("read at the written end: %d bytes, %v", len(data), err)
	}
	if err := s.Write(); err != nil {
		t.Fatal(err)
	}
	if data, err := s.ReadRaw(end, 4<<10); err != nil || len(data) == 0 {
		t.Fatalf("written record not readable raw: %v", err)
	}
	s.Rollback()
	if s.WrittenOffset() != end {
		t.Fatalf("rollback left the written end at %d, want %d", s.WrittenOffset(), end)
	}
}
