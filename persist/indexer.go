package persist

import (
	"errors"
	"fmt"
	"time"
)

// Key indexing runs off the writer's path. Publish makes a batch visible
// and writes its consume-queue entries, then only nudges the indexer: one
// goroutine owned by the Store that reads the published records back from
// the mapped commit log, from indexPos up to the published end, and adds
// their UNIQ_KEY and KEYS to the key index. The log itself is the queue
// between them: it needs no memory, is bounded by retention, and a slow
// indexer costs lag, never an acknowledgement.
//
// What callers can rely on:
//
//   - QueryByKey first catches the index up to the published end, so it
//     finds every record published before it was called.
//   - The checkpoint never claims more than the index holds: FlushQueues
//     records min(dispatched, durable, indexPos) after flushing the index,
//     and recovery resumes indexing at the first record the index lacks
//     (RecoveryReport.IndexFrom); the indexer catches up after Open.
//   - The indexer reads the log only while holding indexMu, and retention
//     takes indexMu to delete a segment, so the indexer never touches a
//     retired mapping; records deleted before it reached them are skipped.
const (
	// indexChunkRecords bounds the records indexed per hold of indexMu,
	// so a query, a flush or retention never waits behind a long backlog.
	indexChunkRecords = 4096
	// indexPace is the least time between two passes of the background
	// indexer: one pass covers every batch published meanwhile, and the
	// writer's nudge finds the wake-up channel full instead of waking a
	// goroutine per batch.
	indexPace = time.Millisecond
	// indexBatchKeys is how many keys the indexer hands the key index at
	// once (see keyIndexFile.appendEntries).
	indexBatchKeys = 256
	// indexRetryInterval is the wait after a pass failed.
	indexRetryInterval = 100 * time.Millisecond
	// indexLogInterval rate-limits the indexer's error logs.
	indexLogInterval = 10 * time.Second
)

// wakeIndexer nudges the background indexer without ever blocking.
func (s *Store) wakeIndexer() {
	select {
	case s.indexWake <- struct{}{}:
	default:
	}
}

// IndexedOffset is the commit-log offset below which every published
// record has been added to the key index (QueryByKey catches up the rest
// before it answers).
func (s *Store) IndexedOffset() int64 { return s.indexed.Load() }

// indexLoop is the background indexer.
func (s *Store) indexLoop() {
	defer s.bg.Done()
	pace := time.NewTimer(time.Hour)
	pace.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.indexWake:
		}
		wait := indexPace
		if err := s.catchUpIndex(s.cl.published.Load(), s.stop); err != nil {
			s.noteIndexError(err)
			wait = indexRetryInterval
			s.wakeIndexer()
		}
		pace.Reset(wait)
		select {
		case <-s.stop:
			pace.Stop()
			return
		case <-pace.C:
		}
	}
}

// catchUpIndex indexes the records below upTo, a chunk at a time, until
// done or stop is closed (nil: never).
func (s *Store) catchUpIndex(upTo int64, stop <-chan struct{}) error {
	for s.indexed.Load() < upTo {
		select {
		case <-stop:
			return nil
		default:
		}
		if err := s.indexChunk(upTo); err != nil {
			return err
		}
	}
	return nil
}

// indexChunk indexes up to indexChunkRecords records from indexPos on,
// handing their keys to the key index indexBatchKeys at a time. On an
// error indexPos stays where the chunk began: adds are idempotent, so the
// retry re-adds only what is missing.
func (s *Store) indexChunk(upTo int64) error {
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	if s.indexStopped {
		return fmt.Errorf("persist: key indexer: %w", ErrClosed)
	}
	pos, keys := s.indexPos, s.indexKeys[:0]
	var err error
	batchRecords := 0 // records whose keys are in keys
	for n := 0; pos < upTo && n < indexChunkRecords && err == nil; n++ {
		if pos, keys, err = s.collectKeysAt(pos, keys); err != nil {
			break
		}
		batchRecords++
		if len(keys) >= indexBatchKeys {
			if err = s.index.addBatch(keys); err == nil {
				keys, batchRecords = keys[:0], 0
			}
		}
	}
	if err == nil && len(keys) > 0 {
		err = s.index.addBatch(keys)
	}
	s.indexKeys = keys[:0]
	if errors.Is(err, ErrDiskFull) {
		s.stats.indexSkipped.Add(int64(max(batchRecords, 1)))
		s.logIndexProblem("persist: key index incomplete: disk full", "before", pos)
		err = nil
	}
	if err != nil {
		return err
	}
	s.setIndexPosLocked(pos)
	return nil
}

