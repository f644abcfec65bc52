package persist

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Replication support: a master ships its commit log byte for byte and a
// replica appends the same bytes at the same offsets, so the two logs are
// byte-identical up to the replicated offset (RocketMQ's HA model).
//
//   - ReadRaw (master, any goroutine) returns whole records from an offset,
//     up to the end of what the writer has handed to the file. It never
//     crosses a segment: a segment's closing blank record is shipped as its
//     8-byte header alone, since the rest of it is the zeroes of the
//     preallocated file on both sides.
//   - AppendReplicated (replica, writer role) checks each record's
//     structure, physical offset and body checksum, requires the offset to
//     be the local end, writes the bytes, syncs them when asked, publishes
//     them and dispatches their consume-queue entries with the code
//     recovery uses (redispatch), so queues, the key index (background
//     indexer) and everything derived from queues are rebuilt exactly as
//     after a crash.
//   - TruncateTo (writer role) cuts the log, the consume queues and the key
//     index at a record boundary, for a fenced old master rejoining as a
//     replica. The checkpoint is lowered first, so a crash half-way leaves
//     a log that recovery re-dispatches in full, never a gap.
//
// Both replicas and masters must use the same SegmentSize: segment
// boundaries are part of the bytes (the blank records), and a replica
// refuses a blank record that does not end its own segment.

// ErrReplicaGap: replicated bytes do not start at the local end of the log.
var ErrReplicaGap = errors.New("persist: replicated bytes do not start at the log end")

// WrittenOffset is the end of the log as handed to the file: every byte
// below it may be read with ReadRaw, including records not yet published.
func (s *Store) WrittenOffset() int64 { return s.written.Load() }

// ReadRaw returns whole stored records starting at from, a record
// boundary, at most maxBytes of them (always at least one record), all
// within one segment and below WrittenOffset. A segment's closing blank
// record comes alone as its 8-byte header. It returns nil when from is the
// written end. The slice aliases the mapped log and stays valid at least
// ReadGrace after retention deletes its segment.
func (s *Store) ReadRaw(from int64, maxBytes int) ([]byte, error) {
	end := s.written.Load()
	if from == end {
		return nil, nil
	}
	if from > end || from < s.cl.minOffset() {
		return nil, fmt.Errorf("persist: raw read at %d outside [%d,%d): %w", from, s.cl.minOffset(), end, ErrOffsetOutOfRange)
	}
	raw, seg := s.cl.rawAt(from)
	if seg == nil {
		return nil, fmt.Errorf("persist: raw read at %d: no segment: %w", from, ErrOffsetOutOfRange)
	}
	limit := int(min(end, seg.end()) - from)
	n := 0
	for n+8 <= limit {
		size := int(binary.BigEndian.Uint32(raw[n:]))
		magic := binary.BigEndian.Uint32(raw[n+4:])
		if magic == MagicBlank {
			if n == 0 {
				return raw[:blankRecordSize:blankRecordSize], nil
			}
			break
		}
		if magic != MagicMessage || size < minRecordSize || n+size > limit {
			if n == 0 {
				return nil, fmt.Errorf("persist: raw read at %d: no record boundary (size %d, magic %#08x): %w", from, size, magic, ErrCorruption)
			}
			break
		}
		if n > 0 && n+size > maxBytes {
			break
		}
		n += size
	}
	return raw[:n:n], nil
}

// replicatedRecord is one record of a replicated chunk, as staged.
type replicatedRecord struct {
	pos  int64
	size int
}

// AppendReplicated appends data, whole records read with ReadRaw from a
// master, at offset, which must be the local end of the log (or anything,
// for an empty log: a replica of a master whose oldest segments are gone
// starts at the master's first offset). With sync the bytes are made
// durable before they are published. The records are dispatched to their
// consume queues; the returned slice, valid until the next call, lists
// them. Writer role only, with nothing appended and unpublished.
func (s *Store) AppendReplicated(offset int64, data []byte, sync bool) ([]Dispatched, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if len(s.pending) > 0 {
		return nil, fmt.Errorf("persist: replicated append with %d unpublished appends", len(s.pending))
	}
	if err := s.alignReplica(offset); err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, nil
	}
	records, err := s.stageReplicated(offset, data)
	if err == nil {
		err = s.cl.write()
	}
	if err == nil && sync {
		p := s.PrepareSync()
		err = p.Run()
		s.FinishSync(p, err)
	}
	if err != nil {
		if terr := s.cl.truncate(offset, s.cl.writePos); terr != nil {
			err = errors.Join(err, terr)
		}
		return nil, err
	}
	return s.publishReplicated(records)
}

