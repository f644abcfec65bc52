package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
	"github.com/cometmq/comet/sqlfilter"
	"github.com/valyala/bytebufferpool"
)

const (
	defaultPullBatch = 32      // when the client asks for 0 messages
	maxPullBatch     = 1024    // messages per pull response
	maxPullBytes     = 4 << 20 // bytes per pull response (at least one message)
	// maxInitialPullBody caps the body allocated up front for a batch.
	maxInitialPullBody = 256 << 10
	pullHoldTick       = 100 * time.Millisecond
)

// pullResult is the outcome of one attempt to serve a pull.
type pullResult struct {
	code     int16
	next     int64
	min, max int64
	body     []byte // bodyBuf.B once a record matched
	bodyBuf  *bytebufferpool.ByteBuffer
	found    int
	suggest  int64 // suggestWhichBrokerId (replication_pull.go)
}

// pullBodyPool holds the buffers pull bodies are gathered in. A body lives
// only until its reply is encoded (Request.Reply copies it into the
// connection's outbound buffer before returning), so the next pull reuses
// the memory: a burst of pulls for megabytes of messages then costs copies
// into warm pages instead of a fresh allocation each, whose page faults
// are most of the cost of a large pull on the event loop.
var pullBodyPool bytebufferpool.Pool

// release returns the body buffer to its pool. The body must not be used
// afterwards.
func (r *pullResult) release() {
	if r.bodyBuf != nil {
		r.bodyBuf.B = r.body[:0]
		pullBodyPool.Put(r.bodyBuf)
		r.bodyBuf, r.body = nil, nil
	}
}

// pullQuery is one parsed pull request.
type pullQuery struct {
	group   string
	topic   string
	queueID int32
	offset  int64
	maxMsgs int
	sub     *Subscription
	retry   map[string]*sqlfilter.Expr // retry topic: SQL92 filters by original topic
}

func (b *Broker) handlePull(req *netio.Request) {
	h, err := remoting.ParsePullHeader(&req.Cmd)
	if err != nil {
		b.reply(req, remoting.ResponseSystemError, err.Error())
		return
	}
	if code, remark := b.pullRefusal(h.ConsumerGroup); code != remoting.ResponseSuccess {
		b.reply(req, code, remark)
		return
	}
	t, ok := b.topics.get(h.Topic)
	if !ok {
		b.reply(req, remoting.ResponseTopicNotExist, "topic "+h.Topic+" does not exist")
		return
	}
	if t.Perm&remoting.PermRead == 0 {
		b.reply(req, remoting.ResponseNoPermission, "topic "+h.Topic+" is not readable")
		return
	}
	if h.QueueID < 0 || h.QueueID >= max(t.ReadQueueNums, t.WriteQueueNums) {
		b.reply(req, remoting.ResponseSystemError, "queueId out of range for topic "+h.Topic)
		return
	}
	sub, compile := b.loopSubscription(&h)
	if compile {
		b.compileOffLoop(req, func() { b.servePull(req, &h, b.pullSubscription(&h)) })
		return
	}
	b.servePull(req, &h, sub)
}

// servePull answers a pull filtered with sub, or parks it. It runs on the
// event loop, or on the compile worker with req detached (then it releases
// req, or hands it to the pull hold).
func (b *Broker) servePull(req *netio.Request, h *remoting.PullHeader, sub *Subscription) {
	q := pullQuery{group: h.ConsumerGroup, topic: h.Topic, queueID: h.QueueID, offset: h.QueueOffset, maxMsgs: int(h.MaxMsgNums), sub: sub}
	if q.sub == nil {
		b.replyDone(req, remoting.ResponseSubscriptionNotExist, "group "+h.ConsumerGroup+" has no subscription for "+h.Topic)
		return
	}
	if q.sub.ParseErr != nil {
		b.refuseBadFilter(req, &q)
		return
	}
	q.retry = b.retryFilters(q.group, q.topic)
	if h.HasCommitOffset() && h.CommitOffset >= 0 {
		b.offsets.commit(h.Topic, h.ConsumerGroup, h.QueueID, h.CommitOffset)
	}
	res := b.pullOnce(&q)
	if res.waitsForMessages() && h.IsSuspend() && h.SuspendTimeoutMillis > 0 {
		res.release()
		suspend := min(time.Duration(h.SuspendTimeoutMillis)*time.Millisecond, b.opts.MaxPullSuspend)
		q.offset = res.next
		b.parkPull(req, &q, suspend)
		return
	}
	b.metrics.countGet(q.topic, q.group, &res)
	req.Reply(pullResponse(&req.Cmd, &res))
	res.release()
	if req.Detached() {
		req.Release()
	}
}

