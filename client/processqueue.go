package client

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

// pullErrorBackoff is the pause after a failed pull (RocketMQ's 3 s).
const pullErrorBackoff = 3 * time.Second

// processQueue is one owned queue: its pull loop, the batches pulled but not
// yet handled (a FIFO in offset order), and the offset that is safe to
// commit, which is the first offset of the oldest unhandled batch, or the
// next offset to pull when every batch is handled.
type processQueue struct {
	pc  *PushConsumer
	sub *subscription
	mq  MessageQueue

	ctx     context.Context
	cancel  context.CancelFunc
	loops   sync.WaitGroup
	space   chan struct{} // capacity 1: a batch completed
	relock  chan struct{} // capacity 1: the lock was renewed
	ordered chan *consumeTask

	lockedUntil atomic.Int64 // unix ns; orderly only

	mu struct {
		sync.Mutex
		fifo          []*consumeTask
		head          int
		cached        int   // messages pulled, not yet handled
		nextPull      int64 // offset the next pull starts at
		lastCommitted int64 // last offset handed to the offset store
	}
}

// consumeTask is a batch of messages of one queue for one handler call.
type consumeTask struct {
	pq    *processQueue
	msgs  []*MessageExt // shrinks to the messages still to handle
	count int           // messages the task was made with
	first int64         // queue offset of the first message
	done  bool
	tries int
}

func newProcessQueue(pc *PushConsumer, sub *subscription, mq MessageQueue, offset int64) *processQueue {
	pq := &processQueue{pc: pc, sub: sub, mq: mq, space: make(chan struct{}, 1), relock: make(chan struct{}, 1)}
	pq.ctx, pq.cancel = context.WithCancel(pc.ctx)
	pq.mu.nextPull = offset
	pq.mu.lastCommitted = offset
	if pc.opts.orderly {
		pq.ordered = make(chan *consumeTask, max(1, pc.opts.maxCachedPerQueue/pc.opts.consumeBatch))
	}
	return pq
}

func (pq *processQueue) start() {
	pq.loops.Go(pq.pullLoop)
	if pq.ordered != nil {
		pq.loops.Go(pq.orderlyLoop)
	}
}

// stop ends the queue's loops and waits for them; an orderly batch being
// handled finishes first.
func (pq *processQueue) stop() {
	pq.cancel()
	pq.loops.Wait()
}

func (pq *processQueue) stopped() bool { return pq.ctx.Err() != nil }

func (pq *processQueue) setLockedUntil(t time.Time) {
	if t.IsZero() {
		pq.lockedUntil.Store(0)
		return
	}
	pq.lockedUntil.Store(t.UnixNano())
	select {
	case pq.relock <- struct{}{}:
	default:
	}
}

func (pq *processQueue) locked() bool { return time.Now().UnixNano() < pq.lockedUntil.Load() }

// waitLocked blocks until the queue's lock is valid or the queue stops.
func (pq *processQueue) waitLocked() bool {
	for !pq.locked() {
		select {
		case <-pq.relock:
		case <-pq.ctx.Done():
			return false
		}
	}
	return true
}

// waitForSpace blocks while the queue holds its maximum of unhandled
// messages: the per-queue flow control.
func (pq *processQueue) waitForSpace() bool {
	limit := pq.pc.opts.maxCachedPerQueue
	for {
		pq.mu.Lock()
		cached := pq.mu.cached
		pq.mu.Unlock()
		if cached < limit {
			return true
		}
		select {
		case <-pq.space:
		case <-pq.ctx.Done():
			return false
		}
	}
}

// pullLoop long-polls the queue and hands what it gets to the handlers.
func (pq *processQueue) pullLoop() {
	c := pq.pc.c
	timeout := pq.pc.opts.longPoll + c.opts.requestTimeout
	for pq.waitForSpace() {
		if pq.ordered != nil && !pq.waitLocked() {
			return
		}
		h := pq.pullHeader()
		res, err := c.pull(pq.ctx, pq.mq, &h, timeout)
		if pq.stopped() {
			return
		}
		if err != nil {
			c.log.Warn("client: pull", "queue", pq.mq.String(), "offset", h.QueueOffset, "err", err)
			if !sleepCtx(pq.ctx, pullErrorBackoff) {
				return
			}
			continue
		}
		pq.handlePull(res)
	}
}

