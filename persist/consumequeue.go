package persist

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Consume-queue entry. One per message of a (topic, queue); entry N lives
// at byte N*20 of the queue's segmented file set. Big-endian. Part of the
// format: do not change.
//
//	+------+-----------------+------------------------------------------+
//	| 8    | commitLogOffset | physical offset of the record            |
//	| 4    | size            | record size; 0 never occurs in an entry  |
//	| 8    | tagsCode        | Java String.hashCode(TAGS), or a due time |
//	+------+-----------------+------------------------------------------+
const CQEntrySize = 20

// CQEntry is one decoded consume-queue entry.
type CQEntry struct {
	CommitLogOffset int64
	Size            int32
	TagsCode        int64
}

// ConsumeQueue maps the dense queue offsets of one (topic, queue) to
// records of the commit log. The store's writer appends; readers look up
// [MinOffset, MaxOffset) without locks.
type ConsumeQueue struct {
	topic   string
	queueID int32
	dir     string
	fs      FS
	segSize int64 // bytes per file, a multiple of CQEntrySize

	segs      atomic.Pointer[segmentList]
	maxOffset atomic.Int64 // next offset to be written (published)
	minOffset atomic.Int64
	retire    *retirer

	mu      sync.Mutex // segment-list changes
	flushMu sync.Mutex
	flushed int64 // queue offset up to which entries are durable; flushMu
}

func newConsumeQueue(fsys FS, root, topic string, queueID int32, entriesPerFile int64, retire *retirer) *ConsumeQueue {
	q := &ConsumeQueue{
		topic:   topic,
		queueID: queueID,
		dir:     filepath.Join(root, topic, strconv.Itoa(int(queueID))),
		fs:      fsys,
		segSize: entriesPerFile * CQEntrySize,
		retire:  retire,
	}
	q.segs.Store(&segmentList{})
	return q
}

// Topic is the queue's topic.
func (q *ConsumeQueue) Topic() string { return q.topic }

// QueueID is the queue's id.
func (q *ConsumeQueue) QueueID() int32 { return q.queueID }

// MaxOffset is the next queue offset to be written: entries below it are
// readable.
func (q *ConsumeQueue) MaxOffset() int64 { return q.maxOffset.Load() }

// MinOffset is the first queue offset still stored.
func (q *ConsumeQueue) MinOffset() int64 { return q.minOffset.Load() }

// Entry returns the entry at queue offset off.
func (q *ConsumeQueue) Entry(off int64) (CQEntry, bool) {
	if off < q.minOffset.Load() || off >= q.maxOffset.Load() {
		return CQEntry{}, false
	}
	return q.entryAt(off)
}

func (q *ConsumeQueue) entryAt(off int64) (CQEntry, bool) {
	pos := off * CQEntrySize
	seg := q.segs.Load().find(pos)
	if seg == nil {
		return CQEntry{}, false
	}
	b := seg.data[pos-seg.base:]
	e := CQEntry{
		CommitLogOffset: int64(binary.BigEndian.Uint64(b)),
		Size:            int32(binary.BigEndian.Uint32(b[8:])),
		TagsCode:        int64(binary.BigEndian.Uint64(b[12:])),
	}
	return e, e.Size > 0
}

// load maps the queue's files and finds its end: the first entry whose
// size is not positive. Files after a gap in the sequence are deleted (the
// recovery scan rebuilds them); it reports whether anything was dropped.
func (q *ConsumeQueue) load() (damaged bool, err error) {
	names, err := q.fs.ReadDir(q.dir)
	if err != nil {
		return false, err
	}
	var segs []*segment
	for _, name := range names {
		base, ok := parseSegmentName(name)
		if !ok || base%q.segSize != 0 {
			continue
		}
		if n := len(segs); n > 0 && segs[n-1].end() != base {
			damaged = true
			if err := q.fs.Remove(filepath.Join(q.dir, name)); err != nil {
				return damaged, err
			}
			continue
		}
		s, err := openSegment(q.fs, q.dir, base, q.segSize)
		if err != nil {
			return damaged, err
		}
		segs = append(segs, s)
	}
	q.segs.Store(&segmentList{segs: segs})
	if len(segs) == 0 {
		return damaged, nil
	}
	first := segs[0].base / CQEntrySize
	q.minOffset.Store(first)
	end := q.scanEnd(segs[len(segs)-1])
	q.maxOffset.Store(end)
	q.flushed = end
	return damaged, nil
}