// parkPull hands a pull that found nothing to the pull hold, or answers it
// SYSTEM_BUSY at once when too many pulls are parked already.
func (b *Broker) parkPull(req *netio.Request, q *pullQuery, suspend time.Duration) {
	if !req.Detached() {
		req.Detach()
	}
	err := b.hold.park(&parkedPull{req: req, connID: req.Conn.ID(), query: *q, deadline: time.Now().Add(suspend)})
	if err == nil {
		return
	}
	if parkRefusalLog.due(xxhash.Sum64String(err.Error())) {
		b.log.Warn("actors: long polls refused; answered SYSTEM_BUSY at once", "conn", req.Conn.RemoteAddr(),
			"group", q.group, "topic", q.topic, "err", err, "refused_total", b.hold.refusedTotal())
	}
	b.replyDone(req, remoting.ResponseSystemBusy, "[PULL_PARK_LIMIT]"+err.Error()+"; pull again later")
}

// parkRefusalLog limits the log of refused long polls to one line a minute
// per limit.
var parkRefusalLog = &logLimiter{every: time.Minute, max: 16}

func pullResponse(reqCmd *remoting.Command, res *pullResult) *remoting.Command {
	resp := remoting.NewResponse(reqCmd, res.code, "")
	resp.Ext.Set("nextBeginOffset", itoa(res.next))
	resp.Ext.Set("minOffset", itoa(res.min))
	resp.Ext.Set("maxOffset", itoa(res.max))
	resp.Ext.Set("suggestWhichBrokerId", itoa(res.suggest))
	resp.Body = res.body
	return resp
}

// pullOnce reads up to q.maxMsgs matching records from the queue, following
// RocketMQ's offset rules for PULL_MESSAGE, and names the group member the
// next pull should go to.
func (b *Broker) pullOnce(q *pullQuery) pullResult {
	res := b.pullQueue(q)
	res.suggest = b.groupSuggestion(q.group, b.suggestBroker(q, &res))
	return res
}

func (b *Broker) pullQueue(q *pullQuery) pullResult {
	cq := b.store.ConsumeQueue(q.topic, q.queueID)
	if cq == nil {
		if q.offset == 0 {
			return pullResult{code: remoting.ResponsePullNotFound}
		}
		return pullResult{code: remoting.ResponsePullOffsetMoved}
	}
	minOff, maxOff := cq.MinOffset(), cq.MaxOffset()
	res := pullResult{min: minOff, max: maxOff}
	switch {
	case maxOff == 0 && q.offset == 0, q.offset == maxOff:
		res.code, res.next = remoting.ResponsePullNotFound, q.offset
		return res
	case maxOff == 0:
		res.code, res.next = remoting.ResponsePullOffsetMoved, 0
		return res
	case q.offset < minOff:
		res.code, res.next = remoting.ResponsePullOffsetMoved, minOff
		return res
	case q.offset > maxOff:
		res.code, res.next = remoting.ResponsePullOffsetMoved, maxOff
		return res
	}
	b.collect(q, cq, &res)
	return res
}

// waitsForMessages reports whether a pull found nothing and nothing is
// left to examine: the queue is empty from its offset on, or a filter
// rejected every entry up to the end. Such a pull may be parked at
// r.next.
func (r *pullResult) waitsForMessages() bool {
	return r.code == remoting.ResponsePullNotFound ||
		r.code == remoting.ResponsePullRetryImmediately && r.found == 0 && r.next >= r.max
}

// pullBatch is how many messages a pull asking for maxMsgs gets at most.
func pullBatch(maxMsgs int) int {
	if maxMsgs <= 0 {
		return defaultPullBatch
	}
	return min(maxMsgs, maxPullBatch)
}

// collect gathers matching records from q.offset on into res.body,
// examining at most filterScanLimit entries.
func (b *Broker) collect(q *pullQuery, cq *persist.ConsumeQueue, res *pullResult) {
	want := pullBatch(q.maxMsgs)
	limit := filterScanLimit(want)
	off, scanned := q.offset, 0
	for ; off < res.max && res.found < want && scanned < limit; off++ {
		e, ok := cq.Entry(off)
		if !ok {
			break
		}
		scanned++
		if !q.sub.MatchesCode(e.TagsCode) {
			continue
		}
		raw, err := b.store.ReadRecord(e.CommitLogOffset, e.Size)
		if errors.Is(err, persist.ErrCorruption) {
			continue // never served: skipped like a filtered entry; persist counted and logged it
		}
		if err != nil {
			b.log.Warn("actors: pull read", "topic", q.topic, "queue", q.queueID, "offset", off, "err", err)
			break
		}
		if !q.matchesRecord(raw, e.CommitLogOffset) {
			continue
		}
		if res.found > 0 && len(res.body)+len(raw) > maxPullBytes {
			break
		}
		if res.bodyBuf == nil {
			res.bodyBuf = pullBodyPool.Get()
			res.body = res.bodyBuf.B[:0]
			if cap(res.body) == 0 {
				// Room for the whole batch if its records are alike, within reason.
				res.body = make([]byte, 0, min(len(raw)*(want-res.found), maxInitialPullBody))
			}
		}
		res.body = append(res.body, raw...)
		res.found++
	}
	res.next = off
	switch {
	case res.found > 0:
		res.code = remoting.ResponseSuccess
	case scanned > 0:
		res.code = remoting.ResponsePullRetryImmediately
	default:
		res.code, res.next = remoting.ResponsePullNotFound, q.offset
	}
}

