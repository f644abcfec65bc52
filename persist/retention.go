package persist

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Retention deletes whole commit-log segments, oldest first, never the one
// being written. A segment goes when its newest record is older than
// RetentionAge. A full disk alone never deletes a younger segment: its
// records may be acknowledged and unconsumed, and losing them is worse
// than refusing new sends (which the writer answers with a disk-full
// error). Only an operator who sets DiskEmergencyRatio opts into deleting
// young data while the disk is fuller than that; each such deletion is
// logged at WARN with the segment, its age and the usage that forced it.
//
// Usage is measured without the store's own reservations (DiskUsage): a
// freshly preallocated segment, consume-queue file or key-index file holds
// its blocks before a byte of it is written, and deleted segments hold
// theirs while readers still map them. Counting those as pressure would
// make the store's own next roll look like a full disk.

// diskWarnLogInterval rate-limits the warning that the disk is fuller
// than DiskWarnRatio.
const diskWarnLogInterval = time.Minute

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

// EnforceRetention deletes the oldest commit-log segments while they are
// due (see the rules above); consume queues and the key index follow and
// min offsets move. It returns the segments deleted.
func (s *Store) EnforceRetention() (int, error) {
	deleted := 0
	for {
		victim, why, err := s.deleteOldestSegment()
		if err != nil {
			return deleted, err
		}
		if victim == nil {
			break
		}
		deleted++
		s.stats.deletedSegments.Add(1)
		logFn := s.log.Info
		if why.emergency {
			s.stats.emergencyDeletes.Add(1)
			logFn = s.log.Warn
		}
		logFn("persist: deleted commit log segment", "segment", segmentName(victim.base), "bytes", victim.size,
			"reason", why.String())
	}
	s.warnIfDiskFilling()
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
func (s *Store) deleteOldestSegment() (*segment, deletion, error) {
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	var why deletion
	victim, err := s.cl.deleteOldest(func(oldest, next *segment) bool {
		why = s.segmentDue(next)
		return !why.due
	})
	if victim != nil {
		s.skipIndexBelowLocked(victim.end())
	}
	return victim, why, err
}

// deletion says why retention deletes a segment.
type deletion struct {
	due, emergency bool
	age            time.Duration // of the segment's newest record; -1 unknown
	usage          DiskUsage
	ratio          float64 // the limit the usage passed (emergency)
}

func (d deletion) String() string {
	age := "unknown"
	if d.age >= 0 {
		age = d.age.Round(time.Second).String()
	}
	if d.emergency {
		return fmt.Sprintf("disk emergency: %.1f%% used (the store's own reservations not counted) is over the emergency ratio %.1f%%; newest record %s old",
			100*d.usage.Ratio(), 100*d.ratio, age)
	}
	return "expired: newest record " + age + " old"
}

// segmentDue decides whether the oldest segment goes. Every record of the
// oldest segment is older than the first record of the next one, so that
// record's store time bounds the oldest segment's age.
func (s *Store) segmentDue(next *segment) deletion {
	d := deletion{age: s.ageBound(next)}
	if d.age >= 0 && s.opts.RetentionAge >= 0 && d.age >= s.opts.RetentionAge {
		d.due = true
		return d
	}
	if s.opts.DiskEmergencyRatio <= 0 {
		return d
	}
	u, err := s.DiskUsage()
	if err == nil && u.Ratio() > s.opts.DiskEmergencyRatio {
		d.due, d.emergency, d.usage, d.ratio = true, true, u, s.opts.DiskEmergencyRatio
	}
	return d
}

// ageBound is the age of the first record of next, -1 when there is none
// yet or it cannot be read.
func (s *Store) ageBound(next *segment) time.Duration {
	if next.base+minRecordSize > s.cl.published.Load() {
		return -1
	}
	if binary.BigEndian.Uint32(next.data[4:]) != MagicMessage {
		return -1
	}
	rv, st, _ := parseRecord(next.data, next.base, false)
	if st != recordOK {
		return -1
	}
	return max(0, s.opts.Now().Sub(time.UnixMilli(rv.StoreTimestamp())))
}

// warnIfDiskFilling logs, at most once per diskWarnLogInterval, that the
// disk is fuller than DiskWarnRatio and what retention does about it. The
// warning counts the store's reservations (they are what the next file
// creation finds missing); deletion never does.
func (s *Store) warnIfDiskFilling() {
	u, err := s.DiskUsage()
	if err != nil || u.Total == 0 || float64(u.Total-u.Free)/float64(u.Total) <= s.opts.DiskWarnRatio {
		return
	}
	now := time.Now().UnixNano()
	last := s.diskWarnedAt.Load()
	if now-last < int64(diskWarnLogInterval) || !s.diskWarnedAt.CompareAndSwap(last, now) {
		return
	}
	policy := "keeping every segment younger than the retention time; sends fail once the disk is full"
	if s.opts.DiskEmergencyRatio > 0 {
		policy = fmt.Sprintf("young segments are deleted above the emergency ratio %.1f%%", 100*s.opts.DiskEmergencyRatio)
	}
	s.log.Warn("persist: disk filling up", "usedPercent", fmt.Sprintf("%.1f", 100*float64(u.Total-u.Free)/float64(u.Total)),
		"dataPercent", fmt.Sprintf("%.1f", 100*u.Ratio()),
		"warnPercent", fmt.Sprintf("%.1f", 100*s.opts.DiskWarnRatio), "freeBytes", u.Free,
		"reservedBytes", u.Reserved, "retention", s.opts.RetentionAge.String(), "policy", policy)
}

// DiskUsage is the file system holding the store, as retention sees it.
type DiskUsage struct {
	Total, Free uint64
	// Reserved is space the store holds without data in it yet, or about
	// to give back: the unwritten part of its preallocated files (the
	// commit-log segment being written, each consume queue's newest file,
	// the key index's entry area) and deleted files still mapped for
	// readers.
	Reserved uint64
}

// Used is the space in use, the store's reservations not counted.
func (u DiskUsage) Used() uint64 {
	used := u.Total - u.Free
	if u.Reserved >= used {
		return 0
	}
	return used - u.Reserved
}

// Ratio is Used over Total (0 for an unknown total).
func (u DiskUsage) Ratio() float64 {
	if u.Total == 0 {
		return 0
	}
	return float64(u.Used()) / float64(u.Total)
}

// DiskUsage measures the file system holding the store.
func (s *Store) DiskUsage() (DiskUsage, error) {
	total, free, err := s.fs.Usage(s.opts.Dir)
	if err != nil {
		return DiskUsage{}, fmt.Errorf("persist: disk usage: %w", err)
	}
	if free > total {
		free = total
	}
	return DiskUsage{Total: total, Free: free, Reserved: uint64(s.reservedBytes())}, nil
}

// reservedBytes adds up the store's reservations (DiskUsage.Reserved).
func (s *Store) reservedBytes() int64 {
	var n int64
	if last := s.cl.segs.Load().last(); last != nil {
		n += last.end() - min(last.end(), max(last.base, s.cl.published.Load()))
	}
	for _, q := range s.Queues() {
		n += q.unwrittenBytes()
	}
	if s.index != nil {
		n += s.index.unwrittenBytes()
	}
	return n + s.cl.retire.pendingBytes.Load()
}
