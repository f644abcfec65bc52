package mqtt

import (
	"slices"
	"time"
)

// Outbound delivery to one session: the in-flight window, packet ids,
// acknowledgements, resending on resumption.

// target is what one session gets of one record: the highest QoS its
// matching subscriptions grant, with all their identifiers (one copy per
// record, [MQTT-3.3.4-2], [MQTT-3.3.4-4]).
type target struct {
	s      *session
	qos    byte
	rap    bool
	subIDs []uint32
}

// add merges one more matching subscription into t.
func (t *target) add(sub *subscription) {
	t.qos = max(t.qos, sub.qos)
	t.rap = t.rap || sub.rap
	if sub.id != 0 {
		t.subIDs = append(t.subIDs, sub.id)
	}
}

// offer hands a record to a live session (the fan-out). A session that
// is not live counts it as queued: catch-up reads it from the log.
func (s *session) offer(d *delivery, t *target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.mu.live || s.mu.conn == nil {
		s.mu.queued++
		return
	}
	if d.phys < s.mu.takenEnd {
		return
	}
	if !s.takeLocked(d, t.qos, t.rap && d.retain, t.subIDs) {
		s.mu.live = false // window full: catch-up resumes here when it frees
		s.mu.readPos = d.phys
		s.mu.queued++
	}
}

// takeLocked delivers d to the connected client: QoS 0 at once, QoS 1 and
// 2 into the window. It returns false, taking nothing, when the window is
// full.
func (s *session) takeLocked(d *delivery, qos byte, retain bool, subIDs []uint32) bool {
	qos = min(qos, d.qos)
	if d.expiresAt > 0 && time.Now().UnixMilli() >= d.expiresAt {
		s.mu.takenEnd = d.end // expired: as if delivered
		return true
	}
	if qos > 0 && len(s.mu.inflight) >= s.mu.window {
		return false
	}
	s.mu.takenEnd = d.end
	c := s.mu.conn
	if qos == 0 {
		if len(s.mu.inflight) > 0 && s.persistentLocked() {
			s.markDoneLocked(d.phys) // above the cursor: never again after a restart
		}
		c.sendPublish(d, 0, 0, false, retain, subIDs)
		return true
	}
	om := &outMsg{id: s.nextIDLocked(), phys: d.phys, end: d.end, qos: qos, retain: retain, subIDs: slices.Clone(subIDs)}
	s.trackLocked(om)
	if qos == 2 && s.persistentLocked() {
		// The packet id must be durable before the PUBLISH leaves: after a
		// restart the message is sent again under the same id, which the
		// client recognises as a duplicate.
		s.gw.journal.outbound(s, om, func() { s.sendStored(om, false) })
		return true
	}
	if !c.sendPublish(d, qos, om.id, false, retain, subIDs) {
		s.completeLocked(om) // larger than the client takes: as if delivered
	}
	return true
}

func (s *session) trackLocked(om *outMsg) {
	s.mu.inflight[om.id] = om
	s.mu.order = append(s.mu.order, om)
	s.gw.metrics.inflight.Add(1)
}

// nextIDLocked allocates a packet id not in flight.
func (s *session) nextIDLocked() uint16 {
	for {
		s.mu.nextID++
		if s.mu.nextID == 0 {
			s.mu.nextID = 1
		}
		if _, used := s.mu.inflight[s.mu.nextID]; !used {
			return s.mu.nextID
		}
	}
}

// completeLocked ends an in-flight delivery.
func (s *session) completeLocked(om *outMsg) {
	if om.done {
		return
	}
	om.done = true
	delete(s.mu.inflight, om.id)
	if om.phys >= 0 && s.persistentLocked() {
		s.markDoneLocked(om.phys)
	}
	s.gw.metrics.inflight.Add(-1)
	i := 0
	for i < len(s.mu.order) && s.mu.order[i].done {
		i++
	}
	if i > 0 {
		s.mu.order = append(s.mu.order[:0], s.mu.order[i:]...)
	}
	if len(s.mu.order) > 4*len(s.mu.inflight)+16 {
		s.mu.order = slices.DeleteFunc(s.mu.order, func(o *outMsg) bool { return o.done })
	}
	s.gw.journal.progress(s)
}

