package client

import (
	"context"
	"fmt"
	"time"
)

// submit hands t to its consumer: the shared worker pool (concurrent) or
// the queue's own loop (orderly). False when the queue stopped first.
func (pc *PushConsumer) submit(t *consumeTask) bool {
	ch := pc.tasks
	if t.pq.ordered != nil {
		ch = t.pq.ordered
	}
	select {
	case ch <- t:
		return true
	case <-t.pq.ctx.Done():
		return false
	}
}

// worker runs concurrent tasks until the consumer closes.
func (pc *PushConsumer) worker() {
	for {
		select {
		case t := <-pc.tasks:
			pc.consumeConcurrently(t)
		case <-pc.ctx.Done():
			return
		}
	}
}

// invoke calls the handler; a panic becomes an error.
func (pc *PushConsumer) invoke(t *consumeTask) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("client: handler panicked: %v", r)
		}
	}()
	return t.pq.sub.handler(pc.handleCtx, t.msgs)
}

// consumeConcurrently handles one batch. A failed batch is sent back for
// redelivery (clustering); what cannot be sent back is handled again here
// after the retry delay.
func (pc *PushConsumer) consumeConcurrently(t *consumeTask) {
	if t.pq.stopped() {
		return // the queue moved to another member, which redelivers
	}
	err := pc.invoke(t)
	if err == nil {
		pc.acknowledge(t)
		return
	}
	if pc.ctx.Err() != nil {
		return // closing: not acknowledged, delivered again later
	}
	if pc.opts.model == Broadcasting {
		pc.c.log.Warn("client: handler failed, broadcasting drops the batch", "queue", t.pq.mq.String(), "err", err)
		pc.acknowledge(t)
		return
	}
	if kept := pc.sendBackAll(t.msgs, pc.opts.redeliveryLevel); len(kept) > 0 {
		t.msgs = kept
		time.AfterFunc(pc.opts.retryDelay, func() { pc.submit(t) })
		return
	}
	pc.acknowledge(t)
}

// sendBackAll sends msgs back with delayLevel and returns those the broker
// did not take.
func (pc *PushConsumer) sendBackAll(msgs []*MessageExt, delayLevel int) []*MessageExt {
	var kept []*MessageExt
	for _, m := range msgs {
		ctx, cancel := context.WithTimeout(pc.ctx, pc.c.opts.requestTimeout)
		err := pc.c.sendBack(ctx, pc.group, m, delayLevel, pc.opts.maxReconsume)
		cancel()
		if err != nil {
			pc.c.log.Warn("client: send back failed", "msgId", m.MsgID, "err", err)
			kept = append(kept, m)
		}
	}
	return kept
}

// acknowledge completes t and commits at once under CommitAfterHandle.
func (pc *PushConsumer) acknowledge(t *consumeTask) {
	t.pq.complete(t)
	if !pc.opts.commit.afterHandle || t.pq.stopped() {
		return
	}
	if err := t.pq.commitNow(pc.ctx, commitOneway); err != nil && pc.ctx.Err() == nil {
		pc.c.log.Warn("client: commit offset", "queue", t.pq.mq.String(), "err", err)
	}
	if err := pc.store.flush(); err != nil {
		pc.c.log.Warn("client: flush offsets", "err", err)
	}
}

// orderlyLoop handles one queue's batches strictly in order.
func (pq *processQueue) orderlyLoop() {
	for {
		select {
		case t := <-pq.ordered:
			if !pq.consumeOrderly(t) {
				return
			}
		case <-pq.ctx.Done():
			return
		}
	}
}

// consumeOrderly handles t while the queue's lock is valid, retrying it in
// place; after max reconsume times it goes to the dead-letter queue. False
// when the queue stopped before t was done.
func (pq *processQueue) consumeOrderly(t *consumeTask) bool {
	pc := pq.pc
	for {
		if !pq.waitLocked() {
			return false
		}
		err := pc.invoke(t)
		if err == nil {
			pc.acknowledge(t)
			return true
		}
		t.tries++
		if t.tries > pc.opts.maxReconsume {
			if pc.deadLetter(t) {
				pc.acknowledge(t)
				return true
			}
		}
		pc.c.log.Debug("client: orderly handler failed, retrying", "queue", pq.mq.String(), "tries", t.tries, "err", err)
		if !sleepCtx(pq.ctx, pc.opts.retryDelay) {
			return false
		}
	}
}

// deadLetter gives up on t: dropped in broadcasting mode, moved to the
// group's dead-letter queue in clustering mode.
func (pc *PushConsumer) deadLetter(t *consumeTask) bool {
	if pc.opts.model == Broadcasting {
		pc.c.log.Warn("client: orderly handler failed, broadcasting drops the batch", "queue", t.pq.mq.String())
		return true
	}
	kept := pc.sendBackAll(t.msgs, -1)
	if len(kept) > 0 {
		t.msgs = kept
		return false
	}
	return true
}
