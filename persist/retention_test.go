package persist

import (
	"errors"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
)

// usageFS reports whatever usage its function says: a full disk without
// filling one.
type usageFS struct {
	*MemFS
	usage func() (total, free uint64)
}

func (u *usageFS) Usage(string) (uint64, uint64, error) {
	total, free := u.usage()
	return total, free, nil
}

// youngStore is a store holding several segments of records stored a
// minute ago, with a retention of an hour; logs go to the returned buffer.
func youngStore(t *testing.T, fsys FS, emergency float64) (*Store, []stored, *testutil.LockedBuffer) {
	t.Helper()
	logs := &testutil.LockedBuffer{}
	now := time.UnixMilli(50_000_000)
	opts := testOptions(fsys)
	opts.Now = func() time.Time { return now }
	opts.RetentionAge = time.Hour
	opts.DiskEmergencyRatio = emergency
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	s := mustOpen(t, opts)
	t.Cleanup(func() { s.Close() })
	rng := rand.New(rand.NewSource(3))
	var want []stored
	for i := 0; len(s.cl.segs.Load().segs) < 4; i++ {
		m := testMessage(rng, i)
		res, err := s.Append(m, now.Add(-time.Minute).UnixMilli())
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, stored{m.Topic, m.QueueID, res.QueueOffset, res.PhysicalOffset, m.Body, ""})
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(); err != nil {
		t.Fatal(err)
	}
	return s, want, logs
}

func TestFullDiskNeverDeletesYoungSegments(t *testing.T) {
	fsys := &usageFS{MemFS: NewMemFS(), usage: func() (uint64, uint64) { return 100 << 30, 1 << 30 }} // 99 % used
	s, want, logs := youngStore(t, fsys, 0)
	n, err := s.EnforceRetention()
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("retention deleted %d segments of minute-old records on a full disk", n)
	}
	verify(t, s, want)
	if !strings.Contains(logs.String(), "level=WARN msg=\"persist: disk filling up\"") ||
		!strings.Contains(logs.String(), "keeping every segment younger than the retention time") {
		t.Fatalf("no warning that the disk is filling and nothing young is deleted:\n%s", logs)
	}
}

func TestDiskEmergencyRatioDeletesYoungSegmentsWithAWarning(t *testing.T) {
	fsys := &usageFS{MemFS: NewMemFS(), usage: func() (uint64, uint64) { return 100 << 30, 1 << 30 }}
	s, want, logs := youngStore(t, fsys, 0.9)
	n, err := s.EnforceRetention()
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || s.Stats().EmergencyDeletes != 3 {
		t.Fatalf("deleted %d segments (%d emergency), want the 3 not being written", n, s.Stats().EmergencyDeletes)
	}
	var kept []stored
	for _, w := range want {
		if w.phys >= s.MinPhysicalOffset() {
			kept = append(kept, w)
		}
	}
	verify(t, s, kept)
	out := logs.String()
	for _, want := range []string{"level=WARN msg=\"persist: deleted commit log segment\" segment=00000000000000000000",
		"disk emergency: 99.0% used", "over the emergency ratio 90.0%", "newest record 1m0s old"} {
		if !strings.Contains(out, want) {
			t.Fatalf("log lacks %q:\n%s", want, out)
		}
	}
}

// TestFreshPreallocationIsNotDiskPressure: a store whose data alone is
// under the emergency ratio must not delete anything because its own
// freshly preallocated files (a segment with one record in it, consume
// queue files, key-index entries) push the raw usage over it.
func TestFreshPreallocationIsNotDiskPressure(t *testing.T) {
	mem := NewMemFS()
	s, want, _ := youngStore(t, mem, 0.8)
	u, err := s.DiskUsage()
	if err != nil {
		t.Fatal(err)
	}
	last := s.cl.segs.Load().last()
	if unwritten := uint64(last.end() - s.MaxPhysicalOffset()); u.Reserved < unwritten {
		t.Fatalf("reserved %d bytes, less than the newest segment's unwritten %d", u.Reserved, unwritten)
	}
	raw := u.Total - u.Free
	// Capacity so that raw usage is 90 % but usage without the
	// reservations is well under 80 %.
	mem.SetCapacity(int64(float64(raw) / 0.9))
	u, _ = s.DiskUsage()
	if rawRatio := float64(u.Total-u.Free) / float64(u.Total); rawRatio < 0.85 || u.Ratio() > 0.8 {
		t.Fatalf("test set-up: raw usage %.2f, without reservations %.2f", rawRatio, u.Ratio())
	}
	if n, err := s.EnforceRetention(); err != nil || n != 0 {
		t.Fatalf("retention deleted %d segments (err %v) for the store's own preallocation", n, err)
	}
	verify(t, s, want)
}

