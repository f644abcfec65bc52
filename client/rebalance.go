package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

// rebalanceRetry is how soon a rebalance that could not start every
// assigned queue (a lock held by the previous owner, a route not yet
// registered) runs again.
const rebalanceRetry = time.Second

var errNotLocked = errors.New("client: queue lock held by another client")

func sortQueues(qs []MessageQueue) { slices.SortFunc(qs, compareQueues) }

// rebalanceLoop re-divides the queues periodically, when the broker says
// the group changed, and soon after an incomplete round.
func (pc *PushConsumer) rebalanceLoop(incomplete bool) {
	ticker := time.NewTicker(pc.opts.rebalanceInterval)
	defer ticker.Stop()
	retry := time.NewTimer(rebalanceRetry)
	defer retry.Stop()
	if !incomplete {
		retry.Stop()
	}
	for {
		select {
		case <-pc.ctx.Done():
			return
		case <-ticker.C:
		case <-pc.rebalanceNow:
		case <-retry.C:
		}
		if pc.rebalance(pc.ctx) {
			retry.Reset(rebalanceRetry)
		}
	}
}

// rebalance computes this client's share of every subscribed topic and
// starts and stops queues to match. It reports whether some topic or queue
// could not be settled.
func (pc *PushConsumer) rebalance(ctx context.Context) (incomplete bool) {
	pc.mu.Lock()
	subs := make([]*subscription, 0, len(pc.mu.subs))
	for _, sub := range pc.mu.subs {
		subs = append(subs, sub)
	}
	pc.mu.Unlock()
	for _, sub := range subs {
		mine, err := pc.allocate(ctx, sub)
		if err != nil {
			if ctx.Err() == nil && !sub.retry {
				pc.c.log.Warn("client: rebalance", "group", pc.group, "topic", sub.topic, "err", err)
			}
			incomplete = true
			continue
		}
		if !pc.updateQueues(ctx, sub, mine) {
			incomplete = true
		}
	}
	return incomplete
}

// allocate returns the queues of sub's topic this client should own.
func (pc *PushConsumer) allocate(ctx context.Context, sub *subscription) ([]MessageQueue, error) {
	route, err := pc.c.routes.get(ctx, sub.topic, false)
	if err != nil {
		return nil, err
	}
	if pc.opts.model == Broadcasting {
		return route.subscribe, nil
	}
	ids, err := pc.c.consumerIDs(ctx, pc.group, route)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: group %s has no member", ErrProtocol, pc.group)
	}
	return pc.opts.allocate(pc.group, pc.c.id, route.subscribe, ids), nil
}

// updateQueues stops the queues of sub's topic not in mine and starts the
// new ones. It reports whether every queue of mine is running.
func (pc *PushConsumer) updateQueues(ctx context.Context, sub *subscription, mine []MessageQueue) bool {
	want := make(map[MessageQueue]bool, len(mine))
	for _, mq := range mine {
		want[mq] = true
	}
	var dropped []*processQueue
	pc.mu.Lock()
	for mq, pq := range pc.mu.queues {
		if mq.Topic == sub.topic && !want[mq] {
			delete(pc.mu.queues, mq)
			dropped = append(dropped, pq)
		}
	}
	pc.mu.Unlock()
	for _, pq := range dropped {
		pc.dropQueue(ctx, pq)
	}
	complete := true
	for _, mq := range mine {
		pc.mu.Lock()
		_, running := pc.mu.queues[mq]
		pc.mu.Unlock()
		if running {
			continue
		}
		if err := pc.startQueue(ctx, sub, mq); err != nil {
			complete = false
			if !errors.Is(err, errNotLocked) && ctx.Err() == nil {
				pc.c.log.Warn("client: start queue", "group", pc.group, "queue", mq.String(), "err", err)
			}
		}
	}
	return complete
}

// startQueue locks mq (orderly clustering), finds its start offset and
// starts pulling it.
func (pc *PushConsumer) startQueue(ctx context.Context, sub *subscription, mq MessageQueue) error {
	lockedUntil := time.Time{}
	if pc.opts.orderly {
		lockedUntil = time.Now().Add(100 * 365 * 24 * time.Hour) // broadcasting: no broker lock
		if pc.opts.model == Clustering {
			granted, err := pc.c.lockQueues(ctx, pc.group, []MessageQueue{mq})
			if err != nil {
				return err
			}
			if !slices.Contains(granted, mq) {
				return errNotLocked
			}
			lockedUntil = time.Now().Add(pc.lockValidity())
		}
	}
	offset, err := pc.startOffset(ctx, mq, sub.retry)
	if err != nil {
		return err
	}
	pq := newProcessQueue(pc, sub, mq, offset)
	pq.lockedUntil.Store(lockedUntil.UnixNano())
	pc.mu.Lock()
	if pc.mu.state != stateStarted {
		pc.mu.Unlock()
		return ErrClosed
	}
	pc.mu.queues[mq] = pq
	pc.mu.Unlock()
	pq.start()
	return nil
}

