package persist

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
)

// bodyAt returns the commit-log offset of the first body byte of w.
func bodyAt(t *testing.T, s *Store, w stored) int64 {
	t.Helper()
	rv, err := s.RecordAt(w.phys)
	if err != nil {
		t.Fatal(err)
	}
	return w.phys + int64(rv.bodyAt)
}

// flipByte flips one bit of the log at off, in the mapping, as a disk
// returning a bad sector or a stray write would.
func flipByte(s *Store, off int64, bit uint) {
	seg := s.cl.segs.Load().find(off)
	seg.data[off-seg.base] ^= 1 << bit
}

func TestFlippedBodyByteIsNeverServed(t *testing.T) {
	logs := &testutil.LockedBuffer{}
	opts := testOptions(NewMemFS())
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	s := mustOpen(t, opts)
	defer s.Close()
	rng := rand.New(rand.NewSource(41))
	want := appendBatch(t, s, rng, 0, 40)
	bad := want[17]
	flipByte(s, bodyAt(t, s, bad)+3, 2)

	e, _ := s.ConsumeQueue(bad.topic, bad.queueID).Entry(bad.qoff)
	raw, err := s.ReadRecord(e.CommitLogOffset, e.Size)
	if !errors.Is(err, ErrCorruption) || raw != nil {
		t.Fatalf("read of the damaged record: %d bytes, err %v; want ErrCorruption", len(raw), err)
	}
	if !strings.Contains(err.Error(), "body crc") {
		t.Fatalf("error does not say why: %v", err)
	}
	if _, err := s.RecordAt(bad.phys); !errors.Is(err, ErrCorruption) {
		t.Fatalf("RecordAt of the damaged record: %v", err)
	}
	if got, err := s.QueryByKey(bad.topic, bad.keys, 0, 1<<62, 4); err != nil || len(got) != 0 {
		t.Fatalf("query by key returned %d records (err %v) for the damaged one", len(got), err)
	}
	if st := s.Stats(); st.CorruptRecords != 3 {
		t.Fatalf("CorruptRecords %d, want 3 (read, view, query)", st.CorruptRecords)
	}
	if !strings.Contains(logs.String(), "level=ERROR msg=\"persist: damaged record not served") {
		t.Fatalf("damaged read not logged:\n%s", logs)
	}
	var good []stored
	for _, w := range want {
		if w.phys != bad.phys {
			good = append(good, w)
		}
	}
	verify(t, s, good)

	rep, err := s.Verify(context.Background(), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Damaged) != 1 || rep.Records != int64(len(want)-1) {
		t.Fatalf("verify: %d records, damaged %+v; want %d records and one range", rep.Records, rep.Damaged, len(want)-1)
	}
	d := rep.Damaged[0]
	if d.Offset != bad.phys || d.Length != int64(e.Size) || d.Segment != segmentName(0) || !strings.Contains(d.Reason, "body crc") {
		t.Fatalf("damaged range %+v, want the record at %d of %d bytes", d, bad.phys, e.Size)
	}
	if rep.From != 0 || rep.To != s.MaxPhysicalOffset() {
		t.Fatalf("verify covered [%d,%d), log is [0,%d)", rep.From, rep.To, s.MaxPhysicalOffset())
	}
}