// TestRetentionOnARealFullFilesystem fills a small tmpfs with records
// until the log cannot roll: the appends fail with ErrDiskFull, retention
// deletes nothing young, every record survives a reopen, and once space is
// freed appends resume.
func TestRetentionOnARealFullFilesystem(t *testing.T) {
	root := testutil.SmallFilesystem(t, 24<<20)
	ballast := filepath.Join(root, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := Options{Dir: filepath.Join(root, "store"), SegmentSize: 2 << 20, CQEntriesPerFile: 4096,
		IndexSlotsPerFile: 1 << 12, IndexEntriesPerFile: 1 << 14, QueueFlushInterval: time.Hour,
		RetentionInterval: time.Hour, RetentionAge: time.Hour}
	s := mustOpen(t, opts)
	rng := rand.New(rand.NewSource(5))
	var want []stored
	var full error
	for i := 0; full == nil; i++ {
		m := testMessage(rng, i)
		m.Body = make([]byte, 64<<10)
		rng.Read(m.Body)
		res, err := s.Append(m, time.Now().UnixMilli())
		if err == nil {
			err = s.Sync()
		}
		if err == nil {
			_, err = s.Publish()
		}
		if err != nil {
			full = err
			s.Rollback()
			break
		}
		want = append(want, stored{m.Topic, m.QueueID, res.QueueOffset, res.PhysicalOffset, m.Body, ""})
	}
	if !errors.Is(full, ErrDiskFull) {
		t.Fatalf("filling the disk ended with %v, want ErrDiskFull", full)
	}
	if n, err := s.EnforceRetention(); err != nil || n != 0 {
		t.Fatalf("retention on a full disk deleted %d segments (err %v)", n, err)
	}
	verify(t, s, want)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, opts)
	defer s.Close()
	verify(t, s, want)
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	more := appendBatch(t, s, rng, 100_000, 5)
	verify(t, s, append(want, more...))
	t.Logf("%d records of 64 KiB acknowledged before the disk was full", len(want))
}

// TestFullDiskFailsTheAppendNotThePublish: when the disk has no room for
// a consume queue's next file, the append fails with ErrDiskFull (the
// writer rolls back and refuses the send) instead of the record landing
// in the log without a queue entry. DiskFull reports the condition until
// the space is back.
func TestFullDiskFailsTheAppendNotThePublish(t *testing.T) {
	mem := NewMemFS()
	s := mustOpen(t, testOptions(mem))
	defer s.Close()
	rng := rand.New(rand.NewSource(11))
	want := appendBatch(t, s, rng, 0, 6)
	if err := s.DiskFull(); err != nil {
		t.Fatalf("DiskFull on a roomy disk: %v", err)
	}
	total, free, _ := mem.Usage(testDir)
	mem.SetCapacity(int64(total-free) + 100) // the segment has room, no new file fits
	m := &Message{Topic: "brand-new", Body: []byte("x"), BornHost: Host{IP: []byte{1, 2, 3, 4}}}
	if _, err := s.Append(m, 1); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("append needing a new queue file on a full disk: %v, want ErrDiskFull", err)
	}
	if err := s.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := s.DiskFull(); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("DiskFull after a disk-full append: %v", err)
	}
	more := appendBatch(t, s, rng, 6, 6) // queues with room still take appends
	verify(t, s, append(want, more...))
	mem.SetCapacity(0)
	if err := s.DiskFull(); err != nil {
		t.Fatalf("DiskFull once space is back: %v", err)
	}
	res, err := s.Append(m, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if e, ok := s.ConsumeQueue("brand-new", 0).Entry(0); !ok || e.CommitLogOffset != res.PhysicalOffset {
		t.Fatalf("new queue entry %+v %v", e, ok)
	}
}
