package actors

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/persist"
	"github.com/cometmq/comet/sqlfilter"
)

// heartbeatData is the HEART_BEAT body (client v2.1.2 spelling).
type heartbeatData struct {
	ClientID        string `json:"clientID"`
	ProducerDataSet []struct {
		GroupName string `json:"groupName"`
	} `json:"producerDataSet"`
	ConsumerDataSet []consumerData `json:"consumerDataSet"`

	// From the request header, not the body: the client's language and
	// its MQVersion ordinal, kept for the connection lists.
	language byte
	version  int16
}

type consumerData struct {
	GroupName           string             `json:"groupName"`
	ConsumeType         string             `json:"consumeType"`
	MessageModel        string             `json:"messageModel"`
	ConsumeFromWhere    string             `json:"consumeFromWhere"`
	SubscriptionDataSet []subscriptionData `json:"subscriptionDataSet"`
}

type subscriptionData struct {
	Topic          string   `json:"topic"`
	SubString      string   `json:"subString"`
	TagsSet        []string `json:"tagsSet"`
	SubVersion     int64    `json:"subVersion"`
	ExpressionType string   `json:"expressionType"`
}

// Expression types of a subscription (SubscriptionData.expressionType).
const (
	ExprTypeTag   = "TAG"
	ExprTypeSQL92 = "SQL92"
)

// Subscription is a consumer group's filter for one topic. It is
// immutable once built (except Version, which only the registry touches
// under its lock), so pulls read it without locking.
type Subscription struct {
	Topic   string
	Type    string          // ExprTypeTag or ExprTypeSQL92
	Expr    string          // the expression; a placeholder naming its length and hash when it was refused as too long
	All     bool            // "*" or empty: every message
	Tags    map[string]bool // exact tags
	Codes   map[int64]bool  // Java hash codes of Tags, matched against the consume queue
	Version int64

	// SQL is the compiled expression of an SQL92 subscription; ParseErr
	// says why the expression was refused (pulls then answer
	// SUBSCRIPTION_PARSE_FAILED), and refusedDigest identifies it in logs.
	SQL           *sqlfilter.Expr
	ParseErr      error
	refusedDigest exprDigest
}

// NewSubscription builds the subscription for an expression type as sent
// by clients: "SQL92" (any case) compiles an SQL92 filter, anything else
// ("TAG", "" or unknown) is a tag expression.
func NewSubscription(topic, exprType, expr string) *Subscription {
	if normalizeExprType(exprType) == ExprTypeSQL92 {
		return NewSQLSubscription(topic, expr)
	}
	return NewTagSubscription(topic, expr)
}

// NewTagSubscription parses a tag expression ("*", "a || b"). One longer
// than maxTagExpressionBytes is refused unread (ParseErr).
func NewTagSubscription(topic, expr string) *Subscription {
	s := &Subscription{Topic: topic, Type: ExprTypeTag, Expr: expr, Tags: map[string]bool{}, Codes: map[int64]bool{}}
	if len(expr) > maxTagExpressionBytes {
		s.refuse(fmt.Errorf("actors: tag expression of %d bytes is longer than the %d-byte limit", len(expr), maxTagExpressionBytes))
		return s
	}
	expr = strings.TrimSpace(expr)
	if expr == "" || expr == "*" {
		s.All = true
		return s
	}
	for _, tag := range strings.Split(expr, "||") {
		if tag = strings.TrimSpace(tag); tag != "" {
			s.Tags[tag] = true
			s.Codes[int64(persist.JavaStringHashCode(tag))] = true
		}
	}
	s.All = len(s.Tags) == 0
	return s
}

// NewSQLSubscription compiles an SQL92 expression (through the shared
// compile cache). A bad expression yields a subscription with ParseErr set.
// It may compile: not for event loops (see filter.go).
func NewSQLSubscription(topic, expr string) *Subscription {
	return sqlSubscription(topic, expr, compileSQL(expr))
}

// sqlSubscription is the subscription for an expression already compiled.
func sqlSubscription(topic, expr string, c *compiledFilter) *Subscription {
	s := &Subscription{Topic: topic, Type: ExprTypeSQL92, Expr: expr, Tags: map[string]bool{}, Codes: map[int64]bool{},
		SQL: c.expr}
	if c.err != nil {
		s.refuse(c.err)
	}
	return s
}

// refuse marks the subscription refused. An expression too long to be read
// is not kept: Expr becomes a placeholder that no registration compares
// equal to, so the text is not pinned in the group registry.
func (s *Subscription) refuse(err error) {
	s.ParseErr = err
	s.refusedDigest = digestOf(s.Expr)
	if len(s.Expr) > sqlfilter.MaxExpressionBytes {
		s.Expr = fmt.Sprintf("\x00refused: %d bytes, xxhash %s", len(s.Expr), s.refusedDigest.hashHex())
	}
}