// parkedPull is a long-poll request waiting for a message.
type parkedPull struct {
	req      *netio.Request
	connID   uint64
	query    pullQuery
	deadline time.Time
}

type holdKey struct {
	topic   string
	queueID int32
}

// Limits of the pull hold. A parked pull costs about a kilobyte (its
// request frame and bookkeeping), so the broker-wide default bounds the
// hold near 100 MB; the per-connection limit keeps one client from taking
// it all. RocketMQ clients keep one long poll per queue, so 1,024 is a
// consumer process reading 1,024 queues of this broker over one connection.
const (
	defaultMaxParkedPulls        = 100_000
	defaultMaxParkedPullsPerConn = 1024
)

// Why a long poll was not parked. Such a pull is answered SYSTEM_BUSY at
// once: client v2.1.2 (and the Java client) then pulls that queue again
// after 3 s. PULL_NOT_FOUND would make it pull again at once, a busy loop
// for as long as the hold stays full.
var (
	errParkedPerConn = errors.New("actors: too many long polls parked on this connection")
	errParkedTotal   = errors.New("actors: too many long polls parked on this broker")
)

// pullHold parks pulls that found nothing and answers them when a message
// arrives for their queue (the writer notifies after each batch) or when
// their suspend time ends. It runs on its own goroutine so neither the
// writer nor an event loop ever waits for it. It holds at most maxTotal
// pulls, at most maxPerConn of one connection; the pulls of a connection
// that closes are dropped.
type pullHold struct {
	broker     *Broker
	maxTotal   int64
	maxPerConn int
	parked     atomic.Int64 // parked, or taken out to be served
	refused    struct{ perConn, total atomic.Int64 }
	wake       chan struct{}
	done       chan struct{}
	mu         struct {
		sync.Mutex
		byQueue map[holdKey][]*parkedPull
		arrived map[holdKey]struct{}
		byConn  map[uint64]int // pulls counted in parked, by connection
		closed  []uint64       // connections closed with pulls parked
	}
}