// TestRandomFlipsNeverReachAReader flips one random bit anywhere in the
// log, many times over. Whatever it hits, a read returns either the
// record's original body or an error wrapping ErrCorruption, never another
// body; a flip inside a body is always caught; and Verify terminates and
// lists a damaged range over every record a read refused. Bytes outside
// the body (properties, timestamps) are not covered by the RocketMQ body
// CRC; the structure checks catch flips in the length, magic and offset
// fields.
func TestRandomFlipsNeverReachAReader(t *testing.T) {
	s := mustOpen(t, testOptions(NewMemFS()))
	defer s.Close()
	rng := rand.New(rand.NewSource(43))
	want := appendBatch(t, s, rng, 0, 150) // several segments
	end := s.MaxPhysicalOffset()
	for i := 0; i < 400; i++ {
		off, bit := rng.Int63n(end), uint(rng.Intn(8))
		flipByte(s, off, bit)
		refused := checkReads(t, s, want, off)
		rep, err := s.Verify(context.Background(), VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range refused {
			if !coveredBy(rep.Damaged, w.phys) {
				t.Fatalf("flip at %d: read of %d refused, verify ranges %+v miss it", off, w.phys, rep.Damaged)
			}
		}
		flipByte(s, off, bit) // undo
	}
	if rep, _ := s.Verify(context.Background(), VerifyOptions{}); len(rep.Damaged) != 0 || rep.Records != int64(len(want)) {
		t.Fatalf("after undoing every flip: %+v", rep)
	}
}

// checkReads reads every record through its queue entry and returns those
// refused; it fails the test if a read returned a changed body, or missed
// a flip at off inside a body.
func checkReads(t *testing.T, s *Store, want []stored, off int64) []stored {
	t.Helper()
	var refused []stored
	for _, w := range want {
		e, ok := s.ConsumeQueue(w.topic, w.queueID).Entry(w.qoff)
		if !ok {
			t.Fatalf("queue entry of %d gone", w.phys)
		}
		raw, err := s.ReadRecord(e.CommitLogOffset, e.Size)
		if err != nil {
			if !errors.Is(err, ErrCorruption) {
				t.Fatalf("read %d: %v", w.phys, err)
			}
			refused = append(refused, w)
			continue
		}
		rv, perr := ParseRecord(raw, w.phys)
		if perr != nil || !bytes.Equal(rv.Body(), w.body) {
			t.Fatalf("flip at %d: read of %d returned a damaged record (%v)", off, w.phys, perr)
		}
		if body := w.phys + int64(rv.bodyAt); off >= body && off < body+int64(len(w.body)) {
			t.Fatalf("flip at %d inside the body of %d was not caught", off, w.phys)
		}
	}
	return refused
}

func coveredBy(ranges []DamagedRange, off int64) bool {
	for _, d := range ranges {
		if off >= d.Offset && off < d.Offset+d.Length {
			return true
		}
	}
	return false
}

func TestVerifyResumesAndBoundsItsRange(t *testing.T) {
	s := mustOpen(t, testOptions(NewMemFS()))
	defer s.Close()
	rng := rand.New(rand.NewSource(47))
	want := appendBatch(t, s, rng, 0, 150)
	flipByte(s, bodyAt(t, s, want[100]), 0)
	var damaged []DamagedRange
	records := int64(0)
	from, calls := int64(0), 0
	for from < s.MaxPhysicalOffset() {
		rep, err := s.Verify(context.Background(), VerifyOptions{From: from, MaxBytes: 20 << 10})
		if err != nil {
			t.Fatal(err)
		}
		if rep.From != from || rep.To <= from {
			t.Fatalf("verify from %d covered [%d,%d)", from, rep.From, rep.To)
		}
		damaged = append(damaged, rep.Damaged...)
		records += rep.Records
		from, calls = rep.To, calls+1
	}
	if calls < 5 || records != int64(len(want)-1) || len(damaged) != 1 || damaged[0].Offset != want[100].phys {
		t.Fatalf("%d calls, %d records, damaged %+v", calls, records, damaged)
	}
	// A start inside a record moves to the next record.
	rep, err := s.Verify(context.Background(), VerifyOptions{From: want[5].phys + 7, MaxBytes: 1})
	if err != nil || rep.From != want[6].phys {
		t.Fatalf("verify from inside a record started at %d (err %v), want %d", rep.From, err, want[6].phys)
	}
	// The rate bound holds: 40 KiB at 200 KiB/s takes at least 150 ms.
	start := time.Now()
	if _, err := s.Verify(context.Background(), VerifyOptions{MaxBytes: 40 << 10, BytesPerSecond: 200 << 10}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Fatalf("40 KiB verified in %v at a bound of 200 KiB/s", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Verify(ctx, VerifyOptions{BytesPerSecond: 1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("verify with a cancelled context: %v", err)
	}
}

// TestUncleanRecoveryVerifiesBeforeTheCheckpoint damages a record below
// the checkpoint of a store that then dies: recovery reports the range
// (and cuts nothing), and the record is never served.
func TestUncleanRecoveryVerifiesBeforeTheCheckpoint(t *testing.T) {
	mem := NewMemFS()
	s := mustOpen(t, testOptions(mem))
	rng := rand.New(rand.NewSource(53))
	want := appendBatch(t, s, rng, 0, 60)
	waitIndexed(t, s)
	if err := s.FlushQueues(); err != nil {
		t.Fatal(err)
	}
	more := appendBatch(t, s, rng, 60, 5) // past the checkpoint
	flipByte(s, bodyAt(t, s, want[10]), 5)
	s.Sync()
	abandon(s)
	s = mustOpen(t, testOptions(mem.ProcessCrash()))
	defer s.Close()
	rep := s.Recovery()
	if rep.Clean || rep.CutBytes != 0 || rep.ScanFrom != more[0].phys || len(rep.Damaged) != 1 ||
		rep.Damaged[0].Offset != want[10].phys {
		t.Fatalf("recovery %+v: want one damaged range at %d, nothing cut", rep, want[10].phys)
	}
	e, _ := s.ConsumeQueue(want[10].topic, want[10].queueID).Entry(want[10].qoff)
	if _, err := s.ReadRecord(e.CommitLogOffset, e.Size); !errors.Is(err, ErrCorruption) {
		t.Fatalf("damaged record served after recovery: %v", err)
	}
}