// MatchesCode is the consume-queue check (tag hash code). SQL92
// subscriptions pass it: they are decided on the record's properties.
func (s *Subscription) MatchesCode(code int64) bool { return s.All || s.SQL != nil || s.Codes[code] }

type clientChannel struct {
	conn     *netio.Conn
	clientID string
	lastSeen time.Time
	language byte  // remoting language code of its heartbeat
	version  int16 // MQVersion ordinal of its heartbeat
}

type consumerGroup struct {
	name             string
	messageModel     string
	consumeType      string
	consumeFromWhere string
	channels         map[uint64]*clientChannel
	subs             map[string]*Subscription
}

type producerGroup struct {
	channels map[uint64]*clientChannel
}

// groupRegistry tracks consumer and producer group membership per
// (group, connection), their subscriptions, and orderly-consumption locks.
type groupRegistry struct {
	expiry  time.Duration
	lockTTL time.Duration
	mu      struct {
		sync.Mutex
		consumers map[string]*consumerGroup
		producers map[string]*producerGroup
		locks     map[string]map[lockKey]*mqLock // group -> queue -> holder
	}
}

type lockKey struct {
	topic, broker string
	queueID       int
}

type mqLock struct {
	clientID string
	updated  time.Time
}

func newGroupRegistry(expiry, lockTTL time.Duration) *groupRegistry {
	g := &groupRegistry{expiry: expiry, lockTTL: lockTTL}
	g.mu.consumers = map[string]*consumerGroup{}
	g.mu.producers = map[string]*producerGroup{}
	g.mu.locks = map[string]map[lockKey]*mqLock{}
	return g
}

// heartbeat registers the connection under every group of hb and returns
// the consumer groups whose membership or topic set changed. compiled
// holds the SQL92 expressions of hb by text (heartbeatFilters); one
// missing is compiled here.
func (g *groupRegistry) heartbeat(conn *netio.Conn, hb *heartbeatData, compiled map[string]*compiledFilter, now time.Time) (changed []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range hb.ProducerDataSet {
		pg := g.mu.producers[p.GroupName]
		if pg == nil {
			pg = &producerGroup{channels: map[uint64]*clientChannel{}}
			g.mu.producers[p.GroupName] = pg
		}
		pg.channels[conn.ID()] = &clientChannel{conn: conn, clientID: hb.ClientID, lastSeen: now,
			language: hb.language, version: hb.version}
	}
	for i := range hb.ConsumerDataSet {
		if g.registerConsumerLocked(conn, hb, &hb.ConsumerDataSet[i], compiled, now) {
			changed = append(changed, hb.ConsumerDataSet[i].GroupName)
		}
	}
	return changed
}

func (g *groupRegistry) registerConsumerLocked(conn *netio.Conn, hb *heartbeatData, cd *consumerData,
	compiled map[string]*compiledFilter, now time.Time) bool {
	clientID := hb.ClientID
	cg := g.mu.consumers[cd.GroupName]
	if cg == nil {
		cg = &consumerGroup{name: cd.GroupName, channels: map[uint64]*clientChannel{}, subs: map[string]*Subscription{}}
		g.mu.consumers[cd.GroupName] = cg
	}
	cg.messageModel, cg.consumeType, cg.consumeFromWhere = cd.MessageModel, cd.ConsumeType, cd.ConsumeFromWhere
	changed := false
	if ch := cg.channels[conn.ID()]; ch != nil {
		ch.lastSeen = now
		ch.clientID, ch.language, ch.version = clientID, hb.language, hb.version
	} else {
		cg.channels[conn.ID()] = &clientChannel{conn: conn, clientID: clientID, lastSeen: now,
			language: hb.language, version: hb.version}
		changed = true
	}
	seen := map[string]bool{}
	for _, sd := range cd.SubscriptionDataSet {
		seen[sd.Topic] = true
		old := cg.subs[sd.Topic]
		if old != nil && old.Expr == sd.SubString && old.Type == normalizeExprType(sd.ExpressionType) {
			old.Version = max(old.Version, sd.SubVersion)
			continue
		}
		if old == nil {
			changed = true
		}
		sub := heartbeatSubscription(&sd, compiled)
		sub.Version = sd.SubVersion
		cg.subs[sd.Topic] = sub
	}
	for topic := range cg.subs {
		if !seen[topic] {
			delete(cg.subs, topic)
			changed = true
		}
	}
	return changed
}

