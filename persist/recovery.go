package persist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// RecoveryReport says what Open found and what it repaired.
type RecoveryReport struct {
	Clean               bool   // the previous run shut down cleanly
	CheckpointOK        bool   // a valid checkpoint was found
	ScanFrom            int64  // log offset the scan started at
	LogEnd              int64  // recovered end of the log
	RecordsScanned      int64  // records validated (and re-dispatched)
	CutBytes            int64  // bytes removed from the tail
	CutReason           string // "", "zeroed tail", "torn tail", "corruption"
	QueueEntriesDropped int64  // consume-queue entries that pointed past the log end
	FullRescan          bool   // queues were damaged and rebuilt from the log start
	// PageCacheIntact: the previous process died on this boot of the
	// machine, so the key index was repaired from its last flush on.
	PageCacheIntact bool
	// KeyIndexEntriesRead counts the key-index entries read to repair it.
	KeyIndexEntriesRead int64
	// IndexFrom is the log offset the key index resumes from: the records
	// from there to LogEnd are indexed in the background after Open.
	IndexFrom int64
	Duration  time.Duration
}

// maxRecordProbe bounds how far past a bad record recovery looks for
// further data, to tell a torn tail from corruption in the middle.
const maxRecordProbe = 4<<20 + 64<<10

func (s *Store) recover() error {
	start := time.Now()
	rep := &s.recovery
	bootID, found := s.readAbortMarker()
	rep.Clean = !found
	rep.PageCacheIntact = found && bootID != "" && bootID == s.fs.BootID()
	if err := s.cl.load(); err != nil {
		return err
	}
	ck, ok, err := s.ckpt.read()
	if err != nil {
		return err
	}
	rep.CheckpointOK = ok
	rep.Clean = rep.Clean && ok && ck.clean
	s.indexFlushed = ck.dispatched // known durable in the index; the first flush moves it on
	damaged, err := s.loadQueues()
	if err != nil {
		return err
	}
	if s.index, err = openKeyIndex(s.fs, filepath.Join(s.opts.Dir, "index"), keyIndexOptions{
		SlotsPerFile: s.opts.IndexSlotsPerFile, EntriesPerFile: s.opts.IndexEntriesPerFile,
		PageCacheIntact: rep.PageCacheIntact, Logger: s.log,
	}); err != nil {
		return err
	}
	rep.KeyIndexEntriesRead = s.index.openScanned
	full := damaged || !ok || int(ck.queueCount) > len(*s.queues.Load())
	// The index holds every record below the checkpoint and every record
	// before its last entry; indexing resumes at the first record past both.
	indexFloor := s.index.indexedEnd() - 1
	if ok {
		indexFloor = max(indexFloor, ck.dispatched)
	}
	if err := s.scanLog(ck.dispatched, full, indexFloor); err != nil {
		return err
	}
	if err := s.repairQueues(); err != nil {
		return err
	}
	rep.Duration = time.Since(start)
	s.logRecovery()
	if err := s.FlushQueues(); err != nil {
		return err
	}
	return s.writeAbortMarker()
}

// loadQueues maps every consume queue found on disk.
func (s *Store) loadQueues() (damaged bool, err error) {
	root := s.queueDir()
	if err := s.fs.MkdirAll(root, 0o755); err != nil {
		return false, err
	}
	topics, err := s.fs.ReadDir(root)
	if err != nil {
		return false, err
	}
	for _, topic := range topics {
		ids, err := s.fs.ReadDir(filepath.Join(root, topic))
		if err != nil {
			continue // a stray file
		}
		for _, idName := range ids {
			id, err := strconv.ParseInt(idName, 10, 32)
			if err != nil {
				continue
			}
			q := s.queueFor(topic, int32(id))
			d, err := q.load()
			if err != nil {
				return damaged, fmt.Errorf("persist: load queue %s-%d: %w", topic, id, err)
			}
			// A queue directory exists only once its first file was
			// created, so an empty one lost its files.
			damaged = damaged || d || len(q.segs.Load().segs) == 0
		}
	}
	return damaged, nil
}