// alignReplica checks that offset is the log end; an empty log moves its
// end there.
func (s *Store) alignReplica(offset int64) error {
	if offset == s.cl.writePos {
		return nil
	}
	if len(s.cl.segs.Load().segs) > 0 || offset < 0 {
		return fmt.Errorf("persist: replicated bytes at %d, log ends at %d: %w", offset, s.cl.writePos, ErrReplicaGap)
	}
	s.log.Info("persist: empty log starts at the master's offset", "offset", offset)
	s.cl.writePos, s.cl.syncedPos = offset, offset
	s.cl.published.Store(offset)
	s.durableEnd.Store(offset)
	s.dispatched.Store(offset)
	s.written.Store(offset)
	s.indexMu.Lock()
	s.setIndexPosLocked(offset)
	s.indexMu.Unlock()
	return nil
}

// stageReplicated validates the records of data and stages them at the
// tail; the caller writes them out or truncates them away.
func (s *Store) stageReplicated(offset int64, data []byte) ([]replicatedRecord, error) {
	var records []replicatedRecord
	pos := offset
	for i := 0; i < len(data); {
		b := data[i:]
		if len(b) >= blankRecordSize && binary.BigEndian.Uint32(b[4:]) == MagicBlank {
			if err := s.stageReplicatedBlank(pos, b); err != nil {
				return nil, err
			}
			pos = s.cl.writePos
			i += blankRecordSize
			continue
		}
		rv, st, why := parseRecord(b, pos, true)
		if st != recordOK {
			if why == "" {
				why = "not a message record"
			}
			return nil, fmt.Errorf("persist: replicated record at %d: %s: %w", pos, why, ErrCorruption)
		}
		size := rv.Size()
		buf, phys, err := s.cl.reserve(size)
		if err != nil {
			return nil, err
		}
		if phys != pos {
			return nil, fmt.Errorf("persist: replicated record of %d bytes at %d lands at %d here (segment sizes differ?): %w", size, pos, phys, ErrCorruption)
		}
		copy(buf, b[:size])
		records = append(records, replicatedRecord{pos: pos, size: size})
		pos += int64(size)
		i += size
	}
	return records, nil
}

// stageReplicatedBlank closes the current segment as the master did: the
// blank record must end the chunk and end this replica's segment.
func (s *Store) stageReplicatedBlank(pos int64, b []byte) error {
	size := int64(binary.BigEndian.Uint32(b))
	if len(b) != blankRecordSize {
		return fmt.Errorf("persist: replicated blank record at %d does not end its chunk: %w", pos, ErrCorruption)
	}
	seg := s.cl.segs.Load().find(pos)
	if seg == nil || pos+size != seg.end() {
		segEnd := int64(-1)
		if seg != nil {
			segEnd = seg.end()
		}
		return fmt.Errorf("persist: replicated blank record [%d,+%d) but the local segment ends at %d (segment sizes differ?): %w",
			pos, size, segEnd, ErrCorruption)
	}
	return s.cl.writeBlank(seg)
}