// acked handles PUBACK (qos 1) and PUBCOMP (qos 2).
func (s *session) acked(id uint16, qos byte) {
	s.mu.Lock()
	om := s.mu.inflight[id]
	if om == nil || om.qos != qos || (qos == 2 && !om.rel) {
		s.mu.Unlock()
		return
	}
	s.completeLocked(om)
	s.mu.Unlock()
	s.refill()
}

// received handles PUBREC; false for an unknown packet id.
func (s *session) received(a *Ack) bool {
	s.mu.Lock()
	om := s.mu.inflight[a.PacketID]
	if om == nil || om.qos != 2 {
		s.mu.Unlock()
		return false
	}
	if a.Reason >= 0x80 {
		s.completeLocked(om)
		s.mu.Unlock()
		s.refill()
		return true
	}
	first := !om.rel
	om.rel = true
	persistent := s.persistentLocked()
	c := s.mu.conn
	s.mu.Unlock()
	send := func() { s.sendRel(om.id) }
	switch {
	case first && persistent:
		s.gw.journal.outboundReleased(s, om, send)
	case c != nil:
		c.send(&Ack{Type: typePubrel, PacketID: om.id})
	}
	return true
}

func (s *session) sendRel(id uint16) {
	s.mu.Lock()
	c := s.mu.conn
	s.mu.Unlock()
	if c != nil {
		c.send(&Ack{Type: typePubrel, PacketID: id})
	}
}

// sendStored sends an in-flight message read back from the log (or
// memory, for a retained one), if the client is connected.
func (s *session) sendStored(om *outMsg, dup bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resendLocked(om, dup)
}

func (s *session) resendLocked(om *outMsg, dup bool) {
	c := s.mu.conn
	if c == nil || om.done {
		return
	}
	if om.rel {
		c.send(&Ack{Type: typePubrel, PacketID: om.id})
		return
	}
	var d delivery
	if om.retained != nil {
		d = om.retained.d
	} else if !s.gw.readDelivery(om.phys, &d) {
		s.completeLocked(om) // gone from the log (retention)
		return
	}
	if !c.sendPublish(&d, om.qos, om.id, dup, om.retain, om.subIDs) {
		s.completeLocked(om)
	}
}

// resume runs after CONNACK: in-flight messages and PUBRELs are sent
// again in their order ([MQTT-4.4.0-1]), then delivery goes on.
func (s *session) resume(c *conn) {
	s.mu.Lock()
	for _, om := range slices.Clone(s.mu.order) {
		s.resendLocked(om, true)
	}
	s.mu.Unlock()
	s.refill()
}

// refill uses window room: retained messages waiting for it, shared
// messages waiting in a group, then catch-up or live delivery.
func (s *session) refill() {
	s.drainRetained()
	s.gw.drainShared(s)
	s.gw.fan.kick(s)
}

// sendPublish queues one PUBLISH of d; false when it is larger than the
// client's Maximum Packet Size (then it is not sent, [MQTT-3.1.2-25]).
func (c *conn) sendPublish(d *delivery, qos byte, id uint16, dup, retain bool, subIDs []uint32) bool {
	p := Publish{Dup: dup && qos > 0, QoS: qos, Retain: retain, Topic: d.topic, PacketID: id, Payload: d.payload}
	v5 := c.version == version5
	if v5 {
		p.Props = d.props
		p.Props.SubscriptionIDs = nil
		p.Props.Present &^= 1 << propSubscriptionID
		for _, sid := range subIDs {
			p.Props.AddSubscriptionID(sid)
		}
		if d.expiresAt > 0 {
			left := (d.expiresAt - time.Now().UnixMilli() + 999) / 1000
			p.Props.SetUint32(propMessageExpiry, uint32(max(left, 1)))
		}
	}
	if c.maxPacketOut > 0 && publishSize(&p, v5) > c.maxPacketOut {
		c.gw.metrics.droppedTooLarge.Add(1)
		return false
	}
	if qos == 0 && c.out.pending() > c.gw.opts.MaxPendingBytes {
		c.gw.metrics.droppedQoS0.Add(1)
		return true
	}
	c.out.queue(c, func(dst []byte) []byte { return appendPublish(dst, &p, v5) })
	c.gw.metrics.messagesOut.Add(1)
	return true
}

// publishSize is the encoded size of p.
func publishSize(p *Publish, v5 bool) int {
	n := 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		n += 2
	}
	if v5 {
		ps := p.Props.size()
		n += varIntSize(ps) + ps
	}
	return 1 + varIntSize(n) + n
}