// scanLog validates the log from the checkpoint (or from its start when
// the queues need a full rebuild), re-dispatches every valid record, and
// cuts the log at the first record that is not valid. Key indexing resumes
// at the first valid record at or after indexFloor.
func (s *Store) scanLog(from int64, full bool, indexFloor int64) error {
	rep := &s.recovery
	minOff := s.cl.minOffset()
	last := s.cl.segs.Load().last()
	if full || from < minOff || last == nil || from > last.end() {
		from = minOff
		full = true
	}
	rep.FullRescan = full
	rep.ScanFrom = from
	s.indexPos = -1
	pos := from
	s.cl.published.Store(1 << 62) // recovery reads below any end
	for {
		raw, seg := s.cl.rawAt(pos)
		if seg == nil {
			break
		}
		rv, st, why := parseRecord(raw, pos, true)
		switch st {
		case recordOK:
			hole, err := s.redispatch(&rv, pos)
			if err != nil {
				return err
			}
			if hole && !full {
				s.log.Warn("persist: consume queue behind its checkpoint; rebuilding from the log start", "at", pos)
				return s.scanLog(minOff, true, indexFloor)
			}
			if s.indexPos < 0 && pos >= indexFloor && !s.recordFullyIndexed(&rv, pos) {
				s.indexPos = pos
			}
			rep.RecordsScanned++
			pos += int64(rv.Size())
			continue
		case recordBlank:
			pos = seg.end()
			continue
		}
		return s.cutTail(pos, seg, st, why)
	}
	return s.finishScan(pos)
}

// cutTail classifies what lies at pos and truncates the log there: a
// clean end (zeroes and nothing after), a zeroed tail (zeroes followed by
// leftover bytes), a torn tail (a partial record at the end) or corruption
// (a bad record with valid data after it).
func (s *Store) cutTail(pos int64, seg *segment, st recordStatus, why string) error {
	rep := &s.recovery
	rest := seg.data[pos-seg.base:]
	probe := rest[:min(len(rest), maxRecordProbe)]
	lastNonZero := -1
	for i := len(probe) - 1; i >= 0; i-- {
		if probe[i] != 0 {
			lastNonZero = i
			break
		}
	}
	segs := s.cl.segs.Load().segs
	laterSegments := segs[len(segs)-1].base > seg.base
	oldEnd := pos + int64(lastNonZero+1)
	switch {
	case laterSegments || validRecordFollows(rest, pos):
		rep.CutReason = "corruption"
		oldEnd = seg.end()
	case st == recordZero && lastNonZero < 0:
		return s.finishScan(pos) // the clean end of the log
	case st == recordZero:
		rep.CutReason = "zeroed tail"
	default:
		rep.CutReason = "torn tail"
	}
	rep.CutBytes = oldEnd - pos
	for _, l := range segs {
		if l.base > seg.base {
			rep.CutBytes += l.size
		}
	}
	logFn := s.log.Warn
	if rep.CutReason == "corruption" {
		logFn = s.log.Error
	}
	logFn("persist: cut commit log", "reason", rep.CutReason, "at", pos,
		"segment", segmentName(seg.base), "bytes", rep.CutBytes, "detail", why)
	if err := s.cl.truncate(pos, oldEnd); err != nil {
		return err
	}
	return s.finishScan(pos)
}

// validRecordFollows reports whether a valid record starts right after the
// bad one at the start of rest, judging by its claimed size.
func validRecordFollows(rest []byte, pos int64) bool {
	if len(rest) < 8 {
		return false
	}
	size := int(binary.BigEndian.Uint32(rest))
	if size < minRecordSize || size+8 > len(rest) {
		return false
	}
	_, st, _ := parseRecord(rest[size:], pos+int64(size), true)
	return st == recordOK
}

