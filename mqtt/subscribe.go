package mqtt

import (
	"sync"
)

// subscriptionIndex is the gateway's topic tree of every session's
// subscriptions, online and offline, read by the fan-out for each record.
type subscriptionIndex struct {
	mu   sync.RWMutex
	tree topicTree[*session, *subscription]
}

// subscribeResult is one filter's outcome.
type subscribeResult struct {
	sub    *subscription
	reason byte
	isNew  bool
}

func (c *conn) handleSubscribe(p *Subscribe) error {
	var id uint32
	if len(p.Props.SubscriptionIDs) > 0 {
		id = p.Props.SubscriptionIDs[0]
	}
	results := make([]subscribeResult, len(p.Subs))
	for i, req := range p.Subs {
		share, filter, err := parseFilter(req.Filter)
		if err == nil && share != "" && req.NoLocal {
			return protocolErr("no local on a shared subscription")
		}
		switch {
		case err != nil:
			results[i].reason = ReasonTopicFilterInvalid
			c.gw.logRefusal("mqtt: topic filter refused", c, err)
			continue
		case c.gw.opts.Auth != nil:
			if err := c.gw.opts.Auth.AuthorizeSubscribe(c.username, req.Filter); err != nil {
				results[i].reason = ReasonNotAuthorized
				continue
			}
		}
		results[i].sub = &subscription{full: req.Filter, filter: filter, share: share, qos: min(req.QoS, 2),
			noLocal: req.NoLocal, rap: req.RetainAsPublished, rh: req.RetainHandling, id: id}
		results[i].reason = results[i].sub.qos
	}
	s := c.sess
	s.subscribe(results)
	finish := func() { c.finishSubscribe(p.PacketID, results) }
	if s.persistent() {
		s.gw.journal.subscribed(s, results, finish)
		return nil
	}
	finish()
	return nil
}

// finishSubscribe answers SUBACK, then sends the retained messages the
// new subscriptions match (after the SUBACK, as clients expect).
func (c *conn) finishSubscribe(packetID uint16, results []subscribeResult) {
	ack := &SubAck{Type: typeSuback, PacketID: packetID, Reasons: make([]byte, len(results))}
	for i, r := range results {
		ack.Reasons[i] = r.reason
		if c.version != version5 && r.reason >= 0x80 {
			ack.Reasons[i] = subackV3Failure
		}
	}
	c.send(ack)
	for _, r := range results {
		if r.sub == nil || r.sub.share != "" || r.sub.rh == 2 || (r.sub.rh == 1 && !r.isNew) {
			continue
		}
		if msgs := c.gw.retained.match(r.sub.filter); len(msgs) > 0 {
			c.sess.sendRetained(msgs, r.sub)
		}
	}
}

// subscribe adds (or replaces) the session's subscriptions in its own
// tree and the gateway's.
func (s *session) subscribe(results []subscribeResult) {
	since := s.gw.fan.safePos()
	gw := s.gw
	s.mu.Lock()
	added := 0
	for i := range results {
		sub := results[i].sub
		if sub == nil {
			continue
		}
		sub.since = since
		old := s.mu.subs[sub.full]
		results[i].isNew = old == nil
		if old == nil {
			added++
		}
		s.mu.subs[sub.full] = sub
		if sub.share == "" {
			s.mu.own.add(sub.filter, "", sub.full, sub)
		}
	}
	s.mu.Unlock()
	gw.subs.mu.Lock()
	for _, r := range results {
		if r.sub != nil {
			gw.subs.tree.add(r.sub.filter, r.sub.share, s, r.sub)
		}
	}
	gw.subs.mu.Unlock()
	gw.metrics.subscriptions.Add(int64(added))
}

// persistent reports whether the session outlives its connection.
func (s *session) persistent() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.persistentLocked()
}

func (c *conn) handleUnsubscribe(p *Unsubscribe) error {
	s := c.sess
	reasons := s.unsubscribe(p.Filters)
	finish := func() {
		ack := &SubAck{Type: typeUnsuback, PacketID: p.PacketID}
		if c.version == version5 {
			ack.Reasons = reasons
		}
		c.send(ack)
	}
	if s.persistent() {
		s.gw.journal.unsubscribed(s, p.Filters, finish)
		return nil
	}
	finish()
	return nil
}

// unsubscribe removes filters, literally compared ([MQTT-3.10.4-1]), and
// returns one reason per filter.
func (s *session) unsubscribe(filters []string) []byte {
	reasons := make([]byte, len(filters))
	var gone []*subscription
	s.mu.Lock()
	for i, f := range filters {
		sub := s.mu.subs[f]
		if sub == nil {
			reasons[i] = ReasonNoSubscriptionExisted
			continue
		}
		delete(s.mu.subs, f)
		if sub.share == "" {
			s.mu.own.remove(sub.filter, "", sub.full)
		}
		gone = append(gone, sub)
	}
	s.mu.Unlock()
	s.gw.subs.mu.Lock()
	for _, sub := range gone {
		s.gw.subs.tree.remove(sub.filter, sub.share, s)
	}
	s.gw.subs.mu.Unlock()
	s.gw.metrics.subscriptions.Add(-int64(len(gone)))
	return reasons
}