func (pq *processQueue) pullHeader() remoting.PullHeader {
	opts := &pq.pc.opts
	pq.mu.Lock()
	next, committed := pq.mu.nextPull, pq.committedLocked()
	pq.mu.Unlock()
	h := remoting.PullHeader{
		ConsumerGroup: pq.pc.group, Topic: pq.mq.Topic, QueueID: int32(pq.mq.QueueID),
		QueueOffset: next, MaxMsgNums: int32(opts.pullBatch), CommitOffset: committed,
		SuspendTimeoutMillis: opts.longPoll.Milliseconds(),
		Subscription:         pq.sub.sel.Expression, SubVersion: pq.sub.version,
		ExpressionType: pq.sub.sel.typeName(),
	}
	if h.Subscription == "" {
		h.Subscription = "*"
	}
	if opts.longPoll > 0 {
		h.SysFlag |= remoting.PullFlagSuspend
	}
	if opts.model == Clustering && committed > 0 {
		h.SysFlag |= remoting.PullFlagCommitOffset
	}
	// Tag subscriptions travel with every pull, so a broker that lost the
	// heartbeat still filters right. SQL92 relies on the heartbeat, which
	// every broker with property filtering reads.
	if pq.sub.sel.isTag() {
		h.SysFlag |= remoting.PullFlagSubscription
	}
	return h
}

// handlePull advances the queue and dispatches what matched.
func (pq *processQueue) handlePull(res *PullResult) {
	switch res.Status {
	case PullFound:
		pq.dispatch(pq.filter(res.Messages), res.NextOffset)
	case PullOffsetIllegal:
		pq.pc.c.log.Warn("client: pull offset illegal, moving on", "queue", pq.mq.String(), "next", res.NextOffset)
		fallthrough
	default:
		pq.dispatch(nil, res.NextOffset)
	}
}

// filter drops messages of other tags (brokers may over-deliver on hash
// collisions) and restores the original topic of redelivered messages.
func (pq *processQueue) filter(msgs []*MessageExt) []*MessageExt {
	kept := msgs[:0]
	for _, m := range msgs {
		if pq.sub.retry {
			if origin := m.Properties[remoting.PropertyRetryTopic]; origin != "" {
				m.Topic = origin
			}
		} else if pq.sub.tags != nil && !pq.sub.tags[m.Tags] {
			continue
		}
		kept = append(kept, m)
	}
	return kept
}

// dispatch queues msgs as tasks and moves the pull offset to next.
func (pq *processQueue) dispatch(msgs []*MessageExt, next int64) {
	batch := pq.pc.opts.consumeBatch
	tasks := make([]*consumeTask, 0, (len(msgs)+batch-1)/batch)
	for start := 0; start < len(msgs); start += batch {
		end := min(start+batch, len(msgs))
		tasks = append(tasks, &consumeTask{pq: pq, msgs: msgs[start:end:end], count: end - start, first: msgs[start].QueueOffset})
	}
	pq.mu.Lock()
	pq.mu.fifo = append(pq.mu.fifo, tasks...)
	pq.mu.cached += len(msgs)
	pq.mu.nextPull = next
	pq.mu.Unlock()
	for _, t := range tasks {
		if !pq.pc.submit(t) {
			return
		}
	}
}

// complete marks t handled, drops handled batches off the FIFO head and
// wakes a pull waiting for space. It returns the offset now safe to commit.
func (pq *processQueue) complete(t *consumeTask) int64 {
	pq.mu.Lock()
	t.done = true
	pq.mu.cached -= t.count
	fifo := pq.mu.fifo
	for pq.mu.head < len(fifo) && fifo[pq.mu.head].done {
		fifo[pq.mu.head] = nil
		pq.mu.head++
	}
	switch {
	case pq.mu.head == len(fifo):
		pq.mu.fifo, pq.mu.head = fifo[:0], 0
	case pq.mu.head >= 256 && pq.mu.head*2 >= len(fifo):
		n := copy(fifo, fifo[pq.mu.head:])
		clear(fifo[n:])
		pq.mu.fifo, pq.mu.head = fifo[:n], 0
	}
	committed := pq.committedLocked()
	pq.mu.Unlock()
	select {
	case pq.space <- struct{}{}:
	default:
	}
	return committed
}

func (pq *processQueue) committedLocked() int64 {
	if pq.mu.head < len(pq.mu.fifo) {
		return pq.mu.fifo[pq.mu.head].first
	}
	return pq.mu.nextPull
}

// commitMode says how commitNow reaches the offset store.
type commitMode int

const (
	commitOneway commitMode = iota // if moved, without awaiting the broker
	commitSync                     // if moved, awaiting the broker
	commitFinal                    // always, awaiting the broker: the last word before the queue goes
)

// commitNow hands the committable offset to the offset store if it moved
// since the last commit (always for commitFinal: an earlier oneway commit
// may still be unsent when the connection closes).
func (pq *processQueue) commitNow(ctx context.Context, mode commitMode) error {
	pq.mu.Lock()
	offset := pq.committedLocked()
	moved := offset != pq.mu.lastCommitted
	pq.mu.lastCommitted = offset
	pq.mu.Unlock()
	if !moved && mode != commitFinal {
		return nil
	}
	oneway := mode == commitOneway
	err := pq.pc.store.commit(ctx, pq.mq, offset, oneway)
	if err != nil {
		pq.mu.Lock()
		if pq.mu.lastCommitted == offset {
			pq.mu.lastCommitted = -1 // retry on the next round
		}
		pq.mu.Unlock()
	}
	return err
}

// sleepCtx waits d or until ctx ends; false when ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
