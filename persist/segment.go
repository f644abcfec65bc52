package persist

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// segment is one preallocated, mapped file of a segmented log (the commit
// log or a consume queue), named by the 20-digit zero-padded offset of its
// first byte.
type segment struct {
	base    int64
	size    int64
	path    string
	file    File
	mapping Mapping
	data    []byte
}

func segmentName(base int64) string { return fmt.Sprintf("%020d", base) }

func parseSegmentName(name string) (int64, bool) {
	if len(name) != 20 {
		return 0, false
	}
	v, err := strconv.ParseInt(name, 10, 64)
	return v, err == nil && v >= 0
}

// createSegment creates, preallocates and maps a new segment. Space is
// reserved before the mapping exists, so a full disk surfaces here as
// ErrDiskFull and never as SIGBUS on a mapped write.
func createSegment(fsys FS, dir string, base, size int64) (*segment, error) {
	if err := haveRoom(fsys, dir, size); err != nil {
		return nil, fmt.Errorf("persist: segment %s: %w", segmentName(base), err)
	}
	path := filepath.Join(dir, segmentName(base))
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("persist: create segment %s: %w", path, err)
	}
	if err := f.Allocate(size); err != nil {
		f.Close()
		fsys.Remove(path)
		return nil, fmt.Errorf("persist: segment %s: %w", segmentName(base), err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("persist: sync dir for segment %s: %w", segmentName(base), err)
	}
	return mapSegment(f, path, base, size)
}

// haveRoom fails with ErrDiskFull when the file system holding dir has
// less than size bytes free. Checking first keeps a doomed fallocate from
// taking the free space for the moment it runs, when another file's
// creation (a commit-log roll beside a key-index file) would fail too.
// An unknown usage passes: the allocation itself still decides.
func haveRoom(fsys FS, dir string, size int64) error {
	_, free, err := fsys.Usage(dir)
	if err != nil || free >= uint64(size) {
		return nil
	}
	return fmt.Errorf("persist: %d bytes free, a new file needs %d: %w", free, size, ErrDiskFull)
}

// openSegment maps an existing segment, extending it to size when a crash
// left it short.
func openSegment(fsys FS, dir string, base, size int64) (*segment, error) {
	path := filepath.Join(dir, segmentName(base))
	f, err := fsys.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("persist: open segment %s: %w", path, err)
	}
	cur, err := f.Size()
	if err == nil && cur < size {
		err = f.Allocate(size)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("persist: segment %s: %w", segmentName(base), err)
	}
	return mapSegment(f, path, base, size)
}

func mapSegment(f File, path string, base, size int64) (*segment, error) {
	m, err := f.Map(int(size))
	if err != nil {
		f.Close()
		return nil, err
	}
	return &segment{base: base, size: size, path: path, file: f, mapping: m, data: m.Bytes()}, nil
}

func (s *segment) end() int64 { return s.base + s.size }

// sync makes [from, to) (absolute offsets inside the segment) durable.
func (s *segment) sync(from, to int64) error {
	if to <= from {
		return nil
	}
	return s.mapping.Sync(int(from-s.base), int(to-from))
}

func (s *segment) close() error {
	err := s.mapping.Unmap()
	if cerr := s.file.Close(); err == nil {
		err = cerr
	}
	return err
}

// segmentList is an immutable snapshot of a log's segments, oldest first,
// published through an atomic pointer so readers never lock.
type segmentList struct {
	segs []*segment
}

// find returns the segment holding offset, or nil.
func (l *segmentList) find(offset int64) *segment {
	if l == nil || len(l.segs) == 0 {
		return nil
	}
	first := l.segs[0]
	if offset < first.base {
		return nil
	}
	i := int((offset - first.base) / first.size)
	if i < len(l.segs) && l.segs[i].base <= offset && offset < l.segs[i].end() {
		return l.segs[i]
	}
	for _, s := range l.segs { // sizes changed between runs: fall back to a scan
		if s.base <= offset && offset < s.end() {
			return s
		}
	}
	return nil
}

func (l *segmentList) last() *segment {
	if l == nil || len(l.segs) == 0 {
		return nil
	}
	return l.segs[len(l.segs)-1]
}

// retirer unmaps segments that left a segment list only after a grace
// period, so a reader holding a slice of the mapping (a pull response being
// written out) never touches unmapped memory.
type retirer struct {
	mu           sync.Mutex
	pending      []retired
	pendingBytes atomic.Int64 // sizes of the pending segments
	grace        time.Duration
}

type retired struct {
	seg *segment
	at  time.Time
}

func (r *retirer) retire(s *segment, now time.Time) {
	r.mu.Lock()
	r.pending = append(r.pending, retired{seg: s, at: now})
	r.pendingBytes.Add(s.size)
	r.mu.Unlock()
}

// reap closes segments retired longer than the grace period ago (all of
// them when force is set).
func (r *retirer) reap(now time.Time, force bool) {
	r.mu.Lock()
	keep := r.pending[:0]
	var done []*segment
	for _, p := range r.pending {
		if force || now.Sub(p.at) >= r.grace {
			done = append(done, p.seg)
			r.pendingBytes.Add(-p.seg.size)
		} else {
			keep = append(keep, p)
		}
	}
	r.pending = keep
	r.mu.Unlock()
	for _, s := range done {
		s.close()
	}
}
