package actors

import (
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
	"github.com/cometmq/comet/sqlfilter"
)

// Message filtering on the pull path. SQL92 filtering is always on
// (RocketMQ needs enablePropertyFilter=true for it).
//
// A tag subscription is checked against the consume queue's tag hash
// first and then against the record's TAGS property, so colliding hashes
// are not delivered. An SQL92 subscription is compiled once, when it
// arrives (heartbeat or pull header), and evaluated against the
// properties of each candidate record read straight from the commit log,
// without copying or allocating. Retry topics (%RETRY%group) are filtered
// with the SQL92 expression of each message's original topic (its
// RETRY_TOPIC property); RocketMQ does this only with filterSupportRetry.
//
// A filtered pull examines at most filterScanLimit consume-queue entries.
// When none of them matched it answers PULL_RETRY_IMMEDIATELY with the
// offset after the last entry examined, so the client moves on at once
// (client v2.1.2 treats it as "no match, pull again from nextBeginOffset";
// PULL_OFFSET_MOVED would make it drop the queue for 10 s). A pull whose
// scan reached the end of the queue without a match is parked like an
// empty pull, from the new offset.

const (
	// Consume-queue entries one filtered pull may examine: enough to fill a
	// batch at a 1% match rate, small enough to answer within milliseconds.
	minFilterScan = 4096
	maxFilterScan = 32768

	// The compile cache holds expressions by text; a cost unit is a byte
	// of expression text (times compiledCostFactor for the tree).
	compileCacheMaxCost = 8 << 20
	compiledCostFactor  = 16
	compiledBaseCost    = 256

	badFilterLogEvery = time.Minute
	badFilterLogMax   = 4096
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
// compile of the same text (failures are cached too).
func compileSQL(expr string) *compiledFilter {
	cache := compileCache()
	if cache != nil {
		if c, ok := cache.Get(expr); ok && c.src == expr {
			return c
		}
	}
	e, err := sqlfilter.Compile(expr)
	c := &compiledFilter{src: expr, expr: e, err: err}
	if cache != nil {
		cache.Set(expr, c, compiledBaseCost+compiledCostFactor*int64(len(expr)))
	}
	return c
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
	typ := normalizeExprType(h.ExpressionType)
	if reg, ok := b.groups.subscription(h.ConsumerGroup, h.Topic); ok && reg.Expr == h.Subscription &&
		(reg.Type == typ || reg.Type == ExprTypeSQL92) {
		return reg
	}
	return NewSubscription(h.Topic, typ, h.Subscription)
}

// retryFilters returns, for a pull of group's retry topic, the group's
// SQL92 expressions by original topic; nil otherwise.
func (b *Broker) retryFilters(group, topic string) map[string]*sqlfilter.Expr {
	if !strings.HasPrefix(topic, RetryTopicPrefix) || topic[len(RetryTopicPrefix):] != group {
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

// refuseBadFilter answers a pull whose SQL92 subscription does not
// compile with SUBSCRIPTION_PARSE_FAILED, and logs it (rate-limited per
// group, topic and expression).
func (b *Broker) refuseBadFilter(req *netio.Request, q *pullQuery) {
	if badFilterLog.due(q.group + "\x00" + q.topic + "\x00" + q.sub.Expr) {
		b.log.Warn("actors: SQL92 subscription does not compile; pulls are refused",
			"group", q.group, "topic", q.topic, "expression", q.sub.Expr, "err", q.sub.ParseErr)
	}
	b.reply(req, remoting.ResponseSubscriptionParseFailed,
		"group "+q.group+" subscribes to "+q.topic+" with a bad SQL92 expression: "+q.sub.ParseErr.Error())
}

// badFilterLog remembers when each bad subscription was last logged. It is
// bounded: when full it forgets everything.
var badFilterLog = &logLimiter{every: badFilterLogEvery, max: badFilterLogMax}

type logLimiter struct {
	every time.Duration
	max   int
	mu    struct {
		sync.Mutex
		last map[string]time.Time
	}
}

// due reports whether key should be logged now, and if so notes it.
func (l *logLimiter) due(key string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, ok := l.mu.last[key]; ok && now.Sub(last) < l.every {
		return false
	}
	if l.mu.last == nil || len(l.mu.last) >= l.max {
		l.mu.last = map[string]time.Time{}
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
// fails at start.
func (b *Broker) handleCheckClientConfig(req *netio.Request) {
	code, remark, body := checkClientConfig(req.Cmd.Body)
	if code == remoting.ResponseSubscriptionParseFailed {
		sd := body.SubscriptionData
		b.log.Warn("actors: SQL92 subscription does not compile", "group", body.Group, "topic", sd.Topic,
			"client", body.ClientID, "expression", sd.SubString, "err", remark)
	}
	b.reply(req, code, remark)
}

// checkClientConfig decides a CHECK_CLIENT_CONFIG request.
func checkClientConfig(raw []byte) (code int16, remark string, body checkClientRequest) {
	if err := json.Unmarshal(raw, &body); err != nil {
		return remoting.ResponseSystemError, "bad CHECK_CLIENT_CONFIG body: " + err.Error(), body
	}
	sd := body.SubscriptionData
	if normalizeExprType(sd.ExpressionType) == ExprTypeSQL92 {
		if c := compileSQL(sd.SubString); c.err != nil {
			return remoting.ResponseSubscriptionParseFailed, c.err.Error(), body
		}
	}
	return remoting.ResponseSuccess, "", body
}
