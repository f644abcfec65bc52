package mqtt

import (
	"sync"
	"time"
)

// A session is the state of one client id: its subscriptions, the
// gateway's unacknowledged deliveries to it (the in-flight window), its
// QoS 2 publishes awaiting PUBREL, its Will, and its position in the
// commit log. It lives as long as its connection (clean session / expiry
// 0) or until it expires (persistent), and is journaled (journal.go) when
// persistent.
//
// Delivery. A session is "live" while the fan-out hands it every matching
// record as it becomes visible; otherwise it has a readPos in the commit
// log and catch-up (catchup.go) reads on from there, matching records
// against the session's own subscriptions, until it reaches the fan-out's
// position and turns live again. A session leaves live mode when it goes
// offline or its window is full: memory per session is its window, never
// a queue; the backlog is the log itself.
type session struct {
	gw       *Gateway
	clientID string

	mu struct {
		sync.Mutex
		conn      *conn // nil while offline
		version   byte
		expiry    uint32    // seconds the session outlives its connection
		expiresAt time.Time // while offline and persistent
		ended     bool
		subs      map[string]*subscription // by the filter as subscribed
		own       topicTree[string, *subscription]
		window    int
		nextID    uint16
		inflight  map[uint16]*outMsg
		order     []*outMsg // in-flight messages in send order, done ones skipped
		live      bool
		readPos   int64 // next log offset catch-up considers (not live)
		takenEnd  int64 // end of the last record taken
		scheduled bool  // queued for catch-up
		qos2in    map[uint16]bool
		retainedQ []pendingRetained // retained messages waiting for window room
		will      *willMessage
		willAt    time.Time      // a delayed Will's due time
		queued    int64          // records matched while not live (a hint for metrics)
		done      map[int64]bool // persistent: records at or above the cursor already done
		shared    map[*shareGroup[*session, *subscription]]bool
	}
}

// subscription is one topic filter of a session.
type subscription struct {
	full    string // as subscribed, with any $share prefix
	filter  string
	share   string
	qos     byte
	noLocal bool
	rap     bool // retain as published
	rh      byte // retain handling
	id      uint32
	since   int64 // log offset from which it applies (catch-up)
}

// outMsg is one in-flight delivery.
type outMsg struct {
	id       uint16
	phys     int64 // -1: a retained message from memory
	end      int64
	qos      byte
	rel      bool // PUBREC received, PUBREL sent
	done     bool
	retain   bool
	subIDs   []uint32
	retained *retainedMsg
}

type pendingRetained struct {
	msg *retainedMsg
	sub *subscription
}

func newSession(gw *Gateway, clientID string) *session {
	s := &session{gw: gw, clientID: clientID}
	s.mu.subs = make(map[string]*subscription)
	s.mu.inflight = make(map[uint16]*outMsg)
	s.mu.qos2in = make(map[uint16]bool)
	return s
}

// sessionRegistry maps client ids to sessions. Its lock serialises
// CONNECTs of one client id against each other and against ending.
type sessionRegistry struct {
	mu   sync.Mutex
	byID map[string]*session
}

// attach binds c to the session of its client id: it takes over a
// connected session, discards one on clean start, or resumes or creates
// one. It reports whether a session was present.
func (gw *Gateway) attach(c *conn, clean bool, expiry uint32) (present, _ bool) {
	gw.sessions.mu.Lock()
	defer gw.sessions.mu.Unlock()
	s := gw.sessions.byID[c.clientID]
	if s != nil {
		s.takeOver(c, clean)
		if clean {
			gw.endSessionLocked(s, "clean start")
			s = nil
		}
	}
	if s == nil {
		s = newSession(gw, c.clientID)
		s.mu.readPos = gw.fan.safePos()
		s.mu.takenEnd = s.mu.readPos
		gw.sessions.byID[c.clientID] = s
		gw.metrics.sessions.Add(1)
	} else {
		present = true
	}
	s.mu.Lock()
	s.mu.conn, s.mu.version, s.mu.expiry = c, c.version, expiry
	s.mu.window = c.windowFor()
	s.mu.expiresAt = time.Time{}
	s.mu.will, s.mu.willAt = c.will, time.Time{} // a reconnection cancels a delayed Will
	s.mu.Unlock()
	c.sess = s
	gw.journal.sessionConnected(s)
	return present, false
}

// takeOver detaches the connection holding s for c: the old one is told
// 0x8E and closed; its Will is published now unless the new connection
// resumes the session within the Will's delay.
func (s *session) takeOver(c *conn, clean bool) {
	s.mu.Lock()
	old, will := s.mu.conn, s.mu.will
	if old != nil {
		s.detachLocked()
		s.mu.will = nil
	}
	s.mu.Unlock()
	if old == nil {
		// A delayed Will of the previous connection is cancelled by a
		// resumption in time, published by a clean start.
		if will != nil && clean {
			s.gw.publishWill(will)
		}
		return
	}
	s.gw.metrics.takeovers.Add(1)
	old.disconnectAsync(ReasonSessionTakenOver, "session taken over")
	if will != nil && !old.cleanClose && (will.delay == 0 || clean) {
		s.gw.publishWill(will)
	}
}

