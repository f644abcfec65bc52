package persist

import (
	"context"
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
	Fresh               bool   // nothing was stored before: a new data directory
	Clean               bool   // the previous run shut down cleanly
	CheckpointOK        bool   // a valid checkpoint was found
	ScanFrom            int64  // log offset the scan started at
	LogEnd              int64  // recovered end of the log
	RecordsScanned      int64  // records validated (and re-dispatched)
	CutBytes            int64  // bytes removed from the tail
	CutReason           string // "", "zeroed tail", "torn tail"
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
	// KeyIndexRebuilt: the key index lost files or entries (damage, a
	// crash) and is re-indexed from IndexFrom, below the checkpoint.
	KeyIndexRebuilt bool
	// VerifiedFrom: after an unclean stop, the records from here to
	// ScanFrom (before the checkpoint) were verified too.
	VerifiedFrom int64
	// Damaged lists the damaged stretches recovery found before the end
	// of the log (before the checkpoint or in the scan): they are left in
	// place and never served, and the records around them are kept.
	Damaged []DamagedRange
	// PlaceholderEntries counts queue entries of damaged records that
	// point at the damage (readers refuse them; the queue stays dense).
	PlaceholderEntries int64
	Duration           time.Duration
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
	// An index that lost files or entries at load holds only what precedes
	// its last entry: indexing resumes there.
	indexFloor := s.index.indexedEnd() - 1
	if ok && !s.index.lostAtLoad {
		indexFloor = max(indexFloor, ck.dispatched)
	}
	if err := s.scanLog(ck.dispatched, full, indexFloor); err != nil {
		return err
	}
	if s.index.lostAtLoad {
		s.reindexFrom(indexFloor)
	}
	if err := s.repairQueues(); err != nil {
		return err
	}
	if !rep.Clean && !rep.FullRescan {
		s.verifyBeforeCheckpoint(rep.ScanFrom)
	}
	rep.Fresh = !found && !ok && rep.LogEnd == 0
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
// the queues need a full rebuild) and re-dispatches every valid record.
// Damage in the middle of the log, with valid records after it, is left
// in place, reported and never served (keepDamaged): the records around
// it are acknowledged. Only a tail that nothing valid follows is cut
// (cutTail). Key indexing resumes at the first valid record at or after
// indexFloor.
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
	rep.Damaged, rep.PlaceholderEntries, s.scanDamage = nil, 0, scanDamage{}
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
		next, ok := s.damageEnd(pos, seg, raw, st)
		if !ok {
			return s.cutTail(pos, seg, st, why)
		}
		hole, err := s.keepDamaged(pos, next, seg, raw, why)
		if err != nil {
			return err
		}
		if hole && !full {
			s.log.Warn("persist: consume queue behind its checkpoint; rebuilding from the log start", "at", pos)
			return s.scanLog(minOff, true, indexFloor)
		}
		pos = next
	}
	return s.finishScan(pos)
}

// damageEnd tells a damaged stretch of the log from its tail: it returns
// where the damage at pos ends, the next record that proves itself in the
// segment or, when later segments exist, the segment's end; ok is false
// when nothing valid follows (the tail, which cutTail cuts). A zero record
// followed by maxRecordProbe zero bytes is the end of the written log.
func (s *Store) damageEnd(pos int64, seg *segment, rest []byte, st recordStatus) (next int64, ok bool) {
	segs := s.cl.segs.Load().segs
	laterSegments := segs[len(segs)-1].base > seg.base
	if st == recordZero && isZero(rest[:min(len(rest), maxRecordProbe)]) && !laterSegments {
		return 0, false
	}
	if n, found := findResync(rest, pos); found {
		return n, true
	}
	return seg.end(), laterSegments
}

// scanDamage is what a recovery scan learned of the damage it passed.
type scanDamage struct {
	bytes       int64 // damaged bytes passed so far
	last        DamagedRange
	placeholder int64 // queue entries the damage can still account for
}

// keepDamaged records the damaged stretch [pos, next) and leaves it in
// the log. A record whose header is intact and whose body fails its
// checksum keeps its queue entry (readers refuse it); the queue offsets
// of records whose header is damaged too are filled, in a full rescan,
// with placeholder entries pointing at the damage (redispatch). It
// reports a hole as redispatch does.
func (s *Store) keepDamaged(pos, next int64, seg *segment, rest []byte, why string) (hole bool, err error) {
	rep := &s.recovery
	d := DamagedRange{Segment: segmentName(seg.base), Offset: pos, Length: next - pos, Reason: why}
	if d.Reason == "" {
		d.Reason = "zeroed bytes where a record was expected"
	}
	if len(rep.Damaged) < maxDamagedRanges {
		rep.Damaged = append(rep.Damaged, d)
	}
	s.log.Error("persist: damaged records in the commit log; kept in place and never served, the records after them are kept",
		"segment", d.Segment, "offset", d.Offset, "bytes", d.Length, "reason", d.Reason)
	s.scanDamage.bytes += d.Length
	s.scanDamage.last = d
	s.scanDamage.placeholder += d.Length/minRecordSize + 1
	if rv, st, _ := parseRecord(rest[:d.Length], pos, false); st == recordOK && int64(rv.Size()) == d.Length {
		s.scanDamage.placeholder--
		return s.redispatch(&rv, pos)
	}
	return false, nil
}

