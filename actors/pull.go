package actors

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

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
	t, ok := b.topics.get(h.Topic)
	if !ok {
		b.reply(req, remoting.ResponseTopicNotExist, "topic "+h.Topic+" does not exist")
		return
	}
	if t.Perm&PermRead == 0 {
		b.reply(req, remoting.ResponseNoPermission, "topic "+h.Topic+" is not readable")
		return
	}
	if h.QueueID < 0 || h.QueueID >= max(t.ReadQueueNums, t.WriteQueueNums) {
		b.reply(req, remoting.ResponseSystemError, "queueId out of range for topic "+h.Topic)
		return
	}
	q := pullQuery{group: h.ConsumerGroup, topic: h.Topic, queueID: h.QueueID, offset: h.QueueOffset, maxMsgs: int(h.MaxMsgNums)}
	if q.sub = b.pullSubscription(&h); q.sub == nil {
		b.reply(req, remoting.ResponseSubscriptionNotExist, "group "+h.ConsumerGroup+" has no subscription for "+h.Topic)
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
		req.Detach()
		b.hold.park(&parkedPull{req: req, query: q, deadline: time.Now().Add(suspend)})
		return
	}
	b.metrics.countGet(q.topic, &res)
	req.Reply(pullResponse(&req.Cmd, &res))
	res.release()
}

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
// RocketMQ's offset rules (protocol §3.6), and names the group member the
// next pull should go to.
func (b *Broker) pullOnce(q *pullQuery) pullResult {
	res := b.pullQueue(q)
	res.suggest = b.suggestBroker(q, &res)
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
	query    pullQuery
	deadline time.Time
}

type holdKey struct {
	topic   string
	queueID int32
}

// pullHold parks pulls that found nothing and answers them when a message
// arrives for their queue (the writer notifies after each batch) or when
// their suspend time ends. It runs on its own goroutine so neither the
// writer nor an event loop ever waits for it.
type pullHold struct {
	broker *Broker
	parked atomic.Int64
	wake   chan struct{}
	mu     struct {
		sync.Mutex
		byQueue map[holdKey][]*parkedPull
		arrived map[holdKey]struct{}
	}
}

func newPullHold(b *Broker) *pullHold {
	h := &pullHold{broker: b, wake: make(chan struct{}, 1)}
	h.mu.byQueue = map[holdKey][]*parkedPull{}
	h.mu.arrived = map[holdKey]struct{}{}
	return h
}

func (h *pullHold) park(p *parkedPull) {
	h.mu.Lock()
	k := holdKey{p.query.topic, p.query.queueID}
	h.mu.byQueue[k] = append(h.mu.byQueue[k], p)
	h.mu.Unlock()
	h.parked.Add(1)
	// A message may have landed between the pull and the park.
	if cq := h.broker.store.ConsumeQueue(k.topic, k.queueID); cq != nil && cq.MaxOffset() > p.query.offset {
		h.markArrived(k)
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

// notify runs on the writer goroutine after a batch is published.
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
	t := time.NewTicker(pullHoldTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			h.expireAll()
			return
		case <-h.wake:
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
	h.parked.Add(-1)
	h.broker.metrics.countGet(p.query.topic, res)
	p.req.Reply(pullResponse(&p.req.Cmd, res))
	res.release()
	p.req.Release()
}