func (s *Store) setIndexPosLocked(pos int64) {
	s.indexPos = pos
	s.indexed.Store(pos)
}

// collectKeysAt appends the keys of the record at pos (a record boundary
// below the published end) and returns where the next record starts.
func (s *Store) collectKeysAt(pos int64, keys []keyIndexKey) (int64, []keyIndexKey, error) {
	if l := s.cl.segs.Load(); len(l.segs) > 0 && pos < l.segs[0].base {
		return l.segs[0].base, keys, nil // retention deleted it first
	}
	raw, seg := s.cl.rawAt(pos)
	if seg == nil {
		return pos, keys, fmt.Errorf("persist: key indexer: no segment holds published offset %d: %w", pos, ErrCorruption)
	}
	rv, st, why := parseRecord(raw, pos, false)
	switch st {
	case recordOK:
		topic, ts := rv.Topic(), rv.StoreTimestamp()
		forEachKey(rv.Properties(), func(key []byte) {
			keys = append(keys, keyIndexKey{hash: keyIndexHashBytes(topic, key), phyOffset: pos, storeTimestampMs: ts})
		})
		return pos + int64(rv.Size()), keys, nil
	case recordBlank:
		return seg.end(), keys, nil
	}
	// Damage (recovery keeps it in place): index on from the next record
	// that proves itself, or the next segment.
	s.stats.indexSkipped.Add(1)
	next, ok := findResync(raw[:min(int64(len(raw)), s.cl.published.Load()-pos)], pos)
	if !ok {
		next = seg.end()
	}
	s.logIndexProblem("persist: key indexer: damaged record not indexed", "at", pos, "segment", segmentName(seg.base),
		"resumesAt", next, "detail", why)
	return next, keys, nil
}

// recordFullyIndexed reports whether the key index lacks none of the keys
// of the record at phys (trivially so for a record without keys). Only
// the record at the index's last offset can have some keys indexed.
func (s *Store) recordFullyIndexed(rv *RecordView, phys int64) bool {
	topic, all := rv.Topic(), true
	forEachKey(rv.Properties(), func(key []byte) {
		all = all && s.index.hasLast(keyIndexHashBytes(topic, key), phys)
	})
	return all
}

// forEachKey calls fn with the UNIQ_KEY and each space-separated KEYS
// entry of a property string, skipping empty ones.
func forEachKey(props []byte, fn func(key []byte)) {
	if uniq, ok := propertyValue(props, "UNIQ_KEY"); ok && len(uniq) > 0 {
		fn(uniq)
	}
	keys, _ := propertyValue(props, "KEYS")
	for len(keys) > 0 {
		sp := indexByte(keys, ' ')
		if sp < 0 {
			fn(keys)
			return
		}
		if sp > 0 {
			fn(keys[:sp])
		}
		keys = keys[sp+1:]
	}
}

// skipIndexBelowLocked moves the indexer past records retention deleted.
func (s *Store) skipIndexBelowLocked(minOffset int64) {
	if s.indexPos < minOffset {
		s.setIndexPosLocked(minOffset)
	}
}

// stopIndexing ends indexing for good: later catch-ups fail with
// ErrClosed instead of reading a log that is about to be unmapped.
func (s *Store) stopIndexing() {
	s.indexMu.Lock()
	s.indexStopped = true
	s.indexMu.Unlock()
}

func (s *Store) noteIndexError(err error) {
	s.stats.indexErrors.Add(1)
	s.logIndexProblem("persist: key indexer failed; will retry", "err", err)
}

// logIndexProblem logs at most once per indexLogInterval.
func (s *Store) logIndexProblem(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := s.indexLoggedAt.Load()
	if now-last < int64(indexLogInterval) || !s.indexLoggedAt.CompareAndSwap(last, now) {
		return
	}
	s.log.Warn(msg, args...)
}
