package mqtt

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/persist"
)

// Inbound PUBLISH: the message is appended through the broker's writer
// like a RocketMQ send, and acknowledged (PUBACK, PUBREC) only from the
// writer's completion, that is once stored under the flush mode. QoS 2 is
// "method B": the message is stored (and visible to consumers) at once,
// with the publisher's client id and packet id (MQTT_PKT_ID); the packet
// id waits for PUBREL in the session, so a repeated PUBLISH is answered
// PUBREC without being stored again.

// pubBatch is the publishes one connection made in one read pass,
// stored as one writer request (one ring slot, one completion) and
// answered together in their order.
type pubBatch struct {
	conn    *conn
	sess    *session
	req     actors.AppendRequest
	entries []pubEntry
	bytes   int
	qos1    int // QoS 1/2 entries
}

// pubEntry is what the completion needs of one publish.
type pubEntry struct {
	id      uint16
	qos     byte
	retain  bool
	topic   string
	expires int64
	props   *Properties // retained publishes only
}

// maxBatchBytes and maxBatchEntries bound one pass's batch; a fuller
// pass submits several.
const (
	maxBatchBytes   = 1 << 20
	maxBatchEntries = 512
)

func (c *conn) handlePublish(p *Publish) error {
	if err := c.resolveAlias(p); err != nil {
		return err
	}
	if p.QoS > 0 {
		if c.version == version5 && c.inboundPending >= int(c.gw.opts.ReceiveMaximum) {
			return protocolReason(ReasonReceiveMaximumExceeded, "more than %d unacknowledged QoS 1/2 publishes", c.gw.opts.ReceiveMaximum)
		}
		if p.QoS == 2 {
			if seen, stored := c.sess.qos2Seen(p.PacketID); seen {
				if stored {
					c.send(&Ack{Type: typePubrec, PacketID: p.PacketID})
				}
				return nil // stored once; a publish still being stored is answered when it is
			}
		}
	}
	c.gw.metrics.publishesIn.Add(1)
	topic, wq, ok := c.gw.resolveCometTopic(p.Topic)
	if !ok {
		return c.createTopicThenPublish(p, topic)
	}
	return c.storePublish(p, topic, wq)
}

// resolveAlias applies an MQTT 5 Topic Alias.
func (c *conn) resolveAlias(p *Publish) error {
	if !p.Props.Has(propTopicAlias) {
		if p.Topic == "" {
			return protocolErr("empty topic without a topic alias")
		}
		return nil
	}
	alias := p.Props.TopicAlias
	if alias > c.gw.opts.TopicAliasMaximum {
		return protocolReason(ReasonTopicAliasInvalid, "topic alias %d above the maximum %d", alias, c.gw.opts.TopicAliasMaximum)
	}
	if p.Topic != "" {
		if c.aliasesIn == nil {
			c.aliasesIn = make(map[uint16]string)
		}
		c.aliasesIn[alias] = p.Topic
		return nil
	}
	t, ok := c.aliasesIn[alias]
	if !ok {
		return protocolErr("unknown topic alias %d", alias)
	}
	p.Topic = t
	return nil
}

// resolveCometTopic maps an MQTT topic to its Comet topic. ok false: the
// first level is usable but the topic does not exist yet and may be
// created (the returned name).
func (gw *Gateway) resolveCometTopic(mqttTopic string) (string, int32, bool) {
	name := gw.cometTopicName(mqttTopic)
	if wq, ok := gw.broker.GatewayTopic(name); ok {
		return name, wq, true
	}
	if name != gw.opts.FallbackTopic && gw.broker.CanCreateTopics() {
		return name, 0, false
	}
	wq, _ := gw.broker.GatewayTopic(gw.opts.FallbackTopic)
	return gw.opts.FallbackTopic, wq, true
}

// createTopicThenPublish creates the publish's topic off the loop, with
// reading paused so the connection's order holds, then stores it.
func (c *conn) createTopicThenPublish(p *Publish, topic string) error {
	c.flushBatch()
	cp := ownedPublish(p)
	var ready atomic.Bool
	var wq int32
	var createErr error
	c.hold(func() (bool, error) {
		if !ready.Load() {
			return false, nil // the topic table's answer wakes the connection
		}
		if createErr != nil {
			topic = c.gw.opts.FallbackTopic
			wq, _ = c.gw.broker.GatewayTopic(topic)
		}
		return true, c.storePublish(cp, topic, wq)
	})
	submitted := c.gw.broker.EnsureGatewayTopic(topic, false, func(queues int32, err error) {
		wq, createErr = queues, err
		ready.Store(true)
		c.wakeHeld()
	})
	if !submitted {
		createErr = errors.New("topic table busy")
		ready.Store(true)
		c.wakeHeld()
	}
	return nil
}