// scanEnd returns the queue offset after the last valid entry of the tail
// file, zeroing anything after the first invalid entry.
func (q *ConsumeQueue) scanEnd(tail *segment) int64 {
	n := int64(len(tail.data)) / CQEntrySize
	i := int64(0)
	for ; i < n; i++ {
		b := tail.data[i*CQEntrySize:]
		if int32(binary.BigEndian.Uint32(b[8:])) <= 0 || int64(binary.BigEndian.Uint64(b)) < 0 {
			break
		}
	}
	if i < n {
		clearNonZero(tail.data[i*CQEntrySize:])
	}
	return tail.base/CQEntrySize + i
}

// clearNonZero zeroes b, writing only the 4 KiB chunks that are not zero
// already: the rest of a tail file is mostly untouched preallocation, and
// clearing it all would dirty (and write back) every page of every queue
// at each start.
func clearNonZero(b []byte) {
	for len(b) > 0 {
		n := min(len(b), len(zeroPage))
		if !bytes.Equal(b[:n], zeroPage[:n]) {
			clear(b[:n])
		}
		b = b[n:]
	}
}

// put writes the entry for queue offset off (writer only). Writing at the
// current end appends; writing below it overwrites (recovery repairs);
// writing beyond it would leave a hole and fails with ErrCorruption.
// mapped reports whether the entry at queue offset off lies in a file that
// is already mapped.
func (q *ConsumeQueue) mapped(off int64) bool {
	return off >= 0 && off <= maxQueueOffset && q.segs.Load().find(off*CQEntrySize) != nil
}

func (q *ConsumeQueue) put(off int64, e CQEntry) error {
	end := q.maxOffset.Load()
	if off > end || off < 0 || off > maxQueueOffset {
		return fmt.Errorf("persist: queue %s-%d: entry %d outside 0..%d: %w", q.topic, q.queueID, off, end, ErrCorruption)
	}
	pos := off * CQEntrySize
	seg, err := q.segmentFor(pos)
	if err != nil {
		return err
	}
	b := seg.data[pos-seg.base:]
	binary.BigEndian.PutUint64(b, uint64(e.CommitLogOffset))
	binary.BigEndian.PutUint32(b[8:], uint32(e.Size))
	binary.BigEndian.PutUint64(b[12:], uint64(e.TagsCode))
	if off == end {
		q.maxOffset.Store(off + 1)
	}
	return nil
}

// unwrittenBytes is the preallocated space of the newest file past the
// queue's end.
func (q *ConsumeQueue) unwrittenBytes() int64 {
	last := q.segs.Load().last()
	if last == nil {
		return 0
	}
	return last.end() - min(last.end(), max(last.base, q.maxOffset.Load()*CQEntrySize))
}

// ensureMapped creates the file that will hold the entry of queue offset
// off, if it is not there yet (writer only).
func (q *ConsumeQueue) ensureMapped(off int64) error {
	if off < 0 || off > maxQueueOffset {
		return fmt.Errorf("persist: queue %s-%d: entry %d outside 0..%d: %w", q.topic, q.queueID, off, int64(maxQueueOffset), ErrCorruption)
	}
	_, err := q.segmentFor(off * CQEntrySize)
	return err
}

// segmentFor returns the file holding byte pos, creating it if needed.
func (q *ConsumeQueue) segmentFor(pos int64) (*segment, error) {
	if seg := q.segs.Load().find(pos); seg != nil {
		return seg, nil
	}
	return q.addSegment(pos - pos%q.segSize)
}

// reset deletes every file of the queue (recovery rebuilds it).
func (q *ConsumeQueue) reset() error {
	q.mu.Lock()
	old := q.segs.Load()
	q.segs.Store(&segmentList{})
	q.mu.Unlock()
	for _, s := range old.segs {
		q.retire.retire(s, time.Now())
		if err := q.fs.Remove(s.path); err != nil {
			return err
		}
	}
	q.minOffset.Store(0)
	q.maxOffset.Store(0)
	return nil
}

