package mqtt

import (
	"strings"
	"sync"
	"time"
)

// Retained messages: the last retained publish of each topic, kept in
// memory with a level trie of their topics so a new subscription finds
// the matching ones by walking its filter. An empty retained payload
// deletes. They are made durable by the session snapshot and, between
// snapshots, by the stored publishes themselves (MQTT_RETAIN=1), which
// recovery replays (journal.go).
type retainedStore struct {
	mu struct {
		sync.RWMutex
		root  retainedNode
		count int
	}
}

type retainedNode struct {
	children map[string]*retainedNode
	msg      *retainedMsg
}

// retainedMsg is one retained message. d owns its payload.
type retainedMsg struct {
	d    delivery
	phys int64 // where it was stored; later stores replace it
}

func (r *retainedStore) init() {}

// set records (or, for an empty payload, deletes) the retained message of
// topic, unless a later one is already there.
func (r *retainedStore) set(topic string, payload []byte, qos byte, props *Properties, expiresAt, phys int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := &r.mu.root
	var path []*retainedNode
	for level := range strings.SplitSeq(topic, "/") {
		c := n.children[level]
		if c == nil {
			if len(payload) == 0 {
				return
			}
			c = &retainedNode{}
			if n.children == nil {
				n.children = map[string]*retainedNode{}
			}
			n.children[level] = c
		}
		path = append(path, n)
		n = c
	}
	if n.msg != nil && n.msg.phys > phys {
		return
	}
	if len(payload) == 0 {
		if n.msg != nil {
			n.msg = nil
			r.mu.count--
			pruneRetained(path, topic)
		}
		return
	}
	if n.msg == nil {
		r.mu.count++
	}
	d := delivery{phys: -1, topic: topic, payload: payload, qos: qos, retain: true, expiresAt: expiresAt, fromMQTT: true}
	if props != nil {
		d.props = *props
		d.props.Present &^= 1<<propTopicAlias | 1<<propSubscriptionID | 1<<propMessageExpiry
		d.props.SubscriptionIDs = nil
	}
	n.msg = &retainedMsg{d: d, phys: phys}
}

// pruneRetained removes the empty nodes along topic's path.
func pruneRetained(path []*retainedNode, topic string) {
	levels := strings.Split(topic, "/")
	for i := len(path) - 1; i >= 0; i-- {
		c := path[i].children[levels[i]]
		if c.msg != nil || len(c.children) > 0 {
			return
		}
		delete(path[i].children, levels[i])
	}
}

// count is the number of retained messages.
func (r *retainedStore) count() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.mu.count
}

// match returns the retained messages whose topic filter matches, not
// expired.
func (r *retainedStore) match(filter string) []*retainedMsg {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*retainedMsg
	now := time.Now().UnixMilli()
	collectRetained(&r.mu.root, strings.Split(filter, "/"), true, now, &out)
	return out
}

func collectRetained(n *retainedNode, levels []string, root bool, now int64, out *[]*retainedMsg) {
	if len(levels) == 0 {
		if n.msg != nil && (n.msg.d.expiresAt == 0 || n.msg.d.expiresAt > now) {
			*out = append(*out, n.msg)
		}
		return
	}
	switch level := levels[0]; level {
	case "#":
		if !root {
			collectRetained(n, nil, false, now, out)
		}
		for name, c := range n.children {
			if root && strings.HasPrefix(name, "$") {
				continue
			}
			collectAll(c, now, out)
		}
	case "+":
		for name, c := range n.children {
			if root && strings.HasPrefix(name, "$") {
				continue
			}
			collectRetained(c, levels[1:], false, now, out)
		}
	default:
		if c := n.children[level]; c != nil {
			collectRetained(c, levels[1:], false, now, out)
		}
	}
}

func collectAll(n *retainedNode, now int64, out *[]*retainedMsg) {
	collectRetained(n, nil, false, now, out)
	for _, c := range n.children {
		collectAll(c, now, out)
	}
}

// each calls fn for every retained message (snapshot).
func (r *retainedStore) each(fn func(*retainedMsg)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var walk func(n *retainedNode)
	walk = func(n *retainedNode) {
		if n.msg != nil {
			fn(n.msg)
		}
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(&r.mu.root)
}

// sendRetained delivers the retained messages a new subscription matches
// (RETAIN 1, [MQTT-3.3.1-6]); those for which the window has no room wait.
func (s *session) sendRetained(msgs []*retainedMsg, sub *subscription) {
	s.mu.Lock()
	for _, m := range msgs {
		s.mu.retainedQ = append(s.mu.retainedQ, pendingRetained{msg: m, sub: sub})
	}
	s.mu.Unlock()
	s.drainRetained()
}

// drainRetained sends waiting retained messages while the window has room.
func (s *session) drainRetained() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.mu.retainedQ) > 0 && s.mu.conn != nil {
		p := s.mu.retainedQ[0]
		qos := min(p.sub.qos, p.msg.d.qos)
		if qos > 0 && len(s.mu.inflight) >= s.mu.window {
			return
		}
		s.mu.retainedQ = s.mu.retainedQ[1:]
		var ids []uint32
		if p.sub.id != 0 {
			ids = []uint32{p.sub.id}
		}
		if qos == 0 {
			s.mu.conn.sendPublish(&p.msg.d, 0, 0, false, true, ids)
			continue
		}
		om := &outMsg{id: s.nextIDLocked(), phys: -1, qos: qos, retain: true, subIDs: ids, retained: p.msg}
		s.trackLocked(om)
		if !s.mu.conn.sendPublish(&p.msg.d, qos, om.id, false, true, ids) {
			s.completeLocked(om)
		}
	}
	if len(s.mu.retainedQ) == 0 {
		s.mu.retainedQ = nil
	}
}
