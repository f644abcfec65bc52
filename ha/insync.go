package ha

import (
	"fmt"
	"slices"
	"time"
)

// effective is what counts of a member's acknowledgement.
func (s *Server) effective(m *member) int64 {
	if s.opts.SyncFlush {
		return m.synced
	}
	return m.appended
}

// commitPointLocked is the highest offset every in-sync member holds,
// never past the master's written end.
func (s *Server) commitPointLocked() int64 {
	point := s.opts.Source.WrittenOffset()
	for _, m := range s.mu.members {
		if m.inSync {
			point = min(point, s.effective(m))
		}
	}
	return point
}

// CommitPoint is the highest offset every in-sync member holds.
func (s *Server) CommitPoint() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commitPointLocked()
}

func (s *Server) inSyncCountLocked() int {
	n := 1 // the master
	for _, m := range s.mu.members {
		if m.inSync {
			n++
		}
	}
	return n
}

// InSyncCount is the size of the in-sync set, master included (0 when
// not master).
func (s *Server) InSyncCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.mu.master {
		return 0
	}
	return s.inSyncCountLocked()
}

// InSyncIDs lists the broker ids of the in-sync replicas, ascending.
func (s *Server) InSyncIDs() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inSyncIDsLocked()
}

func (s *Server) inSyncIDsLocked() []int64 {
	var ids []int64
	for id, m := range s.mu.members {
		if m.inSync {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// SetInSync imposes the in-sync set (replica ids; the master is always a
// member), as a controller committed it.
func (s *Server) SetInSync(ids []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, m := range s.mu.members {
		m.inSync = slices.Contains(ids, id)
	}
	for _, id := range ids {
		if _, ok := s.mu.members[id]; !ok {
			s.mu.members[id] = &member{id: id, inSync: true, lastCaughtUp: s.opts.Now()}
		}
	}
	s.broadcastLocked()
}

// Wait blocks until every member of the in-sync set holds the log up to
// end (synced, with SyncFlush). It then returns nil when the set has at
// least MinInSync members, ErrNotEnoughReplicas otherwise. A member that
// stops acknowledging is waited for until it leaves the set (LagMax).
func (s *Server) Wait(end int64) error { return s.WaitUntil(end, time.Time{}) }

// WaitUntil is Wait giving up at deadline (zero: never) with
// ErrWaitTimeout: the caller may no longer acknowledge by then.
func (s *Server) WaitUntil(end int64, deadline time.Time) error {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	for {
		s.mu.Lock()
		switch {
		case s.mu.closed:
			s.mu.Unlock()
			return ErrClosed
		case !s.mu.master:
			s.mu.Unlock()
			return ErrNotMaster
		}
		if s.commitPointLocked() >= end {
			n := s.inSyncCountLocked()
			if n < s.opts.MinInSync {
				s.mu.Unlock()
				return fmt.Errorf("%w: in-sync set of %d, minimum %d", ErrNotEnoughReplicas, n, s.opts.MinInSync)
			}
			s.mu.committed = max(s.mu.committed, end)
			s.mu.Unlock()
			return nil
		}
		ch := s.mu.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-timeout:
			return fmt.Errorf("%w: the in-sync set does not hold %d yet", ErrWaitTimeout, end)
		}
	}
}

// noteAck records a replica's acknowledgement: it may catch the replica
// up, let it join the in-sync set, and move the commit point.
func (s *Server) noteAck(l *link, a *Ack) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mu.members[l.id]
	if m == nil || m.link != l {
		return nil // replaced by a newer connection
	}
	if a.Appended > l.sent.Load() || a.Synced > a.Appended {
		return fmt.Errorf("%w: ack appended %d synced %d beyond the %d bytes sent", ErrFrame, a.Appended, a.Synced, l.sent.Load())
	}
	now := s.opts.Now()
	m.appended, m.synced, m.lastAck = a.Appended, a.Synced, now
	end := s.opts.Source.WrittenOffset()
	eff := s.effective(m)
	if eff >= m.prevEnd {
		m.lastCaughtUp = now
	}
	m.prevEnd = end
	if !m.inSync && eff >= s.mu.committed && eff >= m.prevEnd-int64(s.opts.ChunkBytes) {
		s.joinLocked(m, eff)
	}
	s.broadcastLocked()
	return nil
}

func (s *Server) joinLocked(m *member, eff int64) {
	if s.opts.ProposeInSync != nil {
		s.opts.ProposeInSync(append(s.inSyncIDsLocked(), m.id))
		return
	}
	m.inSync = true
	s.stats.Joins.Add(1)
	s.log.Info("ha: replica joined the in-sync set", "replica", m.id, "addr", m.addr, "offset", eff,
		"inSync", s.inSyncCountLocked())
}

func (s *Server) checkLoop() {
	defer s.wg.Done()
	t := time.NewTicker(min(s.opts.LagMax/4, 250*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.checkLag()
		}
	}
}

// checkLag drops from the in-sync set every replica that has not caught
// up for LagMax.
func (s *Server) checkLag() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	var leaving []*member
	for _, m := range s.mu.members {
		if m.inSync && now.Sub(m.lastCaughtUp) > s.opts.LagMax {
			leaving = append(leaving, m)
		}
	}
	if len(leaving) == 0 {
		return
	}
	if s.opts.ProposeInSync != nil {
		ids := s.inSyncIDsLocked()
		for _, m := range leaving {
			ids = slices.DeleteFunc(ids, func(id int64) bool { return id == m.id })
		}
		s.opts.ProposeInSync(ids)
		return
	}
	end := s.opts.Source.WrittenOffset()
	for _, m := range leaving {
		m.inSync = false
		s.stats.Leaves.Add(1)
		s.log.Warn("ha: replica left the in-sync set", "replica", m.id, "addr", m.addr, "connected", m.link != nil,
			"lagBytes", end-s.effective(m), "notCaughtUpFor", now.Sub(m.lastCaughtUp).Round(time.Millisecond),
			"inSync", s.inSyncCountLocked())
	}
	s.broadcastLocked()
}

// MemberStatus is one replica as the master sees it.
type MemberStatus struct {
	ID         int64
	Addr       string
	Connected  bool
	InSync     bool
	Appended   int64
	Synced     int64
	LagBytes   int64
	LagSeconds float64 // since it last caught up with the log end
}

// Members lists the replicas the master knows, by id.
func (s *Server) Members() []MemberStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	end := s.opts.Source.WrittenOffset()
	now := s.opts.Now()
	out := make([]MemberStatus, 0, len(s.mu.members))
	for _, m := range s.mu.members {
		out = append(out, MemberStatus{ID: m.id, Addr: m.addr, Connected: m.link != nil, InSync: m.inSync,
			Appended: m.appended, Synced: m.synced, LagBytes: max(0, end-s.effective(m)),
			LagSeconds: now.Sub(m.lastCaughtUp).Seconds()})
	}
	slices.SortFunc(out, func(a, b MemberStatus) int { return int(a.ID - b.ID) })
	return out
}