// heartbeatSubscription builds a registered subscription, with the SQL92
// expression compiled beforehand when there is one.
func heartbeatSubscription(sd *subscriptionData, compiled map[string]*compiledFilter) *Subscription {
	if normalizeExprType(sd.ExpressionType) != ExprTypeSQL92 {
		return NewTagSubscription(sd.Topic, sd.SubString)
	}
	if c := compiled[sd.SubString]; c != nil {
		return sqlSubscription(sd.Topic, sd.SubString, c)
	}
	return NewSQLSubscription(sd.Topic, sd.SubString)
}

// heartbeatFilters finds the SQL92 expressions of hb that are not
// registered yet, by text, in the compile cache. On an event loop, when
// one is missing, it hands the request to the compile worker, which runs
// handleHeartbeat again, and reports deferred; on the worker it compiles
// what is missing.
func (b *Broker) heartbeatFilters(req *netio.Request, hb *heartbeatData) (compiled map[string]*compiledFilter, deferred bool) {
	for i := range hb.ConsumerDataSet {
		cd := &hb.ConsumerDataSet[i]
		for j := range cd.SubscriptionDataSet {
			sd := &cd.SubscriptionDataSet[j]
			if normalizeExprType(sd.ExpressionType) != ExprTypeSQL92 || compiled[sd.SubString] != nil {
				continue
			}
			if reg, ok := b.groups.subscription(cd.GroupName, sd.Topic); ok && reg.Type == ExprTypeSQL92 && reg.Expr == sd.SubString {
				continue
			}
			c, known := cachedSQL(sd.SubString)
			if !known && !req.Detached() {
				b.compileOffLoop(req, func() { b.handleHeartbeat(req) })
				return nil, true
			}
			if !known {
				c = compileSQL(sd.SubString)
			}
			if compiled == nil {
				compiled = map[string]*compiledFilter{}
			}
			compiled[sd.SubString] = c
		}
	}
	return compiled, false
}

// normalizeExprType maps a client's expressionType to ExprTypeSQL92 or
// ExprTypeTag ("" and unknown types are tags, as protocol-notes A3 asks).
func normalizeExprType(t string) string {
	if strings.EqualFold(t, ExprTypeSQL92) {
		return ExprTypeSQL92
	}
	return ExprTypeTag
}

// subscription returns the group's subscription for topic.
func (g *groupRegistry) subscription(group, topic string) (*Subscription, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	cg := g.mu.consumers[group]
	if cg == nil {
		return nil, false
	}
	s, ok := cg.subs[topic]
	return s, ok
}

// sqlFilters returns the group's compiled SQL92 expressions by topic, or
// nil when it has none. Pulls of the group's retry topic filter each
// message with the expression of its original topic.
func (g *groupRegistry) sqlFilters(group string) map[string]*sqlfilter.Expr {
	g.mu.Lock()
	defer g.mu.Unlock()
	cg := g.mu.consumers[group]
	if cg == nil {
		return nil
	}
	var out map[string]*sqlfilter.Expr
	for topic, s := range cg.subs {
		if s.SQL != nil {
			if out == nil {
				out = map[string]*sqlfilter.Expr{}
			}
			out[topic] = s.SQL
		}
	}
	return out
}

// consumerIDs lists the client ids of a group's live channels, sorted.
func (g *groupRegistry) consumerIDs(group string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	cg := g.mu.consumers[group]
	if cg == nil {
		return nil
	}
	seen := map[string]bool{}
	var ids []string
	for _, ch := range cg.channels {
		if !seen[ch.clientID] {
			seen[ch.clientID] = true
			ids = append(ids, ch.clientID)
		}
	}
	sort.Strings(ids)
	return ids
}

// members returns the connections of a consumer group.
func (g *groupRegistry) members(group string) []*netio.Conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	cg := g.mu.consumers[group]
	if cg == nil {
		return nil
	}
	out := make([]*netio.Conn, 0, len(cg.channels))
	for _, ch := range cg.channels {
		out = append(out, ch.conn)
	}
	return out
}

// producerConn returns one live connection of a producer group.
func (g *groupRegistry) producerConn(group string) *netio.Conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	pg := g.mu.producers[group]
	if pg == nil {
		return nil
	}
	var best *clientChannel
	for _, ch := range pg.channels {
		if best == nil || ch.lastSeen.After(best.lastSeen) {
			best = ch
		}
	}
	if best == nil {
		return nil
	}
	return best.conn
}

// removeConn drops a closed connection everywhere and returns the consumer
// groups that lost a member.
func (g *groupRegistry) removeConn(connID uint64) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var changed []string
	for name, cg := range g.mu.consumers {
		if ch, ok := cg.channels[connID]; ok {
			delete(cg.channels, connID)
			g.releaseLocksLocked(name, cg, ch.clientID)
			changed = append(changed, name)
			if len(cg.channels) == 0 {
				delete(g.mu.consumers, name)
			}
		}
	}
	for name, pg := range g.mu.producers {
		delete(pg.channels, connID)
		if len(pg.channels) == 0 {
			delete(g.mu.producers, name)
		}
	}
	return changed
}

