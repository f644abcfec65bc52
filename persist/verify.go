package persist

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"
)

// No record whose checksum fails reaches a reader. ReadRecord (the pull
// path) and RecordAt (view by offset, query by key, the broker's own
// readers) check each record's structure and body CRC before returning
// it; the body CRC is CRC-32/IEEE, the RocketMQ field, which hash/crc32
// computes with the CPU's carry-less multiply, a small cost beside the
// copy a pull makes anyway (persist's BenchmarkReadRecord measures it). A
// record that fails is counted (Stats.CorruptRecords), logged with its
// range at most once per corruptLogInterval, and answered with an error
// wrapping ErrCorruption; the caller decides what the client sees (a pull
// skips it, a view reports it).
//
// Verify is the scrub: it walks a range of the log at a bounded rate,
// checks every record and reports the damaged ranges, resynchronising
// after each one on the next record that proves itself (magic, its own
// offset in its PHYSICALOFFSET field, a good checksum). After an unclean
// stop, recovery verifies the last recoveryVerifyBytes before the
// checkpoint the same way (the records after it are checked anyway).

// corruptLogInterval rate-limits the log line for damaged records read.
const corruptLogInterval = time.Second

// recoveryVerifyBytes is how much of the log before the checkpoint an
// unclean recovery verifies.
const recoveryVerifyBytes = 16 << 20

// verifyChunk is how much Verify checks between two looks at the clock
// (rate) and at the store (closed, retention).
const verifyChunk = 1 << 20

// maxDamagedRanges bounds the ranges one Verify lists.
const maxDamagedRanges = 1000

// ReadRecord returns the stored bytes of the record of size bytes at phys,
// zero-copy, once its structure and body checksum are verified. The
// offsets come from a consume queue, so any failure is corruption: the
// error wraps ErrCorruption and names the range. The slice stays valid at
// least ReadGrace after retention deletes it.
func (s *Store) ReadRecord(phys int64, size int32) ([]byte, error) {
	raw, err := s.cl.read(phys, int(size))
	if err != nil {
		return nil, err
	}
	rv, st, why := parseRecord(raw, phys, true)
	if st == recordOK && rv.Size() == len(raw) {
		return raw, nil
	}
	if why == "" {
		why = fmt.Sprintf("not a message record of %d bytes", size)
	}
	return nil, s.corruptRecord(phys, int64(size), why)
}

// RecordAt validates (checksum included) and returns the record at phys.
// An offset where no record starts (no magic, or a record claiming another
// offset) is ErrOffsetOutOfRange; a record that starts there but fails its
// checks is ErrCorruption, counted and logged.
func (s *Store) RecordAt(phys int64) (RecordView, error) {
	head, err := s.cl.read(phys, offPhysOffset+8)
	if err != nil {
		return RecordView{}, err
	}
	be := binary.BigEndian
	size := int32(be.Uint32(head))
	if be.Uint32(head[4:]) != MagicMessage || int64(be.Uint64(head[offPhysOffset:])) != phys || size < minRecordSize {
		return RecordView{}, fmt.Errorf("persist: no record starts at %d: %w", phys, ErrOffsetOutOfRange)
	}
	raw, err := s.cl.read(phys, int(size))
	if err != nil {
		return RecordView{}, s.corruptRecord(phys, int64(size), "record size overruns the log: "+err.Error())
	}
	rv, err := ParseRecord(raw, phys)
	if err != nil {
		_, _, why := parseRecord(raw, phys, true)
		return RecordView{}, s.corruptRecord(phys, int64(size), why)
	}
	return rv, nil
}