func newPullHold(b *Broker, maxTotal, maxPerConn int) *pullHold {
	h := &pullHold{broker: b, maxTotal: int64(maxTotal), maxPerConn: maxPerConn,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	h.mu.byQueue = map[holdKey][]*parkedPull{}
	h.mu.arrived = map[holdKey]struct{}{}
	h.mu.byConn = map[uint64]int{}
	return h
}

// park takes p, or refuses it (errParkedPerConn, errParkedTotal); p.req
// must be detached.
func (h *pullHold) park(p *parkedPull) error {
	k := holdKey{p.query.topic, p.query.queueID}
	h.mu.Lock()
	if h.mu.byConn[p.connID] >= h.maxPerConn {
		h.mu.Unlock()
		h.refused.perConn.Add(1)
		return fmt.Errorf("%w (%d)", errParkedPerConn, h.maxPerConn)
	}
	if h.parked.Load() >= h.maxTotal {
		h.mu.Unlock()
		h.refused.total.Add(1)
		return fmt.Errorf("%w (%d)", errParkedTotal, h.maxTotal)
	}
	h.mu.byConn[p.connID]++
	h.parked.Add(1)
	h.mu.byQueue[k] = append(h.mu.byQueue[k], p)
	h.mu.Unlock()
	// A message may have landed between the pull and the park.
	if cq := h.broker.store.ConsumeQueue(k.topic, k.queueID); cq != nil && cq.MaxOffset() > p.query.offset {
		h.markArrived(k)
	}
	return nil
}

// refusedTotal is the number of long polls refused by either limit.
func (h *pullHold) refusedTotal() int64 { return h.refused.perConn.Load() + h.refused.total.Load() }

// connClosed notes that a connection closed; the hold goroutine drops its
// parked pulls. Safe from an event loop: it does not scan.
func (h *pullHold) connClosed(connID uint64) {
	h.mu.Lock()
	if h.mu.byConn[connID] > 0 {
		h.mu.closed = append(h.mu.closed, connID)
	}
	h.mu.Unlock()
	h.signal()
}

// dropClosed releases, unanswered, the parked pulls of closed connections.
func (h *pullHold) dropClosed() {
	h.mu.Lock()
	if len(h.mu.closed) == 0 {
		h.mu.Unlock()
		return
	}
	gone := make(map[uint64]bool, len(h.mu.closed))
	for _, id := range h.mu.closed {
		gone[id] = true
	}
	h.mu.closed = h.mu.closed[:0]
	var dropped []*parkedPull
	for k, list := range h.mu.byQueue {
		keep := list[:0]
		for _, p := range list {
			if gone[p.connID] {
				dropped = append(dropped, p)
			} else {
				keep = append(keep, p)
			}
		}
		clear(list[len(keep):])
		if len(keep) == 0 {
			delete(h.mu.byQueue, k)
		} else {
			h.mu.byQueue[k] = keep
		}
	}
	for _, p := range dropped {
		h.forgetLocked(p)
	}
	h.mu.Unlock()
	for _, p := range dropped {
		p.req.Release()
	}
}

// forgetLocked takes p out of the counts.
func (h *pullHold) forgetLocked(p *parkedPull) {
	h.parked.Add(-1)
	if n := h.mu.byConn[p.connID] - 1; n > 0 {
		h.mu.byConn[p.connID] = n
	} else {
		delete(h.mu.byConn, p.connID)
	}
}

// repark puts back a parked pull that is still waiting. A message that
// landed while it was out of the table is looked for again.
func (h *pullHold) repark(p *parkedPull) {
	k := holdKey{p.query.topic, p.query.queueID}
	h.mu.Lock()
	h.mu.byQueue[k] = append(h.mu.byQueue[k], p)
	h.mu.Unlock()
	if cq := h.broker.store.ConsumeQueue(k.topic, k.queueID); cq != nil && cq.MaxOffset() > p.query.offset {
		h.markArrived(k)
	}
}

// notify runs on whoever holds the writer's role (the writer goroutine, or
// an event loop appending inline) after a batch is published.
func (h *pullHold) notify(batch []persist.Dispatched) {
	if h.parked.Load() == 0 {
		return
	}
	h.mu.Lock()
	for i := range batch {
		k := holdKey{batch[i].Topic, batch[i].QueueID}
		if _, waiting := h.mu.byQueue[k]; waiting {
			h.mu.arrived[k] = struct{}{}
		}
	}
	h.mu.Unlock()
	h.signal()
}

func (h *pullHold) markArrived(k holdKey) {
	h.mu.Lock()
	h.mu.arrived[k] = struct{}{}
	h.mu.Unlock()
	h.signal()
}

func (h *pullHold) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

func (h *pullHold) run(ctx context.Context) {
	defer close(h.done)
	t := time.NewTicker(pullHoldTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			h.expireAll()
			return
		case <-h.wake:
			h.dropClosed()
			h.serveArrivals()
		case now := <-t.C:
			h.expire(now)
		}
	}
}

func (h *pullHold) serveArrivals() {
	h.mu.Lock()
	var ready []*parkedPull
	for k := range h.mu.arrived {
		ready = append(ready, h.mu.byQueue[k]...)
		delete(h.mu.byQueue, k)
		delete(h.mu.arrived, k)
	}
	h.mu.Unlock()
	for _, p := range ready {
		res := h.broker.pullOnce(&p.query)
		if res.waitsForMessages() && time.Now().Before(p.deadline) {
			res.release()
			p.query.offset = res.next
			h.repark(p)
			continue
		}
		h.answer(p, &res)
	}
}

// expire answers the pulls whose suspend time has ended.
func (h *pullHold) expire(now time.Time) {
	var due []*parkedPull
	h.mu.Lock()
	for k, list := range h.mu.byQueue {
		keep := list[:0]
		for _, p := range list {
			if now.Before(p.deadline) {
				keep = append(keep, p)
			} else {
				due = append(due, p)
			}
		}
		if len(keep) == 0 {
			delete(h.mu.byQueue, k)
		} else {
			h.mu.byQueue[k] = keep
		}
	}
	h.mu.Unlock()
	for _, p := range due {
		res := h.broker.pullOnce(&p.query)
		h.answer(p, &res)
	}
}

func (h *pullHold) expireAll() {
	h.expire(time.Now().Add(24 * time.Hour))
}

func (h *pullHold) answer(p *parkedPull, res *pullResult) {
	h.mu.Lock()
	h.forgetLocked(p)
	h.mu.Unlock()
	h.broker.metrics.countGet(p.query.topic, p.query.group, res)
	p.req.Reply(pullResponse(&p.req.Cmd, res))
	res.release()
	p.req.Release()
}
