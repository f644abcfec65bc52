package persist

import (
	"encoding/binary"
	"time"
)

// retentionLoop deletes expired segments and releases retired mappings.
func (s *Store) retentionLoop() {
	defer s.bg.Done()
	t := time.NewTicker(s.opts.RetentionInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if _, err := s.EnforceRetention(); err != nil {
				s.log.Error("persist: retention", "err", err)
			}
			s.cl.retire.reap(s.opts.Now(), false)
		}
	}
}

// EnforceRetention deletes the oldest commit-log segments while their
// newest record is older than RetentionAge or the disk is fuller than
// DiskUsageRatio, never the segment being written; consume queues and the
// key index follow and min offsets move. It returns the segments deleted.
func (s *Store) EnforceRetention() (int, error) {
	deleted := 0
	for {
		victim, err := s.deleteOldestSegment()
		if err != nil {
			return deleted, err
		}
		if victim == nil {
			break
		}
		deleted++
		s.stats.deletedSegments.Add(1)
		s.log.Info("persist: deleted commit log segment", "segment", segmentName(victim.base), "bytes", victim.size)
	}
	if deleted == 0 {
		return 0, nil
	}
	logMin := s.cl.minOffset()
	for _, q := range s.Queues() {
		if _, err := q.deleteBelow(logMin); err != nil {
			return deleted, err
		}
	}
	_, err := s.index.deleteBelow(logMin)
	return deleted, err
}

// deleteOldestSegment deletes the oldest segment if it is due, holding
// indexMu so that the key indexer is not reading it, and moves the indexer
// past it if it had not got there yet.
func (s *Store) deleteOldestSegment() (*segment, error) {
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	victim, err := s.cl.deleteOldest(s.keepSegment)
	if victim != nil {
		s.skipIndexBelowLocked(victim.end())
	}
	return victim, err
}

// keepSegment decides whether the oldest segment stays. Every record of
// the oldest segment is older than the first record of the next one, so
// that record's store time bounds the oldest segment's age.
func (s *Store) keepSegment(oldest, next *segment) bool {
	if s.diskTooFull() {
		return false
	}
	if s.opts.RetentionAge < 0 {
		return true
	}
	if next.base+minRecordSize > s.cl.published.Load() {
		return true
	}
	head := next.data[:minRecordSize]
	if binary.BigEndian.Uint32(head[4:]) != MagicMessage {
		return true
	}
	rv, st, _ := parseRecord(next.data, next.base, false)
	if st != recordOK {
		return true
	}
	age := s.opts.Now().Sub(time.UnixMilli(rv.StoreTimestamp()))
	return age < s.opts.RetentionAge
}

func (s *Store) diskTooFull() bool {
	total, free, err := s.fs.Usage(s.opts.Dir)
	if err != nil || total == 0 {
		return false
	}
	return float64(total-free)/float64(total) > s.opts.DiskUsageRatio
}