// corruptRecord counts and logs a damaged record a reader asked for.
func (s *Store) corruptRecord(phys, size int64, why string) error {
	s.stats.corruptRecords.Add(1)
	seg := "none"
	if sg := s.cl.segs.Load().find(phys); sg != nil {
		seg = segmentName(sg.base)
	}
	err := fmt.Errorf("persist: damaged record at %d (%d bytes, segment %s): %s: %w", phys, size, seg, why, ErrCorruption)
	now := time.Now().UnixNano()
	last := s.corruptLoggedAt.Load()
	if now-last >= int64(corruptLogInterval) && s.corruptLoggedAt.CompareAndSwap(last, now) {
		s.log.Error("persist: damaged record not served; run a verify to list every damaged range",
			"offset", phys, "bytes", size, "segment", seg, "detail", why, "damagedReadsSoFar", s.stats.corruptRecords.Load())
	}
	return err
}

// DamagedRange is a stretch of the commit log that holds no valid record.
type DamagedRange struct {
	Segment string `json:"segment"`
	Offset  int64  `json:"offset"` // commit-log offset of its first byte
	Length  int64  `json:"length"`
	Reason  string `json:"reason"`
}

// VerifyOptions bound one Verify.
type VerifyOptions struct {
	// From is where to start; a value that is not the start of a record
	// starts at the beginning of its segment, one below the log's minimum
	// at the minimum.
	From int64
	// MaxBytes stops after about this many bytes (0: to the end); the
	// report's To says where to resume.
	MaxBytes int64
	// BytesPerSecond bounds the read rate (0: unbounded).
	BytesPerSecond int64
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	From    int64          `json:"from"`    // where it started
	To      int64          `json:"to"`      // where it stopped: a record or segment start
	LogEnd  int64          `json:"logEnd"`  // the published end when it started
	Records int64          `json:"records"` // valid records checked
	Damaged []DamagedRange `json:"damaged"`
	// DamagedTruncated: more than maxDamagedRanges ranges; the rest are
	// not listed.
	DamagedTruncated bool `json:"damagedTruncated,omitempty"`
}

// Verify checks the records of [From, end) of the log, end being the
// published end or where MaxBytes runs out, and reports the damaged
// ranges. It reads at most BytesPerSecond and stops with ctx.
func (s *Store) Verify(ctx context.Context, opts VerifyOptions) (VerifyReport, error) {
	w := verifyWalk{s: s, opts: opts, rep: VerifyReport{LogEnd: s.cl.published.Load()}, started: time.Now()}
	w.pos = w.startAt(opts.From)
	w.rep.From = w.pos
	limit := w.rep.LogEnd
	if opts.MaxBytes > 0 {
		limit = min(limit, w.pos+opts.MaxBytes)
	}
	for w.pos < limit {
		if err := w.chunk(ctx, limit); err != nil {
			w.rep.To = w.pos
			return w.rep, err
		}
	}
	w.rep.To = w.pos
	s.stats.verifyDamaged.Add(int64(len(w.rep.Damaged)))
	return w.rep, nil
}

// verifyWalk is the state of one Verify.
type verifyWalk struct {
	s       *Store
	opts    VerifyOptions
	rep     VerifyReport
	pos     int64
	checked int64
	started time.Time
}

// startAt returns from if a record starts there, else the start of the
// next record that proves itself (clamped to the log).
func (w *verifyWalk) startAt(from int64) int64 {
	minOff := w.s.cl.minOffset()
	if from <= minOff {
		return minOff
	}
	if from >= w.rep.LogEnd {
		return w.rep.LogEnd
	}
	raw, seg := w.s.cl.rawAt(from)
	if seg == nil {
		return minOff
	}
	raw = raw[:min(int64(len(raw)), w.rep.LogEnd-from)]
	if n, ok := nextValidRecord(raw, from, 0); ok {
		return n
	}
	return from + int64(len(raw))
}

// chunk checks about verifyChunk bytes from w.pos, under the store's
// scrub lock so that Close never unmaps what it reads, then waits as the
// rate requires.
func (w *verifyWalk) chunk(ctx context.Context, limit int64) error {
	s := w.s
	s.scrubMu.RLock()
	if s.closed.Load() {
		s.scrubMu.RUnlock()
		return fmt.Errorf("persist: verify: %w", ErrClosed)
	}
	if minOff := s.cl.minOffset(); w.pos < minOff { // retention went past us
		w.pos = minOff
	}
	end := min(limit, w.pos+verifyChunk)
	for w.pos < end {
		if !w.step(end) {
			break
		}
	}
	s.scrubMu.RUnlock()
	return w.pace(ctx)
}

