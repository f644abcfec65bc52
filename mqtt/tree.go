package mqtt

import "strings"

// topicTree indexes subscriptions by the levels of their filters, so a
// message is matched by walking the levels of its topic (at each level:
// the exact child, '+', and '#') rather than by testing every
// subscription: the cost grows with the topic's depth and the matches,
// not with the number of subscriptions. Shared subscriptions hang at the
// node of their filter, one group per share name.
//
// The tree is not safe for concurrent use; the gateway guards it.
type topicTree[K comparable, V any] struct {
	root  treeNode[K, V]
	count int // subscriptions, shared members included
}

type treeNode[K comparable, V any] struct {
	children map[string]*treeNode[K, V]
	plus     *treeNode[K, V]
	hash     *treeNode[K, V]
	subs     map[K]V
	shared   map[string]*shareGroup[K, V]
}

// shareGroup is the members of one shared subscription; a message goes to
// one of them.
type shareGroup[K comparable, V any] struct {
	name    string
	filter  string
	members []shareMember[K, V]
}

type shareMember[K comparable, V any] struct {
	key K
	val V
}

func (n *treeNode[K, V]) empty() bool {
	return len(n.children) == 0 && n.plus == nil && n.hash == nil && len(n.subs) == 0 && len(n.shared) == 0
}

// child returns the node for one level, creating it.
func (n *treeNode[K, V]) child(level string) *treeNode[K, V] {
	var slot **treeNode[K, V]
	switch level {
	case "+":
		slot = &n.plus
	case "#":
		slot = &n.hash
	default:
		if c, ok := n.children[level]; ok {
			return c
		}
		c := &treeNode[K, V]{}
		if n.children == nil {
			n.children = make(map[string]*treeNode[K, V])
		}
		n.children[level] = c
		return c
	}
	if *slot == nil {
		*slot = &treeNode[K, V]{}
	}
	return *slot
}

// add inserts (or replaces) key's subscription to filter, shared under
// share when share is not empty. It reports whether one was replaced.
func (t *topicTree[K, V]) add(filter, share string, key K, val V) bool {
	n := &t.root
	for level := range strings.SplitSeq(filter, "/") {
		n = n.child(level)
	}
	if share == "" {
		if n.subs == nil {
			n.subs = make(map[K]V)
		}
		_, replaced := n.subs[key]
		n.subs[key] = val
		if !replaced {
			t.count++
		}
		return replaced
	}
	if n.shared == nil {
		n.shared = make(map[string]*shareGroup[K, V])
	}
	g := n.shared[share]
	if g == nil {
		g = &shareGroup[K, V]{name: share, filter: filter}
		n.shared[share] = g
	}
	for i := range g.members {
		if g.members[i].key == key {
			g.members[i].val = val
			return true
		}
	}
	g.members = append(g.members, shareMember[K, V]{key: key, val: val})
	t.count++
	return false
}

// remove deletes key's subscription to filter (under share) and prunes
// the nodes left empty. It reports whether there was one.
func (t *topicTree[K, V]) remove(filter, share string, key K) bool {
	levels := strings.Split(filter, "/")
	removed := removeAt(&t.root, levels, share, key)
	if removed {
		t.count--
	}
	return removed
}

func removeAt[K comparable, V any](n *treeNode[K, V], levels []string, share string, key K) bool {
	if len(levels) == 0 {
		return n.removeHere(share, key)
	}
	level := levels[0]
	var c *treeNode[K, V]
	switch level {
	case "+":
		c = n.plus
	case "#":
		c = n.hash
	default:
		c = n.children[level]
	}
	if c == nil || !removeAt(c, levels[1:], share, key) {
		return false
	}
	if c.empty() {
		switch level {
		case "+":
			n.plus = nil
		case "#":
			n.hash = nil
		default:
			delete(n.children, level)
		}
	}
	return true
}

func (n *treeNode[K, V]) removeHere(share string, key K) bool {
	if share == "" {
		if _, ok := n.subs[key]; !ok {
			return false
		}
		delete(n.subs, key)
		return true
	}
	g := n.shared[share]
	if g == nil {
		return false
	}
	for i := range g.members {
		if g.members[i].key == key {
			g.members = append(g.members[:i], g.members[i+1:]...)
			if len(g.members) == 0 {
				delete(n.shared, share)
			}
			return true
		}
	}
	return false
}

// match calls sub for every plain subscription whose filter matches topic
// and group for every shared group that does.
func (t *topicTree[K, V]) match(topic string, sub func(K, V), group func(*shareGroup[K, V])) {
	dollar := strings.HasPrefix(topic, "$")
	matchLevels(&t.root, topic, true, dollar, sub, group)
}

// matchLevels matches rest (the topic after the levels consumed to reach
// n); more is false once every level has been consumed.
func matchLevels[K comparable, V any](n *treeNode[K, V], rest string, more, dollar bool, sub func(K, V), group func(*shareGroup[K, V])) {
	if !dollar && n.hash != nil {
		n.hash.emit(sub, group) // '#' matches the parent and everything below
	}
	if !more {
		n.emit(sub, group)
		return
	}
	level, tail, hasTail := strings.Cut(rest, "/")
	if c := n.children[level]; c != nil {
		matchLevels(c, tail, hasTail, false, sub, group)
	}
	if !dollar && n.plus != nil {
		matchLevels(n.plus, tail, hasTail, false, sub, group)
	}
}

func (n *treeNode[K, V]) emit(sub func(K, V), group func(*shareGroup[K, V])) {
	for k, v := range n.subs {
		sub(k, v)
	}
	for _, g := range n.shared {
		group(g)
	}
}