// publishReplicated makes written replicated records visible and
// dispatches them to their consume queues.
func (s *Store) publishReplicated(records []replicatedRecord) ([]Dispatched, error) {
	end := s.cl.writePos
	s.written.Store(end)
	s.cl.published.Store(end)
	if len(s.next) > 0 {
		clear(s.next) // queue offsets come from the queues again
	}
	s.out = s.out[:0]
	var firstErr error
	for _, r := range records {
		raw, _ := s.cl.rawAt(r.pos)
		rv, st, why := parseRecord(raw[:r.size], r.pos, false)
		if st != recordOK {
			return s.out, fmt.Errorf("persist: replicated record at %d changed: %s: %w", r.pos, why, ErrCorruption)
		}
		hole, err := s.redispatch(&rv, r.pos)
		if err == nil && hole {
			err = fmt.Errorf("persist: replicated record at %d leaves a hole in queue %s-%d at %d: %w",
				r.pos, rv.Topic(), rv.QueueID(), rv.QueueOffset(), ErrCorruption)
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		s.out = append(s.out, Dispatched{Topic: string(rv.Topic()), QueueID: rv.QueueID(), QueueOffset: rv.QueueOffset(),
			PhysOffset: r.pos, Size: int32(r.size), TagsCode: s.lastTagsCode(&rv)})
	}
	s.dispatched.Store(end)
	s.stats.appends.Add(int64(len(records)))
	s.wakeIndexer()
	return s.out, firstErr
}

// lastTagsCode is the tag code redispatch stored for rv.
func (s *Store) lastTagsCode(rv *RecordView) int64 {
	if s.opts.RecoverTagsCode != nil {
		if code, ok := s.opts.RecoverTagsCode(rv); ok {
			return code
		}
	}
	return tagsCodeOf(rv.Properties())
}

// TruncateTo cuts the log at offset, a record boundary at or below its
// end, together with every consume-queue entry and key-index entry of the
// records cut. Writer role only, with nothing appended and unpublished.
// The checkpoint is lowered to offset before anything is cut: a crash
// half-way leaves at worst the old log, which recovery dispatches again.
func (s *Store) TruncateTo(offset int64) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if len(s.pending) > 0 {
		return fmt.Errorf("persist: truncate with %d unpublished appends", len(s.pending))
	}
	end := s.cl.writePos
	if offset == end {
		return nil
	}
	if err := s.checkBoundary(offset, end); err != nil {
		return err
	}
	s.log.Warn("persist: truncating the log", "from", offset, "end", end, "bytes", end-offset)
	if err := s.lowerCheckpoint(offset); err != nil {
		return err
	}
	s.dispatched.Store(min(s.dispatched.Load(), offset))
	for _, q := range s.Queues() {
		if _, err := q.truncateToLog(offset); err != nil {
			return fmt.Errorf("persist: truncate queue %s-%d: %w", q.topic, q.queueID, err)
		}
	}
	s.indexMu.Lock()
	err := s.index.truncateFrom(offset)
	if s.indexPos > offset {
		s.setIndexPosLocked(offset)
	}
	s.indexMu.Unlock()
	if err != nil {
		return fmt.Errorf("persist: truncate key index: %w", err)
	}
	if err := s.cl.truncate(offset, end); err != nil {
		return err
	}
	s.written.Store(offset)
	s.durableEnd.Store(min(s.durableEnd.Load(), offset))
	clear(s.next)
	return nil
}

// checkBoundary requires offset to start a record (or a blank) below end.
func (s *Store) checkBoundary(offset, end int64) error {
	if offset > end || offset < s.cl.minOffset() {
		return fmt.Errorf("persist: truncate to %d outside [%d,%d]: %w", offset, s.cl.minOffset(), end, ErrOffsetOutOfRange)
	}
	raw, seg := s.cl.rawAt(offset)
	if seg == nil {
		return fmt.Errorf("persist: truncate to %d: no segment: %w", offset, ErrOffsetOutOfRange)
	}
	if _, st, why := parseRecord(raw, offset, false); st != recordOK && st != recordBlank {
		if why == "" {
			why = "zeroed bytes"
		}
		return fmt.Errorf("persist: truncate to %d: not a record boundary: %s: %w", offset, why, ErrCorruption)
	}
	return nil
}

// lowerCheckpoint makes the checkpoint claim nothing at or past offset.
func (s *Store) lowerCheckpoint(offset int64) error {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	s.indexFlushed = min(s.indexFlushed, offset)
	upTo := min(s.dispatched.Load(), s.durableEnd.Load(), s.indexFlushed, offset)
	return s.ckpt.write(checkpoint{dispatched: upTo, queueCount: int32(len(*s.queues.Load()))})
}