// unregister removes one connection from the named groups (either may be
// empty) and reports whether the consumer group lost a member.
func (g *groupRegistry) unregister(connID uint64, producerGroup, consumerGroup string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if pg := g.mu.producers[producerGroup]; pg != nil {
		delete(pg.channels, connID)
		if len(pg.channels) == 0 {
			delete(g.mu.producers, producerGroup)
		}
	}
	cg := g.mu.consumers[consumerGroup]
	if cg == nil {
		return false
	}
	ch, ok := cg.channels[connID]
	if !ok {
		return false
	}
	delete(cg.channels, connID)
	g.releaseLocksLocked(consumerGroup, cg, ch.clientID)
	if len(cg.channels) == 0 {
		delete(g.mu.consumers, consumerGroup)
	}
	return true
}

// releaseLocksLocked frees the queue locks of a client that has no channel
// left in the group. A consumer that left cannot consume: its queues go to
// the remaining members at their next lock instead of after the lock TTL
// (client v2.1.2 never unlocks the queues a rebalance takes from it, so
// only this lets them move before the TTL).
func (g *groupRegistry) releaseLocksLocked(group string, cg *consumerGroup, clientID string) {
	for _, ch := range cg.channels {
		if ch.clientID == clientID {
			return
		}
	}
	for k, l := range g.mu.locks[group] {
		if l.clientID == clientID {
			delete(g.mu.locks[group], k)
		}
	}
}

// expire drops (group, channel) entries silent for longer than the expiry.
func (g *groupRegistry) expire(now time.Time) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var changed []string
	for name, cg := range g.mu.consumers {
		for id, ch := range cg.channels {
			if now.Sub(ch.lastSeen) > g.expiry {
				delete(cg.channels, id)
				g.releaseLocksLocked(name, cg, ch.clientID)
				changed = append(changed, name)
			}
		}
		if len(cg.channels) == 0 {
			delete(g.mu.consumers, name)
		}
	}
	for name, pg := range g.mu.producers {
		for id, ch := range pg.channels {
			if now.Sub(ch.lastSeen) > g.expiry {
				delete(pg.channels, id)
			}
		}
		if len(pg.channels) == 0 {
			delete(g.mu.producers, name)
		}
	}
	return changed
}

// lockRequest is the LOCK_BATCH_MQ / UNLOCK_BATCH_MQ body.
type lockRequest struct {
	ConsumerGroup string         `json:"consumerGroup"`
	ClientID      string         `json:"clientId"`
	MQSet         []messageQueue `json:"mqSet"`
}

type messageQueue struct {
	Topic      string `json:"topic"`
	BrokerName string `json:"brokerName"`
	QueueID    int    `json:"queueId"`
}

// lock grants each queue that is free, expired, or already held by the
// client, and returns the granted ones.
func (g *groupRegistry) lock(req *lockRequest, now time.Time) []messageQueue {
	g.mu.Lock()
	defer g.mu.Unlock()
	locks := g.mu.locks[req.ConsumerGroup]
	if locks == nil {
		locks = map[lockKey]*mqLock{}
		g.mu.locks[req.ConsumerGroup] = locks
	}
	granted := []messageQueue{}
	for _, mq := range req.MQSet {
		k := lockKey{mq.Topic, mq.BrokerName, mq.QueueID}
		cur := locks[k]
		if cur == nil || cur.clientID == req.ClientID || now.Sub(cur.updated) > g.lockTTL {
			locks[k] = &mqLock{clientID: req.ClientID, updated: now}
			granted = append(granted, mq)
		}
	}
	return granted
}

func (g *groupRegistry) unlock(req *lockRequest) {
	g.mu.Lock()
	defer g.mu.Unlock()
	locks := g.mu.locks[req.ConsumerGroup]
	for _, mq := range req.MQSet {
		k := lockKey{mq.Topic, mq.BrokerName, mq.QueueID}
		if cur := locks[k]; cur != nil && cur.clientID == req.ClientID {
			delete(locks, k)
		}
	}
}

// groupNames lists consumer groups (for admin).
func (g *groupRegistry) groupNames() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.mu.consumers))
	for n := range g.mu.consumers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func decodeHeartbeat(body []byte) (*heartbeatData, error) {
	var hb heartbeatData
	if err := json.Unmarshal(body, &hb); err != nil {
		return nil, err
	}
	return &hb, nil
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