func (s *Store) finishScan(end int64) error {
	if s.indexPos < 0 || s.indexPos > end {
		s.indexPos = end
	}
	s.indexed.Store(s.indexPos)
	s.recovery.IndexFrom = s.indexPos
	s.cl.writePos = end
	s.cl.syncedPos = end
	s.cl.published.Store(end)
	s.durableEnd.Store(end)
	s.dispatched.Store(end)
	s.written.Store(end)
	s.recovery.LogEnd = end
	return nil
}

// redispatch writes the consume-queue entry of a recovered record (the
// background indexer re-indexes it if needed). It reports a hole when the queue ends before the record's queue
// offset (its files were lost).
func (s *Store) redispatch(rv *RecordView, pos int64) (hole bool, err error) {
	q := s.queueFor(string(rv.Topic()), rv.QueueID())
	qoff := rv.QueueOffset()
	max := q.MaxOffset()
	switch {
	case qoff > max && max == 0 && len(q.segs.Load().segs) == 0:
		q.startAt(qoff)
	case qoff > max:
		return true, nil
	case qoff < q.MinOffset():
		// The queue lost its head: rebuild it from this record on, but
		// only in a full rescan, which sees its records from the start.
		if !s.recovery.FullRescan {
			return true, nil
		}
		if err := q.reset(); err != nil {
			return false, err
		}
		q.startAt(qoff)
	case qoff < max:
		if e, ok := q.entryAt(qoff); ok && e.CommitLogOffset == pos {
			return false, nil
		}
		if err := q.truncate(qoff); err != nil {
			return false, err
		}
	}
	entry := CQEntry{CommitLogOffset: pos, Size: int32(rv.Size()), TagsCode: tagsCodeOf(rv.Properties())}
	if s.opts.RecoverTagsCode != nil {
		if code, ok := s.opts.RecoverTagsCode(rv); ok {
			entry.TagsCode = code
		}
	}
	return false, q.put(qoff, entry)
}

// readAbortMarker returns the boot id in the abort marker and whether
// there is one (the previous run did not close the store). A marker that
// cannot be read counts as one from an unknown boot.
func (s *Store) readAbortMarker() (bootID string, found bool) {
	f, err := s.fs.OpenFile(s.abortPath(), os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	if err != nil {
		s.log.Warn("persist: abort marker unreadable", "err", err)
		return "", true
	}
	defer f.Close()
	buf := make([]byte, 256)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		s.log.Warn("persist: abort marker unreadable", "err", err)
		return "", true
	}
	_, bootID, _ = strings.Cut(string(buf[:n]), " ")
	return strings.TrimSpace(bootID), true
}

// repairQueues drops consume-queue and index entries pointing past the
// recovered log end and moves min offsets past deleted log segments.
func (s *Store) repairQueues() error {
	end, minOff := s.cl.writePos, s.cl.minOffset()
	for _, q := range s.Queues() {
		n, err := q.truncateToLog(end)
		if err != nil {
			return err
		}
		if n > 0 {
			s.log.Warn("persist: consume queue ahead of the log; truncated", "topic", q.topic, "queue", q.queueID, "entries", n)
		}
		s.recovery.QueueEntriesDropped += n
		q.advanceMin(minOff)
	}
	return s.index.truncateFrom(end)
}

func (s *Store) logRecovery() {
	r := s.recovery
	s.log.Info("persist: store recovered", "clean", r.Clean, "scanFrom", r.ScanFrom, "logEnd", r.LogEnd,
		"records", r.RecordsScanned, "cutBytes", r.CutBytes, "cutReason", r.CutReason,
		"queueEntriesDropped", r.QueueEntriesDropped, "fullRescan", r.FullRescan,
		"pageCacheIntact", r.PageCacheIntact, "keyIndexEntriesRead", r.KeyIndexEntriesRead,
		"indexFrom", r.IndexFrom, "took", r.Duration)
}
