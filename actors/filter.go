package actors

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/ristretto/v2"

	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
	"github.com/cometmq/comet/sqlfilter"
)

const (
	// Consume-queue entries one filtered pull may examine: enough to fill a
	// batch at a 1% match rate, small enough to answer within milliseconds.
	minFilterScan = 4096
	maxFilterScan = 32768

	// The compile cache holds expressions by text; its cost is an
	// estimate of the bytes an entry keeps alive: a compiled expression
	// retains 15 to 80 bytes per byte of text (measured on IN lists, OR
	// chains and short mixed expressions), a refusal its text and error.
	compileCacheMaxCost = 8 << 20
	compiledCostFactor  = 64
	compiledBaseCost    = 256

	// maxTagExpressionBytes caps a tag expression ("a || b || ..."): it is
	// split into a set on the event loop. RocketMQ clients send a few tags.
	maxTagExpressionBytes = 16 << 10

	badFilterLogEvery = time.Minute
	badFilterLogMax   = 4096
	// exprLogPrefix is how much of a refused expression a log line shows;
	// the rest is identified by its length and hash.
	exprLogPrefix = 128
)

// filterScanLimit is how many consume-queue entries a pull wanting want
// messages may examine when a filter rejects entries.
func filterScanLimit(want int) int {
	return min(max(32*want, minFilterScan), maxFilterScan)
}

// compiledFilter is the outcome of compiling one expression text.
type compiledFilter struct {
	src  string
	expr *sqlfilter.Expr
	err  error
}

// compileCache is one bounded cache of compiled expressions shared by all
// brokers of the process: compiling is a pure function of the text. It is
// a hint only (ristretto may drop any Set); a miss compiles again.
var compileCache = sync.OnceValue(func() *ristretto.Cache[string, *compiledFilter] {
	c, err := ristretto.NewCache(&ristretto.Config[string, *compiledFilter]{
		NumCounters: 100_000, MaxCost: compileCacheMaxCost, BufferItems: 64,
	})
	if err != nil {
		return nil // never with this configuration; compile without a cache
	}
	return c
})

// compileSQL compiles expr, or returns the cached outcome of an earlier
// compile of the same text (failures are cached too). An expression longer
// than sqlfilter.MaxExpressionBytes is refused without being read or
// cached. It may take a millisecond: event loops call cachedSQL instead and
// leave misses to the compile worker (compileOffLoop).
func compileSQL(expr string) *compiledFilter {
	if c, ok := cachedSQL(expr); ok {
		return c
	}
	e, err := sqlfilter.Compile(expr)
	c := &compiledFilter{src: expr, expr: e, err: err}
	if cache := compileCache(); cache != nil {
		cost := compiledBaseCost + compiledCostFactor*int64(len(expr))
		if err != nil {
			cost = compiledBaseCost + 2*int64(len(expr))
		}
		cache.Set(expr, c, cost)
	}
	return c
}

// cachedSQL is the outcome of compiling expr when it is known without
// compiling: a cached outcome, or the refusal of an expression that is too
// long. Cheap enough for an event loop.
func cachedSQL(expr string) (*compiledFilter, bool) {
	if len(expr) > sqlfilter.MaxExpressionBytes {
		_, err := sqlfilter.Compile(expr) // refused by its length alone, unread
		return &compiledFilter{expr: nil, err: err}, true
	}
	if cache := compileCache(); cache != nil {
		if c, ok := cache.Get(expr); ok && c.src == expr {
			return c, true
		}
	}
	return nil, false
}

// pullSubscription is the subscription a pull is filtered with: the one
// its header carries (sysFlag bit 2), else the one its group registered
// by heartbeat for the topic (the push consumer sends its SQL92
// expression only there); nil when there is none.
func (b *Broker) pullSubscription(h *remoting.PullHeader) *Subscription {
	if h.HasSubscription() {
		return b.headerSubscription(h)
	}
	sub, _ := b.groups.subscription(h.ConsumerGroup, h.Topic)
	return sub
}