// ownedPublish copies what p aliases of gnet's buffer.
func ownedPublish(p *Publish) *Publish {
	cp := *p
	cp.Payload = append([]byte(nil), p.Payload...)
	cp.Props.CorrelationData = append([]byte(nil), p.Props.CorrelationData...)
	return &cp
}

// busyRetry is how soon a batch the writer refused as busy is tried
// again. A batch holding QoS 1/2 publishes waits (the connection reads
// nothing meanwhile, so a publisher is held back by its own in-flight
// window, and in MQTT 5 by the gateway's Receive Maximum, rather than cut
// off); one of QoS 0 publishes only is dropped and counted (at most once).
const busyRetry = 2 * time.Millisecond

// storePublish adds the publish to the pass's batch.
func (c *conn) storePublish(p *Publish, topic string, writeQueues int32) error {
	gw := c.gw
	if a := gw.opts.Auth; a != nil {
		if err := a.AuthorizePublish(c.username, p.Topic, topic); err != nil {
			return c.refusePublish(p, ReasonNotAuthorized, err.Error())
		}
	}
	now := time.Now()
	props, ok := gw.messageProperties(p, c.clientID, now.UnixMilli())
	if !ok {
		return c.refusePublish(p, ReasonPayloadFormatInvalid, "topic or property holds U+0001 or U+0002")
	}
	b := c.batch
	if b == nil {
		b = &pubBatch{conn: c, sess: c.sess}
		b.req.Done = b
		c.batch = b
	}
	e := pubEntry{id: p.PacketID, qos: p.QoS, retain: p.Retain, topic: p.Topic}
	if p.Retain {
		rp := p.Props
		rp.CorrelationData = append([]byte(nil), p.Props.CorrelationData...)
		e.props = &rp
		if p.Props.Has(propMessageExpiry) {
			e.expires = now.UnixMilli() + int64(p.Props.MessageExpiry)*1000
		}
	}
	b.entries = append(b.entries, e)
	b.req.Messages = append(b.req.Messages, persist.Message{
		Topic: topic, QueueID: queueFor(p.Topic, writeQueues), BornTimestamp: now.UnixMilli(), BornHost: c.born,
		Body: append([]byte(nil), p.Payload...), Properties: props,
	})
	b.bytes += len(p.Payload) + len(props)
	if p.QoS > 0 {
		b.qos1++
		c.inboundPending++
	}
	if p.QoS == 2 {
		c.sess.qos2Storing(p.PacketID)
	}
	if b.bytes >= maxBatchBytes || len(b.entries) >= maxBatchEntries {
		c.flushBatch()
	}
	return nil
}

// flushBatch submits the pass's batch (on the loop).
func (c *conn) flushBatch() {
	b := c.batch
	if b == nil {
		return
	}
	c.batch = nil
	if err := c.submitBatch(b); err != nil {
		c.hold(func() (bool, error) { return c.retryBatch(b) })
		time.AfterFunc(busyRetry, c.wakeHeld)
	}
}

// submitBatch appends b; a busy writer returns ErrBusy for a batch that
// waits, other failures are answered here.
func (c *conn) submitBatch(b *pubBatch) error {
	err := c.gw.broker.GatewayAppend(&b.req, true)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, actors.ErrBusy) && b.qos1 > 0 && !c.closing.Load():
		c.gw.metrics.publishesDeferred.Add(1)
		return err
	case errors.Is(err, actors.ErrBusy) && b.qos1 == 0:
		c.gw.metrics.droppedBusy.Add(int64(len(b.entries)))
	default:
		b.refuse(err)
	}
	return nil
}

// retryBatch is the held work of a batch the writer refused as busy.
func (c *conn) retryBatch(b *pubBatch) (bool, error) {
	if err := c.submitBatch(b); err != nil {
		time.AfterFunc(busyRetry, c.wakeHeld)
		return false, nil
	}
	return true, nil
}

// refuse answers every publish of a batch the broker did not take.
func (b *pubBatch) refuse(err error) {
	c := b.conn
	for i := range b.entries {
		e := &b.entries[i]
		if e.qos > 0 {
			c.inboundPending--
		}
		if e.qos == 2 {
			c.sess.qos2Forget(e.id)
		}
		if rerr := c.refuseStore(e, err); rerr != nil {
			c.refuse(rerr)
			return
		}
	}
}