// startOffset is the group's committed offset of mq, or where
// ConsumeFrom says to begin when there is none.
func (pc *PushConsumer) startOffset(ctx context.Context, mq MessageQueue, retry bool) (int64, error) {
	off, found, err := pc.store.read(ctx, mq)
	if err != nil || found {
		return off, err
	}
	switch {
	case retry || pc.opts.from.where == fromFirst:
		return pc.c.offsetQuery(ctx, remoting.RequestGetMinOffset, mq, 0)
	case pc.opts.from.where == fromTimestamp:
		return pc.c.offsetQuery(ctx, remoting.RequestSearchOffsetByTimestamp, mq, pc.opts.from.at.UnixMilli())
	}
	return pc.c.offsetQuery(ctx, remoting.RequestGetMaxOffset, mq, 0)
}

// dropQueue stops a queue given to another member: its pulls end, the
// offset handled so far is committed, and an orderly lock is released once
// its running batch finished.
func (pc *PushConsumer) dropQueue(ctx context.Context, pq *processQueue) {
	pq.stop()
	if err := pq.commitNow(ctx, commitFinal); err != nil {
		pc.c.log.Warn("client: commit dropped queue", "queue", pq.mq.String(), "err", err)
	}
	if pc.opts.orderly && pc.opts.model == Clustering {
		pc.unlock(ctx, []*processQueue{pq})
	}
}

// lockValidity is how long a granted lock is trusted locally: half a renew
// interval more than the interval itself.
func (pc *PushConsumer) lockValidity() time.Duration { return pc.opts.lockInterval * 3 / 2 }

// lockLoop renews the broker locks of every orderly queue.
func (pc *PushConsumer) lockLoop() {
	ticker := time.NewTicker(pc.opts.lockInterval)
	defer ticker.Stop()
	for {
		select {
		case <-pc.ctx.Done():
			return
		case <-ticker.C:
			pc.lockAll(pc.ctx)
		}
	}
}

// lockAll renews the locks of all owned queues, one request per broker.
// Queues whose lock was refused stop consuming until a later renewal.
func (pc *PushConsumer) lockAll(ctx context.Context) {
	for broker, queues := range pc.queuesByBroker(nil) {
		mqs := make([]MessageQueue, len(queues))
		for i, pq := range queues {
			mqs[i] = pq.mq
		}
		granted, err := pc.c.lockQueues(ctx, pc.group, mqs)
		if err != nil {
			pc.c.log.Warn("client: renew locks", "broker", broker, "err", err)
			continue
		}
		until := time.Now().Add(pc.lockValidity())
		for _, pq := range queues {
			if slices.Contains(granted, pq.mq) {
				pq.setLockedUntil(until)
			} else {
				pq.setLockedUntil(time.Time{})
			}
		}
	}
}

// unlock releases the broker locks of queues, one request per broker.
func (pc *PushConsumer) unlock(ctx context.Context, queues []*processQueue) {
	for broker, group := range pc.queuesByBroker(queues) {
		mqs := make([]MessageQueue, len(group))
		for i, pq := range group {
			mqs[i] = pq.mq
		}
		if err := pc.c.unlockQueues(ctx, pc.group, mqs); err != nil {
			pc.c.log.Warn("client: unlock queues", "broker", broker, "err", err)
		}
	}
}

// queuesByBroker groups queues (nil: every owned queue) by broker name.
func (pc *PushConsumer) queuesByBroker(queues []*processQueue) map[string][]*processQueue {
	if queues == nil {
		pc.mu.Lock()
		for _, pq := range pc.mu.queues {
			queues = append(queues, pq)
		}
		pc.mu.Unlock()
	}
	out := make(map[string][]*processQueue)
	for _, pq := range queues {
		out[pq.mq.BrokerName] = append(out[pq.mq.BrokerName], pq)
	}
	return out
}

// commitLoop commits the offsets that advanced, every commit interval.
func (pc *PushConsumer) commitLoop() {
	ticker := time.NewTicker(pc.opts.commit.interval)
	defer ticker.Stop()
	for {
		select {
		case <-pc.ctx.Done():
			return
		case <-ticker.C:
			pc.commitAll(pc.ctx)
		}
	}
}

func (pc *PushConsumer) commitAll(ctx context.Context) {
	pc.mu.Lock()
	queues := make([]*processQueue, 0, len(pc.mu.queues))
	for _, pq := range pc.mu.queues {
		queues = append(queues, pq)
	}
	pc.mu.Unlock()
	for _, pq := range queues {
		if err := pq.commitNow(ctx, commitSync); err != nil && ctx.Err() == nil {
			pc.c.log.Warn("client: commit offset", "queue", pq.mq.String(), "err", err)
		}
	}
	if err := pc.store.flush(); err != nil {
		pc.c.log.Warn("client: flush offsets", "err", err)
	}
}