// fillPlaceholders gives the queue offsets [from, to), whose records the
// scan found damaged, entries pointing at the damage so that the queue
// stays dense; readers refuse them. It reports false when the damage
// passed cannot account for that many records.
func (s *Store) fillPlaceholders(q *ConsumeQueue, from, to int64) (bool, error) {
	d := &s.scanDamage
	if d.bytes == 0 || to-from > d.placeholder {
		return false, nil
	}
	for off := from; off < to; off++ {
		e := CQEntry{CommitLogOffset: d.last.Offset, Size: int32(min(d.last.Length, 1<<30))}
		if err := q.put(off, e); err != nil {
			return false, err
		}
	}
	d.placeholder -= to - from
	s.recovery.PlaceholderEntries += to - from
	s.log.Warn("persist: queue entries of damaged records point at the damage", "topic", q.topic, "queue", q.queueID,
		"from", from, "to", to)
	return true, nil
}

// cutTail classifies what lies at pos, the end of the valid log, and
// truncates the log there: a clean end (zeroes and nothing after), a
// zeroed tail (zeroes followed by leftover bytes) or a torn tail (a
// partial record at the end).
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
	oldEnd := pos + int64(lastNonZero+1)
	switch {
	case st == recordZero && lastNonZero < 0:
		return s.finishScan(pos) // the clean end of the log
	case st == recordZero:
		rep.CutReason = "zeroed tail"
	default:
		rep.CutReason = "torn tail"
	}
	rep.CutBytes = oldEnd - pos
	s.log.Warn("persist: cut commit log", "reason", rep.CutReason, "at", pos,
		"segment", segmentName(seg.base), "bytes", rep.CutBytes, "detail", why)
	if err := s.cl.truncate(pos, oldEnd); err != nil {
		return err
	}
	return s.finishScan(pos)
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

// verifyBeforeCheckpoint checks the last recoveryVerifyBytes of the log
// before the scan's start (after an unclean stop; the scan checked
// everything after it) and reports damaged ranges. It cuts nothing: the
// records around them are acknowledged, and readers refuse the damaged
// ones anyway.
func (s *Store) verifyBeforeCheckpoint(scanFrom int64) {
	from := max(s.cl.minOffset(), scanFrom-recoveryVerifyBytes)
	if from >= scanFrom {
		return
	}
	rep, err := s.Verify(context.Background(), VerifyOptions{From: from, MaxBytes: scanFrom - from})
	s.recovery.VerifiedFrom = rep.From
	s.recovery.Damaged = append(s.recovery.Damaged, rep.Damaged...)
	if err != nil {
		s.log.Warn("persist: verify before the checkpoint", "err", err)
	}
	for _, d := range rep.Damaged {
		s.log.Error("persist: damaged range before the checkpoint; its records are not served",
			"segment", d.Segment, "offset", d.Offset, "bytes", d.Length, "reason", d.Reason)
	}
}

// reindexFrom moves the indexer back to the record at floor (the last
// one the key index kept, -1 for none) when the scan, which starts at the
// checkpoint, began past it. The checkpoint follows the indexer down at
// the flush that ends recovery, so a crash during the rebuild resumes it.
func (s *Store) reindexFrom(floor int64) {
	from := max(floor, s.cl.minOffset())
	if from >= s.indexPos {
		return
	}
	s.log.Warn("persist: key index lost entries; re-indexing them from the commit log",
		"from", from, "to", s.recovery.LogEnd)
	s.indexPos = from // recovery runs before the indexer starts
	s.indexed.Store(from)
	s.recovery.IndexFrom = from
	s.recovery.KeyIndexRebuilt = true
}

// redispatch writes the consume-queue entry of a recovered record (the
// background indexer re-indexes it if needed). It reports a hole when the queue ends before the record's queue
// offset (its files were lost).
func (s *Store) redispatch(rv *RecordView, pos int64) (hole bool, err error) {
	if err := checkQueueName(string(rv.Topic())); err != nil {
		s.log.Warn("persist: record not dispatched to a consume queue", "at", pos, "err", err)
		return false, nil
	}
	q := s.queueFor(string(rv.Topic()), rv.QueueID())
	qoff := rv.QueueOffset()
	max := q.MaxOffset()
	switch {
	case qoff > max && max == 0 && len(q.segs.Load().segs) == 0:
		q.startAt(qoff)
	case qoff > max:
		// A hole. In a full rescan the queue has seen every record of the
		// log before this one, so the missing ones are in damage passed.
		if !s.recovery.FullRescan {
			return true, nil
		}
		if filled, err := s.fillPlaceholders(q, max, qoff); err != nil || !filled {
			return true, err
		}
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
	if r.Fresh {
		s.log.Info("persist: new store", "dir", s.opts.Dir)
		return
	}
	s.log.Info("persist: store recovered", "clean", r.Clean, "scanFrom", r.ScanFrom, "logEnd", r.LogEnd,
		"records", r.RecordsScanned, "cutBytes", r.CutBytes, "cutReason", r.CutReason,
		"queueEntriesDropped", r.QueueEntriesDropped, "fullRescan", r.FullRescan,
		"pageCacheIntact", r.PageCacheIntact, "keyIndexEntriesRead", r.KeyIndexEntriesRead,
		"indexFrom", r.IndexFrom, "keyIndexRebuilt", r.KeyIndexRebuilt,
		"verifiedFrom", r.VerifiedFrom, "damagedRanges", len(r.Damaged), "placeholderEntries", r.PlaceholderEntries, "took", r.Duration)
}