// detachLocked ends the connection's part: the session leaves live mode
// at a position from which catch-up misses nothing.
func (s *session) detachLocked() {
	s.mu.conn = nil
	if s.mu.live {
		s.mu.live = false
		s.mu.readPos = max(s.gw.fan.safePos(), s.mu.takenEnd)
	}
}

// sessionClosed runs on c's loop when its socket closed.
func (gw *Gateway) sessionClosed(c *conn) {
	s := c.sess
	gw.sessions.mu.Lock()
	defer gw.sessions.mu.Unlock()
	s.mu.Lock()
	if s.mu.conn != c {
		s.mu.Unlock()
		return // taken over: the new connection owns the session
	}
	s.detachLocked()
	will := s.mu.will
	if c.cleanClose {
		s.mu.will, will = nil, nil
	}
	endNow := s.mu.expiry == 0
	if will != nil && will.delay > 0 && !endNow {
		s.mu.willAt = time.Now().Add(will.delay)
		will = nil
	} else {
		s.mu.will = nil
	}
	if !endNow {
		s.mu.expiresAt = time.Now().Add(time.Duration(s.mu.expiry) * time.Second)
	}
	s.mu.Unlock()
	if will != nil {
		gw.publishWill(will)
	}
	if endNow {
		gw.endSessionLocked(s, "connection closed")
		return
	}
	gw.journal.sessionOffline(s)
}

// endSessionLocked removes a session (registry lock held): its
// subscriptions leave the tree, a pending Will is published.
func (gw *Gateway) endSessionLocked(s *session, why string) {
	s.mu.Lock()
	if s.mu.ended {
		s.mu.Unlock()
		return
	}
	s.mu.ended = true
	subs := s.mu.subs
	s.mu.subs = map[string]*subscription{}
	will := s.mu.will
	s.mu.will = nil
	s.mu.Unlock()
	gw.subs.mu.Lock()
	for _, sub := range subs {
		gw.subs.tree.remove(sub.filter, sub.share, s)
	}
	gw.subs.mu.Unlock()
	gw.metrics.subscriptions.Add(-int64(len(subs)))
	if will != nil {
		gw.publishWill(will)
	}
	if gw.sessions.byID[s.clientID] == s {
		delete(gw.sessions.byID, s.clientID)
		gw.metrics.sessions.Add(-1)
	}
	gw.journal.sessionEnded(s, why)
}

// sweepSessions ends expired offline sessions and publishes due wills.
func (gw *Gateway) sweepSessions(now time.Time) {
	gw.sessions.mu.Lock()
	defer gw.sessions.mu.Unlock()
	for _, s := range gw.sessions.byID {
		s.mu.Lock()
		var will *willMessage
		if !s.mu.willAt.IsZero() && !now.Before(s.mu.willAt) {
			will, s.mu.will, s.mu.willAt = s.mu.will, nil, time.Time{}
		}
		expired := s.mu.conn == nil && !s.mu.expiresAt.IsZero() && now.After(s.mu.expiresAt)
		stalled := s.mu.conn != nil && !s.mu.live && !s.mu.scheduled
		s.mu.Unlock()
		if stalled {
			gw.fan.kick(s) // a catch-up the full queue refused, or a missed wake-up
		}
		if will != nil {
			gw.publishWill(will)
		}
		if expired {
			gw.endSessionLocked(s, "expired")
		}
	}
}

// changeExpiry applies a DISCONNECT's session expiry; false when the
// CONNECT had none (a protocol error, [MQTT-3.14.2-2]).
func (s *session) changeExpiry(expiry uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.expiry == 0 && expiry != 0 {
		return false
	}
	limit := uint32(min(s.gw.broker.RetentionAge()/time.Second, neverExpires-1))
	s.mu.expiry = min(expiry, limit)
	return true
}

// persistent reports whether the session outlives its connection.
func (s *session) persistentLocked() bool { return s.mu.expiry > 0 }

// windowFor is the in-flight window of the client.
func (c *conn) windowFor() int {
	if c.window > 0 {
		return c.window
	}
	return int(c.gw.opts.MaxInflight)
}

// Inbound QoS 2 state.

// qos2Seen reports whether id is a QoS 2 publish being stored, or stored
// and awaiting PUBREL.
func (s *session) qos2Seen(id uint16) (seen, stored bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	stored, seen = s.mu.qos2in[id]
	return seen, stored
}

func (s *session) qos2Storing(id uint16) {
	s.mu.Lock()
	s.mu.qos2in[id] = false
	s.mu.Unlock()
}

func (s *session) qos2Stored(id uint16) {
	s.mu.Lock()
	if _, ok := s.mu.qos2in[id]; ok {
		s.mu.qos2in[id] = true
	}
	s.mu.Unlock()
}

func (s *session) qos2Forget(id uint16) {
	s.mu.Lock()
	delete(s.mu.qos2in, id)
	s.mu.Unlock()
}

// qos2Release forgets a released packet id and calls done once that is
// durable; false when the id is unknown.
func (s *session) qos2Release(id uint16, done func()) bool {
	s.mu.Lock()
	stored, ok := s.mu.qos2in[id]
	if ok && stored {
		delete(s.mu.qos2in, id)
	}
	persistent := s.persistentLocked()
	s.mu.Unlock()
	if !ok || !stored {
		return false // a PUBREL before the PUBREC is answered "not found"
	}
	if !persistent {
		done()
		return true
	}
	s.gw.journal.released(s, id, done)
	return true
}