// startAt makes an empty queue begin at off (its earlier records were
// deleted from the log before the queue was rebuilt).
func (q *ConsumeQueue) startAt(off int64) {
	q.minOffset.Store(off)
	q.maxOffset.Store(off)
	q.flushMu.Lock()
	q.flushed = off
	q.flushMu.Unlock()
}

func (q *ConsumeQueue) addSegment(base int64) (*segment, error) {
	if err := q.fs.MkdirAll(q.dir, 0o755); err != nil {
		return nil, fmt.Errorf("persist: queue dir %s: %w", q.dir, err)
	}
	seg, err := createSegment(q.fs, q.dir, base, q.segSize)
	if err != nil {
		return nil, err
	}
	q.mu.Lock()
	old := q.segs.Load()
	segs := append(append([]*segment(nil), old.segs...), seg)
	q.segs.Store(&segmentList{segs: segs})
	q.mu.Unlock()
	return seg, nil
}

// truncate drops entries at and after off (writer only).
func (q *ConsumeQueue) truncate(off int64) error {
	end := q.maxOffset.Load()
	if off >= end {
		return nil
	}
	off = max(off, q.minOffset.Load())
	for _, s := range q.segs.Load().segs {
		from, to := max(off*CQEntrySize, s.base), min(end*CQEntrySize, s.end())
		if from < to {
			clear(s.data[from-s.base : to-s.base])
			if err := s.sync(from, to); err != nil {
				return err
			}
		}
	}
	q.maxOffset.Store(off)
	q.flushMu.Lock()
	q.flushed = min(q.flushed, off)
	q.flushMu.Unlock()
	return nil
}

// truncateToLog drops the entries that point at or past logEnd, scanning
// back from the tail.
func (q *ConsumeQueue) truncateToLog(logEnd int64) (dropped int64, err error) {
	end := q.maxOffset.Load()
	off := end
	for off > q.minOffset.Load() {
		e, ok := q.entryAt(off - 1)
		if ok && e.CommitLogOffset+int64(e.Size) <= logEnd {
			break
		}
		off--
	}
	return end - off, q.truncate(off)
}

// flush makes the written entries durable.
func (q *ConsumeQueue) flush() error {
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	end := q.maxOffset.Load()
	if q.flushed >= end {
		return nil
	}
	from, to := q.flushed*CQEntrySize, end*CQEntrySize
	for _, s := range q.segs.Load().segs {
		if s.end() <= from || s.base >= to {
			continue
		}
		if err := s.sync(max(from, s.base), min(to, s.end())); err != nil {
			return fmt.Errorf("persist: flush queue %s-%d: %w", q.topic, q.queueID, err)
		}
	}
	q.flushed = end
	return nil
}

// deleteBelow removes whole files whose entries all point below logMin and
// moves the min offset to the first entry at or above it.
func (q *ConsumeQueue) deleteBelow(logMin int64) (int, error) {
	deleted := 0
	for {
		l := q.segs.Load()
		if len(l.segs) < 2 {
			break
		}
		next := l.segs[1].base / CQEntrySize
		last, ok := q.entryAt(next - 1)
		if !ok || last.CommitLogOffset >= logMin {
			break
		}
		q.mu.Lock()
		q.segs.Store(&segmentList{segs: append([]*segment(nil), l.segs[1:]...)})
		q.mu.Unlock()
		q.minOffset.Store(max(q.minOffset.Load(), next))
		q.retire.retire(l.segs[0], time.Now())
		if err := q.fs.Remove(l.segs[0].path); err != nil {
			return deleted, err
		}
		deleted++
	}
	q.advanceMin(logMin)
	return deleted, nil
}

// advanceMin moves the min offset past entries pointing below logMin.
func (q *ConsumeQueue) advanceMin(logMin int64) {
	lo, hi := q.minOffset.Load(), q.maxOffset.Load()
	for lo < hi { // first entry with CommitLogOffset >= logMin
		mid := lo + (hi-lo)/2
		if e, ok := q.entryAt(mid); ok && e.CommitLogOffset >= logMin {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	q.minOffset.Store(lo)
}

func (q *ConsumeQueue) close() error {
	var first error
	for _, s := range q.segs.Load().segs {
		if err := s.close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
