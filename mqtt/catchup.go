package mqtt

import (
	"encoding/binary"
	"sync"

	"github.com/cometmq/comet/persist"
)

// Catch-up: a connected session that is not live reads the commit log
// from its readPos, matching each record against its own subscriptions
// (those in force from the record's offset on), and takes what matches
// into its window. A pass stops when the window is full (the next
// acknowledgement schedules another), after catchUpPassBytes (fairness
// between sessions), or at the fan-out's position, where the session turns
// live under the fan-out's lock.

// catchUpPassBytes bounds the log one pass reads.
const catchUpPassBytes = 4 << 20

// kick makes a connected session live if it is at the fan-out's position,
// or schedules a catch-up pass.
func (f *fanout) kick(s *session) {
	f.mu.Lock()
	s.mu.Lock()
	if s.mu.conn == nil || s.mu.live || s.mu.ended {
		s.mu.Unlock()
		f.mu.Unlock()
		return
	}
	if s.mu.readPos >= f.doneEnd.Load() {
		s.mu.live = true
		s.mu.queued = 0
		s.mu.Unlock()
		f.mu.Unlock()
		return
	}
	full := len(s.mu.inflight) >= s.mu.window
	schedule := !s.mu.scheduled && !full
	if schedule {
		s.mu.scheduled = true
	}
	s.mu.Unlock()
	f.mu.Unlock()
	if schedule {
		select {
		case f.catchQ <- s:
		default:
			s.mu.Lock()
			s.mu.scheduled = false // the sweeper kicks it again
			s.mu.Unlock()
		}
	}
}

func (f *fanout) catchUpLoop() {
	for {
		select {
		case <-f.done:
			return
		case s := <-f.catchQ:
			s.mu.Lock()
			s.mu.scheduled = false
			s.mu.Unlock()
			f.catchUp(s)
		}
	}
}

// catchUp runs one pass for s.
func (f *fanout) catchUp(s *session) {
	store := f.gw.store
	read := 0
	for read < catchUpPassBytes {
		limit := f.doneEnd.Load()
		s.mu.Lock()
		pos := s.mu.readPos
		if s.mu.conn == nil || s.mu.live || s.mu.ended || pos >= limit {
			s.mu.Unlock()
			break
		}
		s.mu.Unlock()
		if min := store.MinPhysicalOffset(); pos < min {
			f.gw.metrics.lostToRetention.Add(1)
			pos = min
		}
		raw, err := store.ReadRaw(pos, fanoutReadBytes)
		if err != nil || len(raw) == 0 {
			f.gw.log.Warn("mqtt: catch-up cannot read the log; session skips to the live position", "clientId",
				quoteShort(s.clientID), "offset", pos, "err", err)
			raw = nil
		}
		read += len(raw)
		if !s.catchUpChunk(raw, pos, limit) {
			return // window full, or the session changed under us
		}
	}
	f.kick(s)
}

// catchUpChunk takes the matching records of raw (starting at pos, up to
// limit) into the window. raw nil skips to limit. It returns false when
// the pass must stop.
func (s *session) catchUpChunk(raw []byte, pos, limit int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.conn == nil || s.mu.live || s.mu.ended || s.mu.readPos > pos {
		return false
	}
	if raw == nil {
		s.mu.readPos = limit
		return true
	}
	var d delivery
	var t target
	for len(raw) >= 8 && pos < limit {
		size := int(binary.BigEndian.Uint32(raw))
		if size < 8 || size > len(raw) {
			s.mu.readPos = limit
			return true
		}
		if pos >= s.mu.takenEnd && !s.mu.done[pos] && binary.BigEndian.Uint32(raw[4:]) == persist.MagicMessage {
			rv, err := persist.ParseRecordHeader(raw[:size], pos)
			if err == nil && s.gw.parseDelivery(&rv, &d) && s.matchOwnLocked(&d, &t) {
				if !s.takeLocked(&d, t.qos, t.rap && d.retain, t.subIDs) {
					s.mu.readPos = pos
					return false
				}
				if s.mu.queued > 0 {
					s.mu.queued--
				}
			}
		}
		pos += int64(size)
		raw = raw[size:]
		s.mu.readPos = pos
	}
	return true
}

// matchOwnLocked matches d against the session's own (not shared)
// subscriptions in force at d's offset.
func (s *session) matchOwnLocked(d *delivery, t *target) bool {
	*t = target{s: s, subIDs: t.subIDs[:0]}
	found := false
	s.mu.own.match(d.topic, func(_ string, sub *subscription) {
		if d.phys < sub.since || (sub.noLocal && d.origin == s.clientID && d.fromMQTT) {
			return
		}
		found = true
		t.add(sub)
	}, func(*shareGroup[string, *subscription]) {})
	return found
}

