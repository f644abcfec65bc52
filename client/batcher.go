package client

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

// batcher collects messages per queue and sends each collection as one
// SEND_BATCH_MESSAGE when it is full (count or bytes) or its linger time
// has passed. The queue is chosen per message when it arrives, so the queue
// selector keeps its meaning (equal sharding keys still share a queue). One
// timer per open batch, none per message.
type batcher struct {
	p  *Producer
	mu struct {
		sync.Mutex
		open    map[MessageQueue]*openBatch
		scratch []byte // property encoding buffer
	}
}

// batchElementOverhead estimates an element's bytes beyond its body: fixed
// fields, the producer id and a few properties.
const batchElementOverhead = 128

// openBatch is a batch still accepting messages.
type openBatch struct {
	mq      MessageQueue
	body    []byte
	uniqIDs []string
	done    []func(SendResult, error)
	timer   *time.Timer
}

func newBatcher(p *Producer) *batcher {
	b := &batcher{p: p}
	b.mu.open = make(map[MessageQueue]*openBatch)
	return b
}

// sendSync adds msg and waits for its result.
func (b *batcher) sendSync(ctx context.Context, msg *Message) (SendResult, error) {
	type outcome struct {
		res SendResult
		err error
	}
	ch := make(chan outcome, 1)
	if err := b.add(ctx, msg, func(res SendResult, err error) { ch <- outcome{res, err} }); err != nil {
		return SendResult{}, err
	}
	select {
	case o := <-ch:
		return o.res, o.err
	case <-ctx.Done():
		return SendResult{}, ctxError(ctx, "send to "+msg.Topic)
	}
}

// add puts msg into the open batch of the queue the selector picks. A batch
// that is full is sent before add returns (waiting for an in-flight slot);
// done runs when the broker answers.
func (b *batcher) add(ctx context.Context, msg *Message, done func(SendResult, error)) error {
	p := b.p
	route, err := p.c.routes.get(ctx, msg.Topic, true)
	if err != nil {
		return err
	}
	queues := p.candidates(route, nil)
	if len(queues) == 0 {
		return fmt.Errorf("%w: topic %s has no writable queue", ErrNoRoute, msg.Topic)
	}
	mq := p.opts.selector.Select(msg, queues)
	if err := p.admit(1); err != nil {
		return err
	}
	full, err := b.append(mq, msg, done)
	if err != nil {
		p.inflight.Done()
		return err
	}
	for _, ob := range full {
		b.flush(ob)
	}
	return nil
}

// append encodes msg into mq's open batch and returns the batches that are
// ready to send.
func (b *batcher) append(mq MessageQueue, msg *Message, done func(SendResult, error)) ([]*openBatch, error) {
	opts := &b.p.opts
	var uniq string
	if opts.batchIDs {
		uniq = uniqIDs.next()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var full []*openBatch
	ob := b.mu.open[mq]
	elemSize := len(msg.Body) + batchElementOverhead
	if ob != nil && len(ob.body)+elemSize > opts.batchBytes {
		full = append(full, b.detachLocked(ob))
		ob = nil
	}
	if ob == nil {
		ob = b.openLocked(mq, min(opts.batchBytes, opts.batchMessages*elemSize))
	}
	var err error
	ob.body, b.mu.scratch, err = appendBatchElement(ob.body, b.mu.scratch[:0], msg, uniq)
	if err != nil {
		if len(ob.uniqIDs) == 0 {
			b.detachLocked(ob)
		}
		return full, err
	}
	ob.uniqIDs = append(ob.uniqIDs, uniq)
	ob.done = append(ob.done, done)
	if len(ob.uniqIDs) >= opts.batchMessages || len(ob.body) >= opts.batchBytes {
		full = append(full, b.detachLocked(ob))
	}
	return full, nil
}

// openLocked opens a batch for mq with room for about sizeHint bytes, so
// it rarely grows (and copies) while it fills.
func (b *batcher) openLocked(mq MessageQueue, sizeHint int) *openBatch {
	ob := &openBatch{mq: mq, body: make([]byte, 0, sizeHint)}
	b.mu.open[mq] = ob
	ob.timer = time.AfterFunc(b.p.opts.linger, func() { b.expire(ob) })
	return ob
}

func (b *batcher) detachLocked(ob *openBatch) *openBatch {
	if b.mu.open[ob.mq] == ob {
		delete(b.mu.open, ob.mq)
	}
	ob.timer.Stop()
	return ob
}

// expire sends ob when its linger time is up, unless it already went.
func (b *batcher) expire(ob *openBatch) {
	b.mu.Lock()
	current := b.mu.open[ob.mq] == ob
	if current {
		delete(b.mu.open, ob.mq)
	}
	b.mu.Unlock()
	if current {
		b.flush(ob)
	}
}

// flushAll sends every open batch.
func (b *batcher) flushAll() {
	b.mu.Lock()
	batches := make([]*openBatch, 0, len(b.mu.open))
	for _, ob := range b.mu.open {
		batches = append(batches, b.detachLocked(ob))
	}
	b.mu.Unlock()
	for _, ob := range batches {
		b.flush(ob)
	}
}

// flush sends ob asynchronously and fans the results out. The batch mixes
// callers, so it runs under its own deadline: one send timeout per attempt.
func (b *batcher) flush(ob *openBatch) {
	if len(ob.uniqIDs) == 0 {
		return
	}
	p := b.p
	mq := ob.mq
	o := &outgoing{
		topic: mq.Topic, code: remoting.RequestSendBatchMessage, body: ob.body,
		first: &Message{Topic: mq.Topic}, uniqIDs: ob.uniqIDs, queue: &mq,
	}
	o.header = p.baseHeader(mq.Topic)
	o.header.Batch = true
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.sendTimeout*time.Duration(p.opts.retries+1))
	s := &asyncSend{p: p, ctx: ctx, o: o}
	s.done = func(res []SendResult, err error) {
		cancel()
		for i, done := range ob.done {
			if err != nil {
				done(SendResult{}, err)
			} else {
				done(res[i], nil)
			}
			p.inflight.Done()
		}
	}
	if err := s.next(); err != nil {
		cancel()
		for _, done := range ob.done {
			done(SendResult{}, err)
			p.inflight.Done()
		}
	}
}