// headerSubscription is the subscription a pull header carries (sysFlag
// bit 2). The group's registered subscription is reused when it has the
// same text: that saves compiling, and it keeps SQL92 working for a push
// consumer with PostSubscriptionWhenPull, whose pulls send the SQL text
// labelled "TAG".
func (b *Broker) headerSubscription(h *remoting.PullHeader) *Subscription {
	if reg := b.reusableSubscription(h); reg != nil {
		return reg
	}
	return NewSubscription(h.Topic, h.ExpressionType, h.Subscription)
}

func (b *Broker) reusableSubscription(h *remoting.PullHeader) *Subscription {
	typ := normalizeExprType(h.ExpressionType)
	if reg, ok := b.groups.subscription(h.ConsumerGroup, h.Topic); ok && reg.Expr == h.Subscription &&
		(reg.Type == typ || reg.Type == ExprTypeSQL92) {
		return reg
	}
	return nil
}

// loopSubscription is pullSubscription for an event loop: it never
// compiles. When the header's SQL92 expression is neither registered nor
// in the compile cache it reports compile instead (the compile worker then
// serves the pull).
func (b *Broker) loopSubscription(h *remoting.PullHeader) (sub *Subscription, compile bool) {
	if !h.HasSubscription() {
		sub, _ = b.groups.subscription(h.ConsumerGroup, h.Topic)
		return sub, false
	}
	if reg := b.reusableSubscription(h); reg != nil {
		return reg, false
	}
	if normalizeExprType(h.ExpressionType) != ExprTypeSQL92 {
		return NewTagSubscription(h.Topic, h.Subscription), false
	}
	c, known := cachedSQL(h.Subscription)
	if !known {
		return nil, true
	}
	return sqlSubscription(h.Topic, h.Subscription, c), false
}

// retryFilters returns, for a pull of group's retry topic, the group's
// SQL92 expressions by original topic; nil otherwise.
func (b *Broker) retryFilters(group, topic string) map[string]*sqlfilter.Expr {
	if !strings.HasPrefix(topic, remoting.RetryGroupTopicPrefix) || topic[len(remoting.RetryGroupTopicPrefix):] != group {
		return nil
	}
	return b.groups.sqlFilters(group)
}

// needsRecord reports whether deciding on an entry needs its record.
func (q *pullQuery) needsRecord() bool {
	return !q.sub.All || q.retry != nil
}

// matchesRecord decides on one record that passed the consume-queue
// check. A record that cannot be parsed is not delivered.
func (q *pullQuery) matchesRecord(raw []byte, phys int64) bool {
	if !q.needsRecord() {
		return true
	}
	rv, err := persist.ParseRecordHeader(raw, phys)
	if err != nil {
		return false
	}
	props := rv.Properties()
	if q.retry != nil {
		if origin, ok := sqlfilter.LookupProperty(props, remoting.PropertyRetryTopic); ok {
			if expr := q.retry[origin]; expr != nil && !expr.MatchProperties(props) {
				return false
			}
		}
	}
	switch {
	case q.sub.All:
		return true
	case q.sub.SQL != nil:
		return q.sub.SQL.MatchProperties(props)
	}
	tag, ok := sqlfilter.LookupProperty(props, remoting.PropertyTags)
	return ok && q.sub.Tags[tag]
}

// refuseBadFilter answers a pull whose subscription expression was
// refused with SUBSCRIPTION_PARSE_FAILED, and logs it (rate-limited per
// group, topic and expression; the expression as a prefix and a hash).
func (b *Broker) refuseBadFilter(req *netio.Request, q *pullQuery) {
	d := q.sub.refusedDigest
	if badFilterLog.due(xxhash.Sum64String(q.group + "\x00" + q.topic + "\x00" + d.hashHex())) {
		b.log.Warn("actors: subscription expression refused; pulls are refused",
			"group", q.group, "topic", q.topic, "type", q.sub.Type, "expression", d, "err", q.sub.ParseErr)
	}
	b.replyDone(req, remoting.ResponseSubscriptionParseFailed,
		"group "+q.group+" subscribes to "+q.topic+" with a bad "+q.sub.Type+" expression: "+q.sub.ParseErr.Error())
}