// Shared subscriptions: a record goes to one member of each matching
// group, round robin among the members that are live with window room
// (QoS 0 only needs them connected). When none can take it, it waits in
// the group's backlog, in memory and bounded (sharedBacklog; beyond it the
// oldest is dropped and counted), until a member acknowledges. Shared
// groups are not journaled as backlogs: their members' subscriptions
// survive a restart, the waiting messages do not.

const sharedBacklog = 10000

// shareState is a group's round robin position and backlog.
type shareState struct {
	mu      sync.Mutex
	next    int
	backlog []int64 // log offsets
}

func (gw *Gateway) shareStateOf(g *shareGroup[*session, *subscription]) *shareState {
	gw.shares.mu.Lock()
	defer gw.shares.mu.Unlock()
	key := g.name + "\x00" + g.filter
	st := gw.shares.byKey[key]
	if st == nil {
		st = &shareState{}
		gw.shares.byKey[key] = st
	}
	return st
}

// members snapshots a group's members under the tree's read lock.
func (gw *Gateway) members(g *shareGroup[*session, *subscription]) []shareMember[*session, *subscription] {
	gw.subs.mu.RLock()
	defer gw.subs.mu.RUnlock()
	return append([]shareMember[*session, *subscription](nil), g.members...)
}

// offerShared delivers d to one member of g, or queues it.
func (gw *Gateway) offerShared(g *shareGroup[*session, *subscription], d *delivery) {
	members := gw.members(g)
	if len(members) == 0 {
		return
	}
	st := gw.shareStateOf(g)
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.backlog) == 0 && gw.tryMembers(st, members, d) {
		return
	}
	if len(st.backlog) >= sharedBacklog {
		st.backlog = st.backlog[1:]
		gw.metrics.sharedDropped.Add(1)
	}
	st.backlog = append(st.backlog, d.phys)
	for _, m := range members {
		m.key.noteShared(g)
	}
}

// tryMembers offers d round robin; st.mu held.
func (gw *Gateway) tryMembers(st *shareState, members []shareMember[*session, *subscription], d *delivery) bool {
	n := len(members)
	for i := 0; i < n; i++ {
		m := members[(st.next+i)%n]
		if m.key.takeShared(d, m.val) {
			st.next = (st.next + i + 1) % n
			return true
		}
	}
	return false
}

// takeShared delivers a shared record if the session can take it now.
func (s *session) takeShared(d *delivery, sub *subscription) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.conn == nil || s.mu.ended {
		return false
	}
	var ids []uint32
	if sub.id != 0 {
		ids = []uint32{sub.id}
	}
	return s.takeSharedLocked(d, sub, ids)
}

func (s *session) takeSharedLocked(d *delivery, sub *subscription, ids []uint32) bool {
	end := s.mu.takenEnd
	ok := s.takeLocked(d, sub.qos, sub.rap && d.retain, ids)
	s.mu.takenEnd = end // shared records do not move the session's own position
	return ok
}

// noteShared remembers that a group s belongs to has a backlog.
func (s *session) noteShared(g *shareGroup[*session, *subscription]) {
	s.mu.Lock()
	if s.mu.shared == nil {
		s.mu.shared = map[*shareGroup[*session, *subscription]]bool{}
	}
	s.mu.shared[g] = true
	s.mu.Unlock()
}

// drainShared gives s what waits in the backlogs of its groups.
func (gw *Gateway) drainShared(s *session) {
	s.mu.Lock()
	groups := make([]*shareGroup[*session, *subscription], 0, len(s.mu.shared))
	for g := range s.mu.shared {
		groups = append(groups, g)
	}
	s.mu.Unlock()
	for _, g := range groups {
		members := gw.members(g)
		var mine *subscription
		for _, m := range members {
			if m.key == s {
				mine = m.val
			}
		}
		st := gw.shareStateOf(g)
		st.mu.Lock()
		var d delivery
		for mine != nil && len(st.backlog) > 0 {
			if !gw.readDelivery(st.backlog[0], &d) {
				st.backlog = st.backlog[1:]
				continue
			}
			if !s.takeShared(&d, mine) {
				break
			}
			st.backlog = st.backlog[1:]
		}
		empty := len(st.backlog) == 0
		st.mu.Unlock()
		if empty || mine == nil {
			s.mu.Lock()
			delete(s.mu.shared, g)
			s.mu.Unlock()
		}
	}
}