// refuseStore answers a publish the broker did not take.
func (c *conn) refuseStore(e *pubEntry, err error) error {
	reason := ReasonUnspecified
	switch {
	case errors.Is(err, actors.ErrBusy):
		reason = ReasonQuotaExceeded
	case errors.Is(err, actors.ErrIllegalMessage):
		reason = ReasonQuotaExceeded
	case errors.Is(err, actors.ErrNotWritable), errors.Is(err, actors.ErrStopping):
		reason = ReasonServerUnavailable
	}
	c.gw.metrics.publishesRefused.Add(1)
	return c.refusePublish(&Publish{QoS: e.qos, PacketID: e.id}, reason, err.Error())
}

// refusePublish answers a refused QoS 1/2 publish with a negative
// acknowledgement (MQTT 5) or closes the connection (3.1.1 has none; a
// QoS 0 publish has no acknowledgement).
func (c *conn) refusePublish(p *Publish, reason byte, why string) error {
	if c.version != version5 || p.QoS == 0 {
		return protocolReason(reason, "publish refused: %s", why)
	}
	typ := typePuback
	if p.QoS == 2 {
		typ = typePubrec
	}
	a := &Ack{Type: typ, PacketID: p.PacketID, Reason: reason}
	if !c.noProblems {
		a.Props.SetString(propReasonString, truncate(why, 128))
	}
	c.send(a)
	c.gw.logRefusal("mqtt: publish refused", c, errors.New(why))
	return nil
}

// Complete runs on the writer goroutine (or inline on the loop) once the
// batch is stored, or failed: each publish is answered in order.
func (b *pubBatch) Complete(req *actors.AppendRequest) {
	c, gw := b.conn, b.conn.gw
	released := 0
	for i := range b.entries {
		e := &b.entries[i]
		if req.Err == nil && e.retain {
			gw.retained.set(e.topic, req.Messages[i].Body, e.qos, e.props, e.expires, req.Results[i].PhysicalOffset)
		}
		switch {
		case e.qos == 0:
		case req.Err != nil:
			gw.metrics.publishesRefused.Add(1)
			if e.qos == 2 {
				b.sess.qos2Forget(e.id)
			}
			if c.version != version5 {
				c.closeNow("store failed: " + req.Err.Error())
				continue
			}
			c.send(&Ack{Type: map[byte]byte{1: typePuback, 2: typePubrec}[e.qos], PacketID: e.id, Reason: ReasonUnspecified})
			released++
		case e.qos == 1:
			c.send(&Ack{Type: typePuback, PacketID: e.id})
			released++
		default:
			b.sess.qos2Stored(e.id)
			c.send(&Ack{Type: typePubrec, PacketID: e.id})
		}
	}
	c.ackedInbound(released)
}

// ackedInbound releases units of the client's receive window; the count
// is the loop's, so other goroutines hand the decrement to it.
func (c *conn) ackedInbound(n int) {
	if n == 0 || c.closing.Load() {
		return
	}
	_ = c.gc.Wake(func(gnet.Conn, error) error {
		c.inboundPending -= n
		return nil
	})
}

// handleAck handles the acknowledgements a client sends: PUBACK, PUBREC
// and PUBCOMP for the gateway's deliveries, PUBREL for its QoS 2 publishes.
func (c *conn) handleAck(a *Ack) error {
	s := c.sess
	switch a.Type {
	case typePuback:
		s.acked(a.PacketID, 1)
	case typePubrec:
		if !s.received(a) {
			var reason byte
			if c.version == version5 {
				reason = ReasonPacketIDNotFound
			}
			c.send(&Ack{Type: typePubrel, PacketID: a.PacketID, Reason: reason})
		}
	case typePubcomp:
		s.acked(a.PacketID, 2)
	case typePubrel:
		c.handlePubrel(a)
	}
	return nil
}

// handlePubrel completes an inbound QoS 2 exchange: the packet id is
// released (durably for a persistent session) before PUBCOMP.
func (c *conn) handlePubrel(a *Ack) {
	known := c.sess.qos2Release(a.PacketID, func() {
		c.send(&Ack{Type: typePubcomp, PacketID: a.PacketID})
		c.ackedInbound(1)
	})
	if !known {
		reason := byte(0)
		if c.version == version5 {
			reason = ReasonPacketIDNotFound
		}
		c.send(&Ack{Type: typePubcomp, PacketID: a.PacketID, Reason: reason})
	}
}