// exprDigest identifies an expression in a log line without writing it
// whole: its first exprLogPrefix bytes, its length and its xxhash64.
type exprDigest struct {
	prefix string
	bytes  int
	hash   uint64
}

func digestOf(expr string) exprDigest {
	prefix := expr
	if len(prefix) > exprLogPrefix {
		cut := exprLogPrefix
		for cut > 0 && !utf8.RuneStart(prefix[cut]) {
			cut--
		}
		prefix = strings.Clone(prefix[:cut]) // do not pin the whole text
	}
	return exprDigest{prefix: prefix, bytes: len(expr), hash: xxhash.Sum64String(expr)}
}

func (d exprDigest) hashHex() string { return fmt.Sprintf("%016x", d.hash) }

// LogValue logs the digest as a group: prefix, bytes, xxhash.
func (d exprDigest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("prefix", d.prefix), slog.Int("bytes", d.bytes), slog.String("xxhash", d.hashHex()))
}

// badFilterLog remembers when each refused subscription was last logged,
// by a hash of group, topic and expression. It is bounded: when full it
// forgets everything.
var badFilterLog = &logLimiter{every: badFilterLogEvery, max: badFilterLogMax}

type logLimiter struct {
	every time.Duration
	max   int
	mu    struct {
		sync.Mutex
		last map[uint64]time.Time
	}
}

// due reports whether key should be logged now, and if so notes it.
func (l *logLimiter) due(key uint64) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, ok := l.mu.last[key]; ok && now.Sub(last) < l.every {
		return false
	}
	if l.mu.last == nil || len(l.mu.last) >= l.max {
		l.mu.last = map[uint64]time.Time{}
	}
	l.mu.last[key] = now
	return true
}

// checkClientRequest is the CHECK_CLIENT_CONFIG body the Java client sends
// before it starts a consumer with a non-TAG subscription.
type checkClientRequest struct {
	ClientID         string           `json:"clientId"`
	Group            string           `json:"group"`
	SubscriptionData subscriptionData `json:"subscriptionData"`
}

// handleCheckClientConfig answers CHECK_CLIENT_CONFIG: SUCCESS for tag
// subscriptions and SQL92 expressions that compile, else
// SUBSCRIPTION_PARSE_FAILED, so a Java consumer with a bad expression
// fails at start. An expression that is not in the compile cache is
// compiled by the compile worker, which runs this handler again.
func (b *Broker) handleCheckClientConfig(req *netio.Request) {
	var body checkClientRequest
	if err := json.Unmarshal(req.Cmd.Body, &body); err != nil {
		b.replyDone(req, remoting.ResponseSystemError, "bad CHECK_CLIENT_CONFIG body: "+err.Error())
		return
	}
	sd := body.SubscriptionData
	if normalizeExprType(sd.ExpressionType) != ExprTypeSQL92 {
		b.replyDone(req, remoting.ResponseSuccess, "")
		return
	}
	c, known := cachedSQL(sd.SubString)
	if !known && !req.Detached() {
		b.compileOffLoop(req, func() { b.handleCheckClientConfig(req) })
		return
	}
	if !known {
		c = compileSQL(sd.SubString)
	}
	if c.err != nil {
		d := digestOf(sd.SubString)
		if badFilterLog.due(xxhash.Sum64String(body.Group + "\x00" + sd.Topic + "\x00" + d.hashHex())) {
			b.log.Warn("actors: SQL92 subscription does not compile", "group", body.Group, "topic", sd.Topic,
				"client", body.ClientID, "expression", d, "err", c.err)
		}
		b.replyDone(req, remoting.ResponseSubscriptionParseFailed, c.err.Error())
		return
	}
	b.replyDone(req, remoting.ResponseSuccess, "")
}
