package client

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

// PullConsumer reads queues at offsets the caller chooses: no rebalance, no
// automatic commits. Offsets can still be kept on the broker under the
// group with CommitOffset and CommittedOffset. Safe for concurrent use.
type PullConsumer struct {
	c     *Client
	group string
	opts  consumerOptions

	mu struct {
		sync.Mutex
		selectors map[string]Selector
		closed    bool
	}
}

// NewPullConsumer returns a pull consumer of group. Of the consumer options
// it uses WithLongPoll (default 0 here: Pull answers at once) and
// WithPullBatchSize (the default max of Pull).
func (c *Client) NewPullConsumer(group string, opts ...ConsumerOption) (*PullConsumer, error) {
	if group == "" || len(group) > remoting.MaxGroupNameLength {
		return nil, fmt.Errorf("%w: consumer group %q", ErrInvalidOption, group)
	}
	o := defaultConsumerOptions()
	o.longPoll = 0
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	pc := &PullConsumer{c: c, group: group, opts: o}
	pc.mu.selectors = make(map[string]Selector)
	if err := c.register(func() { c.mu.pulls[pc] = struct{}{} }); err != nil {
		return nil, err
	}
	return pc, nil
}

// Close detaches the consumer from its Client.
func (pc *PullConsumer) Close() error {
	pc.mu.Lock()
	pc.mu.closed = true
	pc.mu.Unlock()
	pc.c.unregister(func() { delete(pc.c.mu.pulls, pc) })
	return nil
}

// Subscribe sets the selector Pull applies to topic (default All).
func (pc *PullConsumer) Subscribe(topic string, sel Selector) {
	pc.mu.Lock()
	pc.mu.selectors[topic] = sel
	pc.mu.Unlock()
}

func (pc *PullConsumer) selector(topic string) (Selector, error) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.mu.closed {
		return Selector{}, ErrClosed
	}
	if sel, ok := pc.mu.selectors[topic]; ok {
		return sel, nil
	}
	return All, nil
}

// Queues lists the readable queues of topic.
func (pc *PullConsumer) Queues(ctx context.Context, topic string) ([]MessageQueue, error) {
	route, err := pc.c.routes.refresh(ctx, topic, false)
	if err != nil {
		return nil, err
	}
	if len(route.subscribe) == 0 {
		return nil, fmt.Errorf("%w: topic %s has no readable queue", ErrNoRoute, topic)
	}
	return append([]MessageQueue(nil), route.subscribe...), nil
}

// Pull reads up to maxMsgs messages (<= 0: the pull batch size) of mq from
// offset on. With a long poll set and nothing to read, the broker holds the
// call until a message arrives or the poll time ends.
func (pc *PullConsumer) Pull(ctx context.Context, mq MessageQueue, offset int64, maxMsgs int) (*PullResult, error) {
	sel, err := pc.selector(mq.Topic)
	if err != nil {
		return nil, err
	}
	if maxMsgs <= 0 {
		maxMsgs = pc.opts.pullBatch
	}
	h := remoting.PullHeader{
		ConsumerGroup: pc.group, Topic: mq.Topic, QueueID: int32(mq.QueueID), QueueOffset: offset,
		MaxMsgNums: int32(maxMsgs), SysFlag: remoting.PullFlagSubscription,
		SuspendTimeoutMillis: pc.opts.longPoll.Milliseconds(),
		Subscription:         sel.Expression, ExpressionType: sel.typeName(),
	}
	if h.Subscription == "" {
		h.Subscription = "*"
	}
	if !sel.isTag() {
		h.SubVersion = time.Now().UnixNano()
	}
	if pc.opts.longPoll > 0 {
		h.SysFlag |= remoting.PullFlagSuspend
	}
	return pc.c.pull(ctx, mq, &h, pc.opts.longPoll+pc.c.opts.requestTimeout)
}

// CommitOffset stores offset (the next one to read) as the group's offset
// of mq on the broker.
func (pc *PullConsumer) CommitOffset(ctx context.Context, mq MessageQueue, offset int64) error {
	return pc.c.commitOffset(ctx, pc.group, mq, offset, false)
}

// CommittedOffset returns the group's stored offset of mq; found is false
// when there is none.
func (pc *PullConsumer) CommittedOffset(ctx context.Context, mq MessageQueue) (offset int64, found bool, err error) {
	return pc.c.queryOffset(ctx, pc.group, mq)
}

// MinOffset is the first offset still stored in mq.
func (pc *PullConsumer) MinOffset(ctx context.Context, mq MessageQueue) (int64, error) {
	return pc.c.offsetQuery(ctx, remoting.RequestGetMinOffset, mq, 0)
}

// MaxOffset is the offset the next message of mq will get.
func (pc *PullConsumer) MaxOffset(ctx context.Context, mq MessageQueue) (int64, error) {
	return pc.c.offsetQuery(ctx, remoting.RequestGetMaxOffset, mq, 0)
}

// OffsetForTime is the offset of the first message of mq stored at or after t.
func (pc *PullConsumer) OffsetForTime(ctx context.Context, mq MessageQueue, t time.Time) (int64, error) {
	return pc.c.offsetQuery(ctx, remoting.RequestSearchOffsetByTimestamp, mq, t.UnixMilli())
}