// step checks the record at w.pos and moves past it, or past the damaged
// range starting there. It reports false at the end of the log.
func (w *verifyWalk) step(end int64) bool {
	raw, seg := w.s.cl.rawAt(w.pos)
	if seg == nil {
		return false
	}
	raw = raw[:min(int64(len(raw)), w.rep.LogEnd-w.pos)]
	rv, st, why := parseRecord(raw, w.pos, true)
	switch {
	case st == recordOK:
		w.rep.Records++
		w.advance(int64(rv.Size()))
	case st == recordBlank:
		w.advance(seg.end() - w.pos)
	case len(raw) == 0:
		return false
	default:
		if why == "" {
			why = "zeroed bytes where a record was expected"
		}
		next := resync(raw, w.pos)
		w.damaged(seg, next-w.pos, why)
		w.advance(next - w.pos)
	}
	return true
}

func (w *verifyWalk) advance(n int64) {
	w.pos += n
	w.checked += n
}

func (w *verifyWalk) damaged(seg *segment, length int64, why string) {
	if len(w.rep.Damaged) >= maxDamagedRanges {
		w.rep.DamagedTruncated = true
		return
	}
	w.rep.Damaged = append(w.rep.Damaged, DamagedRange{Segment: segmentName(seg.base), Offset: w.pos, Length: length, Reason: why})
}

// resync returns the offset of the first valid record after the damaged
// one at the start of raw (stored at pos), or pos+len(raw) when none
// follows in raw.
func resync(raw []byte, pos int64) int64 {
	if n, ok := findResync(raw, pos); ok {
		return n
	}
	return pos + int64(len(raw))
}

// findResync finds the first record after the damaged one at the start of
// raw (stored at pos) that proves itself: its magic, its own offset in its
// PHYSICALOFFSET field and a good checksum. It first trusts the damaged
// record's size field, then searches byte by byte, giving up at the end of
// raw or after maxRecordProbe zero bytes in a row (the end of what was
// ever written: no record holds that many).
func findResync(raw []byte, pos int64) (int64, bool) {
	if len(raw) >= 8 {
		if size := int64(binary.BigEndian.Uint32(raw)); size >= minRecordSize && size < int64(len(raw)) {
			if _, st, _ := parseRecord(raw[size:], pos+size, true); st == recordOK || st == recordBlank {
				return pos + size, true
			}
		}
	}
	return nextValidRecord(raw, pos, 1)
}

// nextValidRecord returns the offset of the first record at or after
// raw[from:] (raw stored at pos) that proves itself; ok is false at the
// end of raw or after maxRecordProbe zero bytes in a row.
func nextValidRecord(raw []byte, pos int64, from int) (int64, bool) {
	zeros := 0
	for i := from; i+offPhysOffset+8 <= len(raw); i++ {
		if raw[i] == 0 {
			if zeros++; zeros >= maxRecordProbe {
				return 0, false
			}
		} else {
			zeros = 0
		}
		b := raw[i:]
		if binary.BigEndian.Uint32(b[4:]) != MagicMessage || int64(binary.BigEndian.Uint64(b[offPhysOffset:])) != pos+int64(i) {
			continue
		}
		if _, st, _ := parseRecord(b, pos+int64(i), true); st == recordOK {
			return pos + int64(i), true
		}
	}
	return 0, false
}

// pace sleeps so that the bytes checked so far take at least
// checked/BytesPerSecond, or until ctx ends.
func (w *verifyWalk) pace(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("persist: verify: %w", err)
	}
	if w.opts.BytesPerSecond <= 0 {
		return nil
	}
	due := w.started.Add(time.Duration(float64(w.checked) / float64(w.opts.BytesPerSecond) * float64(time.Second)))
	wait := time.Until(due)
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("persist: verify: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}
