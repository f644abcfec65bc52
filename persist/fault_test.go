package persist

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"testing"
)

// TestFaultInjectionEveryOp fails operation i of a workload (open, append
// batches with sync, flush queues, close) for every i until the workload
// runs clean. After each failure the store is reopened on what a crash
// would leave (only synced data) and every acknowledged record must be
// there, byte-exact; no read may return a corrupt record.
func TestFaultInjectionEveryOp(t *testing.T) {
	for _, mapped := range []bool{false, true} {
		t.Run(fmt.Sprintf("mapped=%v", mapped), func(t *testing.T) { faultInjectionEveryOp(t, mapped) })
	}
}

func faultInjectionEveryOp(t *testing.T, mapped bool) {
	clean := NewErrorFS(NewMemFS(), nil)
	if _, err := faultWorkload(clean, mapped); err != nil {
		t.Fatalf("workload without faults: %v", err)
	}
	total := clean.Ops()
	failed := 0
	for i := int64(0); i < total; i++ {
		mem := NewMemFS()
		acked, err := faultWorkload(NewErrorFS(mem, FailAt(i)), mapped)
		if err != nil {
			failed++
			if !errors.Is(err, ErrInjected) && !errors.Is(err, ErrSyncFailed) {
				t.Fatalf("op %d: error does not carry the injected fault: %v", i, err)
			}
		}
		s, err := Open(testOptions(mem.Crash(nil)))
		if err != nil {
			t.Fatalf("op %d: reopen after crash: %v", i, err)
		}
		verify(t, s, acked)
		checkAllReadable(t, s)
		s.Close()
	}
	if failed == 0 {
		t.Fatalf("no injected fault surfaced as an error in %d operations", total)
	}
	t.Logf("%d operations, %d injected faults surfaced as errors, the rest were absorbed", total, failed)
}

func faultWorkload(fsys FS, mapped bool) ([]stored, error) {
	opts := testOptions(fsys)
	opts.MappedWrites = mapped
	s, err := Open(opts)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewSource(11))
	var acked []stored
	for b := 0; b < 6; b++ {
		var batch []stored
		for i := b * 20; i < b*20+20; i++ {
			m := testMessage(rng, i)
			res, err := s.Append(m, int64(2000+i))
			if err != nil {
				s.Rollback()
				abandon(s)
				return acked, err
			}
			batch = append(batch, stored{m.Topic, m.QueueID, res.QueueOffset, res.PhysicalOffset, m.Body, ""})
		}
		if err := s.Sync(); err != nil {
			s.Rollback()
			abandon(s)
			return acked, err
		}
		if _, err := s.Publish(); err != nil {
			abandon(s)
			return acked, err
		}
		acked = append(acked, batch...)
		if err := s.FlushQueues(); err != nil {
			abandon(s)
			return acked, err
		}
	}
	return acked, s.Close()
}

// checkAllReadable walks every queue: every entry either reads as a
// record that passes its checksum or is refused as corruption (a damaged
// record recovery left in place).
func checkAllReadable(t *testing.T, s *Store) {
	t.Helper()
	for _, q := range s.Queues() {
		for off := q.MinOffset(); off < q.MaxOffset(); off++ {
			e, ok := q.Entry(off)
			if !ok {
				t.Fatalf("queue %s-%d: hole at %d", q.Topic(), q.QueueID(), off)
			}
			raw, err := s.ReadRecord(e.CommitLogOffset, e.Size)
			if errors.Is(err, ErrCorruption) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseRecord(raw, e.CommitLogOffset); err != nil {
				t.Fatalf("queue %s-%d offset %d: %v", q.Topic(), q.QueueID(), off, err)
			}
		}
	}
}

