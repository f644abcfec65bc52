package persist

import (
	"bytes"
	"errors"
	"math/rand"
	"testing"
)

// TestFaultInjectionEveryOp fails operation i of a workload (open, append
// batches with sync, flush queues, close) for every i until the workload
// runs clean. After each failure the store is reopened on what a crash
// would leave (only synced data) and every acknowledged record must be
// there, byte-exact; no read may return a corrupt record.
func TestFaultInjectionEveryOp(t *testing.T) {
	clean := NewErrorFS(NewMemFS(), nil)
	if _, err := faultWorkload(clean); err != nil {
		t.Fatalf("workload without faults: %v", err)
	}
	total := clean.Ops()
	failed := 0
	for i := int64(0); i < total; i++ {
		mem := NewMemFS()
		acked, err := faultWorkload(NewErrorFS(mem, FailAt(i)))
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

func faultWorkload(fsys FS) ([]stored, error) {
	s, err := Open(testOptions(fsys))
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
				s.closeFiles()
				return acked, err
			}
			batch = append(batch, stored{m.Topic, m.QueueID, res.QueueOffset, res.PhysicalOffset, m.Body, ""})
		}
		if err := s.Sync(); err != nil {
			s.Rollback()
			s.closeFiles()
			return acked, err
		}
		if _, err := s.Publish(); err != nil {
			s.closeFiles()
			return acked, err
		}
		acked = append(acked, batch...)
		if err := s.FlushQueues(); err != nil {
			s.closeFiles()
			return acked, err
		}
	}
	return acked, s.Close()
}

// checkAllReadable walks every queue and parses every record with its
// checksum.
func checkAllReadable(t *testing.T, s *Store) {
	t.Helper()
	for _, q := range s.Queues() {
		for off := q.MinOffset(); off < q.MaxOffset(); off++ {
			e, ok := q.Entry(off)
			if !ok {
				t.Fatalf("queue %s-%d: hole at %d", q.Topic(), q.QueueID(), off)
			}
			raw, err := s.ReadRecord(e.CommitLogOffset, e.Size)
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
// recovery must not panic and must never serve a record that fails its
// checksum.
func FuzzRecovery(f *testing.F) {
	f.Add(uint32(100), []byte{0xFF})
	f.Add(uint32(5000), []byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint32(20000), bytes.Repeat([]byte{0xAB}, 300))
	f.Fuzz(func(t *testing.T, at uint32, garbage []byte) {
		mem := NewMemFS()
		s, err := Open(testOptions(mem))
		if err != nil {
			t.Fatal(err)
		}
		appendBatch(t, s, rand.New(rand.NewSource(1)), 0, 60)
		s.closeFiles()
		img := mem.ProcessCrash()
		f, err := img.OpenFile(testDir+"/commitlog/"+segmentName(0), 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := f.Map(64 << 10)
		data := m.Bytes()
		pos := int(at) % len(data)
		copy(data[pos:], garbage)
		s2, err := Open(testOptions(img))
		if err != nil {
			return // a clean error is acceptable
		}
		defer s2.Close()
		checkAllReadable(t, s2)
	})
}
