package mqtt

import (
	"errors"
	"sync"
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

// pubCompletion answers one stored publish. Pooled.
type pubCompletion struct {
	conn    *conn
	sess    *session
	req     actors.AppendRequest
	id      uint16
	qos     byte
	retain  bool
	topic   string
	expires int64
	props   Properties
}

var pubPool = sync.Pool{New: func() any { return &pubCompletion{} }}

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
	c.paused = true
	cp := *p
	cp.Payload = append([]byte(nil), p.Payload...)
	cp.Props.CorrelationData = append([]byte(nil), p.Props.CorrelationData...)
	submitted := c.gw.broker.EnsureGatewayTopic(topic, false, func(wq int32, err error) {
		_ = c.gc.Wake(func(gnet.Conn, error) error {
			return c.resumePass(func() error {
				if err != nil {
					topic = c.gw.opts.FallbackTopic
					wq, _ = c.gw.broker.GatewayTopic(topic)
				}
				return c.storePublish(&cp, topic, wq)
			})
		})
	})
	if !submitted {
		c.paused = false
		return protocolReason(ReasonServerBusy, "topic table busy")
	}
	return nil
}

// storePublish appends the publish to the log through the writer.
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
	pc := pubPool.Get().(*pubCompletion)
	*pc = pubCompletion{conn: c, sess: c.sess, id: p.PacketID, qos: p.QoS, retain: p.Retain, topic: p.Topic,
		req: actors.AppendRequest{Messages: pc.req.Messages[:0], Results: pc.req.Results[:0]}}
	if p.Retain {
		pc.props = p.Props
		pc.props.CorrelationData = append([]byte(nil), p.Props.CorrelationData...)
		if p.Props.Has(propMessageExpiry) {
			pc.expires = now.UnixMilli() + int64(p.Props.MessageExpiry)*1000
		}
	}
	pc.req.Done = pc
	pc.req.Messages = append(pc.req.Messages, persist.Message{
		Topic: topic, QueueID: queueFor(p.Topic, writeQueues), BornTimestamp: now.UnixMilli(), BornHost: c.born,
		Body: append([]byte(nil), p.Payload...), Properties: props,
	})
	if p.QoS > 0 {
		c.inboundPending++
	}
	if p.QoS == 2 {
		c.sess.qos2Storing(p.PacketID)
	}
	if err := gw.broker.GatewayAppend(&pc.req, true); err != nil {
		c.unstore(pc)
		return c.refuseStore(p, err)
	}
	return nil
}

// unstore undoes storePublish's bookkeeping for a refused append.
func (c *conn) unstore(pc *pubCompletion) {
	if pc.qos > 0 {
		c.inboundPending--
	}
	if pc.qos == 2 {
		c.sess.qos2Forget(pc.id)
	}
	pc.recycle()
}

// refuseStore answers a publish the broker did not take.
func (c *conn) refuseStore(p *Publish, err error) error {
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
	return c.refusePublish(p, reason, err.Error())
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
// publish is stored, or failed.
func (pc *pubCompletion) Complete(req *actors.AppendRequest) {
	c, gw := pc.conn, pc.conn.gw
	if req.Err == nil && pc.retain {
		gw.retained.set(pc.topic, req.Messages[0].Body, pc.qos, &pc.props, pc.expires, req.Results[0].PhysicalOffset)
	}
	switch {
	case pc.qos == 0:
	case req.Err != nil:
		gw.metrics.publishesRefused.Add(1)
		if pc.qos == 2 {
			pc.sess.qos2Forget(pc.id)
		}
		if c.version == version5 {
			typ := map[byte]byte{1: typePuback, 2: typePubrec}[pc.qos]
			c.send(&Ack{Type: typ, PacketID: pc.id, Reason: ReasonUnspecified})
		} else {
			c.closeNow("store failed: " + req.Err.Error())
		}
		c.ackedInbound()
	case pc.qos == 1:
		c.send(&Ack{Type: typePuback, PacketID: pc.id})
		c.ackedInbound()
	default:
		pc.sess.qos2Stored(pc.id)
		c.send(&Ack{Type: typePubrec, PacketID: pc.id})
	}
	pc.recycle()
}

// ackedInbound releases one unit of the client's receive window; the
// count is the loop's, so other goroutines hand the decrement to it.
func (c *conn) ackedInbound() {
	if c.closing.Load() {
		return
	}
	_ = c.gc.Wake(func(gnet.Conn, error) error {
		c.inboundPending--
		return nil
	})
}

func (pc *pubCompletion) recycle() {
	for i := range pc.req.Messages {
		pc.req.Messages[i] = persist.Message{}
	}
	msgs, res := pc.req.Messages[:0], pc.req.Results[:0]
	*pc = pubCompletion{}
	pc.req.Messages, pc.req.Results = msgs, res
	pubPool.Put(pc)
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
		c.ackedInbound()
	})
	if !known {
		reason := byte(0)
		if c.version == version5 {
			reason = ReasonPacketIDNotFound
		}
		c.send(&Ack{Type: typePubcomp, PacketID: a.PacketID, Reason: reason})
	}
}