// FuzzRecovery corrupts bytes of a store's commit log and recovers it:
// recovery must not panic, must never serve a record that fails its
// checksum, and must keep in the log every record the corruption does not
// touch, before it and after it: damage in the middle of the log is left
// in place and reported, only a tail is cut. (Queue membership is not
// asserted: the record format checksums only the body, so a corrupted
// topic field yields a well-formed record that recovery dispatches as it
// reads.) The store image is built once; each run corrupts a copy of it,
// so a run costs one recovery of a 64 KiB segment.
func FuzzRecovery(f *testing.F) {
	base, acked := recoveryFuzzImage(f)
	f.Add(uint32(100), []byte{0xFF})
	f.Add(uint32(5000), []byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint32(20000), bytes.Repeat([]byte{0xAB}, 300))
	f.Add(uint32(3590), []byte{0xFF}) // a queue-offset field
	f.Fuzz(func(t *testing.T, at uint32, garbage []byte) {
		img := base.ProcessCrash()
		pos := int64(corruptSegment(t, img, at, garbage))
		s, err := Open(testOptions(img))
		if err != nil {
			return // a clean error is acceptable
		}
		defer s.Close()
		checkAllReadable(t, s)
		if _, err := s.Verify(context.Background(), VerifyOptions{}); err != nil {
			t.Fatalf("verify after recovery: %v", err)
		}
		for _, a := range acked {
			if a.end > pos && a.phys < pos+int64(len(garbage)) {
				continue // touched
			}
			rv, err := s.RecordAt(a.phys)
			if err != nil || !bytes.Equal(rv.Body(), a.body) {
				t.Fatalf("record at %d, untouched by the corruption at [%d,%d), lost: %v (%+v)",
					a.phys, pos, pos+int64(len(garbage)), err, s.Recovery())
			}
		}
	})
}

// TestRecoverCorruptQueueOffsetField flips the top byte of a record's
// queue-offset field, which the body checksum does not cover: recovery
// must treat the record as damaged (never index it at an offset whose
// consume-queue position overflows), keep every other record, and never
// serve it.
func TestRecoverCorruptQueueOffsetField(t *testing.T) {
	base, acked := recoveryFuzzImage(t)
	bad := acked[10]
	img := base.ProcessCrash()
	corruptSegment(t, img, uint32(bad.phys+offQueueOffset), []byte{0xFF})
	s := mustOpen(t, testOptions(img))
	defer s.Close()
	if rep := s.Recovery(); rep.CutBytes != 0 || len(rep.Damaged) != 1 || rep.Damaged[0].Offset != bad.phys {
		t.Fatalf("recovery %+v, want the record at %d reported damaged and nothing cut", rep, bad.phys)
	}
	for i, a := range acked {
		if i != 10 {
			verify(t, s, []stored{a.stored})
		}
	}
	checkAllReadable(t, s)
}

type storedSpan struct {
	stored
	end int64
}

// recoveryFuzzImage returns a store left as kill -9 leaves it (no clean
// checkpoint, the log never scanned into a checkpoint) and its records.
func recoveryFuzzImage(tb testing.TB) (*MemFS, []storedSpan) {
	mem := NewMemFS()
	s := mustOpen(tb, testOptions(mem))
	var out []storedSpan
	for _, a := range appendBatch(tb, s, rand.New(rand.NewSource(1)), 0, 60) {
		rv, err := s.RecordAt(a.phys)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, storedSpan{a, a.phys + int64(rv.Size())})
	}
	abandon(s)
	return mem.ProcessCrash(), out
}

// corruptSegment copies garbage into the first commit-log segment at
// at (modulo its size) and returns the position written.
func corruptSegment(t *testing.T, img *MemFS, at uint32, garbage []byte) int {
	f, err := img.OpenFile(testDir+"/commitlog/"+segmentName(0), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := f.Map(64 << 10)
	if err != nil {
		t.Fatal(err)
	}
	data := m.Bytes()
	pos := int(at) % len(data)
	copy(data[pos:], garbage)
	return pos
}

// abandon ends s as kill -9 would: its background loops stop and its files
// are released, but no clean checkpoint is written.
func abandon(s *Store) {
	stopBackground(s)
	s.closeFiles()
}

// stopBackground ends s's background goroutines (flusher, retention, key
// indexer) without touching its files, so that a crash image can be taken
// while nothing writes through a mapping.
func stopBackground(s *Store) {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.bg.Wait()
}
