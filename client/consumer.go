package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

// Handler consumes a batch of messages (WithConsumeBatchSize, default 1).
// Returning nil acknowledges the batch. Returning an error redelivers it:
// in clustering mode through the group's retry topic (later, possibly to
// another member), in orderly mode in place after the retry delay; in
// broadcasting mode the failure is only logged. ctx ends when the consumer
// is closing. A handler must be safe for concurrent use unless the consumer
// is orderly.
type Handler func(ctx context.Context, msgs []*MessageExt) error

// PushConsumer receives messages of the topics it subscribed to and hands
// them to their handlers: it divides the queues among the group's members
// (clustering) or takes all of them (broadcasting), long-polls each queue,
// bounds what it holds per queue, and commits the offsets it has handled.
type PushConsumer struct {
	c     *Client
	group string
	opts  consumerOptions
	store offsetStore

	tasks        chan *consumeTask // concurrent mode: to the worker pool
	rebalanceNow chan struct{}

	ctx          context.Context // loops and pulls; cancelled first on Close
	cancel       context.CancelFunc
	handleCtx    context.Context // handlers; cancelled once Close gave up waiting
	handleCancel context.CancelFunc
	loops        sync.WaitGroup
	workers      sync.WaitGroup

	mu struct {
		sync.Mutex
		subs   map[string]*subscription
		queues map[MessageQueue]*processQueue
		state  consumerState
	}
}

type consumerState int

const (
	stateCreated consumerState = iota
	stateStarted
	stateClosed
)

// subscription is one subscribed topic.
type subscription struct {
	topic   string
	sel     Selector
	tags    map[string]bool // nil: every tag
	handler Handler
	version int64
	retry   bool // the group's retry topic
}

// closeGrace bounds how long Close waits for handlers already running
// before it cancels their context.
const closeGrace = 10 * time.Second

// NewPushConsumer returns a consumer of group; Subscribe, then Start.
func (c *Client) NewPushConsumer(group string, opts ...ConsumerOption) (*PushConsumer, error) {
	if group == "" || len(group) > remoting.MaxGroupNameLength || group == remoting.DefaultConsumerGroupName {
		return nil, fmt.Errorf("%w: consumer group %q", ErrInvalidOption, group)
	}
	o := defaultConsumerOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	pc := &PushConsumer{c: c, group: group, opts: o, rebalanceNow: make(chan struct{}, 1)}
	pc.mu.subs = make(map[string]*subscription)
	pc.mu.queues = make(map[MessageQueue]*processQueue)
	return pc, nil
}

// Group is the consumer group.
func (pc *PushConsumer) Group() string { return pc.group }

// Subscribe routes the messages of topic that sel selects to h. Call it
// before Start; subscribing a topic again replaces the earlier call.
func (pc *PushConsumer) Subscribe(topic string, sel Selector, h Handler) error {
	if topic == "" || h == nil {
		return fmt.Errorf("%w: subscribe needs a topic and a handler", ErrInvalidOption)
	}
	if strings.HasPrefix(topic, remoting.RetryGroupTopicPrefix) {
		return fmt.Errorf("%w: retry topics are subscribed automatically", ErrInvalidOption)
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.mu.state != stateCreated {
		return fmt.Errorf("%w: subscribe after start", ErrInvalidOption)
	}
	sub := &subscription{topic: topic, sel: sel, handler: h}
	if tags := sel.tags(); tags != nil {
		sub.tags = make(map[string]bool, len(tags))
		for _, t := range tags {
			sub.tags[t] = true
		}
	}
	pc.mu.subs[topic] = sub
	return nil
}

// Start checks that every subscribed topic has a route, registers the group
// with the brokers, assigns the first queues and starts consuming. It
// returns once the first rebalance has run.
func (pc *PushConsumer) Start(ctx context.Context) error {
	subs, err := pc.prepareStart(ctx)
	if err != nil {
		return err
	}
	pc.mu.Lock()
	pc.mu.subs = subs
	pc.mu.Unlock()
	var dup bool
	if err := pc.c.register(func() {
		if _, dup = pc.c.mu.consumers[pc.group]; !dup {
			pc.c.mu.consumers[pc.group] = pc
		}
	}); err != nil {
		return err
	}
	if dup {
		return fmt.Errorf("%w: this client already has a consumer of group %s", ErrInvalidOption, pc.group)
	}
	if err := pc.c.heartbeat(ctx); err != nil {
		pc.c.unregister(func() { delete(pc.c.mu.consumers, pc.group) })
		return err
	}
	pc.ctx, pc.cancel = context.WithCancel(context.Background())
	pc.handleCtx, pc.handleCancel = context.WithCancel(context.Background())
	pc.mu.Lock()
	if pc.mu.state != stateCreated {
		pc.mu.Unlock()
		pc.c.unregister(func() { delete(pc.c.mu.consumers, pc.group) })
		return ErrClosed
	}
	pc.mu.state = stateStarted
	pc.mu.Unlock()
	if !pc.opts.orderly {
		pc.tasks = make(chan *consumeTask, pc.opts.concurrency)
		for range pc.opts.concurrency {
			pc.workers.Go(pc.worker)
		}
	}
	incomplete := pc.rebalance(ctx)
	pc.loops.Go(func() { pc.rebalanceLoop(incomplete) })
	pc.loops.Go(pc.commitLoop)
	if pc.opts.orderly && pc.opts.model == Clustering {
		pc.loops.Go(pc.lockLoop)
	}
	return nil
}

// prepareStart validates the state and routes and returns the subscriptions
// to run with (the retry topic added in clustering mode).
func (pc *PushConsumer) prepareStart(ctx context.Context) (map[string]*subscription, error) {
	pc.mu.Lock()
	state, count := pc.mu.state, len(pc.mu.subs)
	subs := make(map[string]*subscription, count+1)
	for topic, sub := range pc.mu.subs {
		subs[topic] = sub
	}
	pc.mu.Unlock()
	if state != stateCreated {
		return nil, fmt.Errorf("%w: consumer already started or closed", ErrInvalidOption)
	}
	if count == 0 {
		return nil, fmt.Errorf("%w: no subscription", ErrInvalidOption)
	}
	version := time.Now().UnixNano()
	for topic, sub := range subs {
		if _, err := pc.c.routes.get(ctx, topic, false); err != nil {
			return nil, fmt.Errorf("client: subscribe %s: %w", topic, err)
		}
		sub.version = version
	}
	if pc.opts.model == Clustering {
		retry := remoting.RetryTopic(pc.group)
		subs[retry] = &subscription{topic: retry, sel: All, handler: pc.retryHandler(subs), version: version, retry: true}
	}
	store, err := pc.openStore()
	if err != nil {
		return nil, err
	}
	pc.store = store
	return subs, nil
}

func (pc *PushConsumer) openStore() (offsetStore, error) {
	if pc.opts.model == Broadcasting {
		return openFileOffsets(pc.opts.offsetFile(pc.c.id, pc.group))
	}
	return &brokerOffsets{c: pc.c, group: pc.group}, nil
}

// retryHandler hands redelivered messages to the handler of the topic they
// were first sent to (the broker records it in RETRY_TOPIC).
func (pc *PushConsumer) retryHandler(subs map[string]*subscription) Handler {
	var fallback Handler
	for _, sub := range subs {
		fallback = sub.handler
		break
	}
	return func(ctx context.Context, msgs []*MessageExt) error {
		var errs []error
		for start := 0; start < len(msgs); {
			end := start + 1
			for end < len(msgs) && msgs[end].Topic == msgs[start].Topic {
				end++
			}
			h := fallback
			if sub := subs[msgs[start].Topic]; sub != nil {
				h = sub.handler
			}
			if err := h(ctx, msgs[start:end]); err != nil {
				errs = append(errs, err)
			}
			start = end
		}
		return errors.Join(errs...)
	}
}

// Close stops pulling, waits for running handlers (cancelling their
// context after a grace period), commits the offsets handled so far,
// releases orderly locks and detaches the consumer from its Client.
// Messages pulled but not handled are delivered again later.
func (pc *PushConsumer) Close() error {
	pc.mu.Lock()
	state := pc.mu.state
	pc.mu.state = stateClosed
	pc.mu.Unlock()
	if state != stateStarted {
		return nil
	}
	pc.cancel()
	grace := time.AfterFunc(closeGrace, pc.handleCancel)
	pc.loops.Wait()
	pc.mu.Lock()
	queues := make([]*processQueue, 0, len(pc.mu.queues))
	for mq, pq := range pc.mu.queues {
		queues = append(queues, pq)
		delete(pc.mu.queues, mq)
	}
	pc.mu.Unlock()
	for _, pq := range queues {
		pq.stop()
	}
	pc.workers.Wait()
	grace.Stop()
	pc.handleCancel()
	err := pc.release(queues)
	pc.c.unregister(func() {
		if pc.c.mu.consumers[pc.group] == pc {
			delete(pc.c.mu.consumers, pc.group)
		}
	})
	pc.unregisterFromBrokers()
	return err
}

// release commits the final offsets of queues and unlocks orderly ones.
func (pc *PushConsumer) release(queues []*processQueue) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*pc.c.opts.requestTimeout)
	defer cancel()
	var errs []error
	for _, pq := range queues {
		if err := pq.commitNow(ctx, commitFinal); err != nil {
			errs = append(errs, err)
		}
	}
	if err := pc.store.flush(); err != nil {
		errs = append(errs, err)
	}
	if pc.opts.orderly && pc.opts.model == Clustering {
		pc.unlock(ctx, queues)
	}
	return errors.Join(errs...)
}

// unregisterFromBrokers tells every broker the group left this client
// (UNREGISTER_CLIENT), so the others rebalance without waiting for the
// broker to expire it. Brokers that do not know the request ignore it.
func (pc *PushConsumer) unregisterFromBrokers() {
	ctx, cancel := context.WithTimeout(context.Background(), pc.c.opts.requestTimeout)
	defer cancel()
	for _, addr := range pc.c.routes.brokerAddrs(true) {
		req := pc.c.tr.request(remoting.RequestUnregisterClient)
		req.Ext.Set(extClientIDUpper, pc.c.id)
		req.Ext.Set(remoting.ExtConsumerGroup, pc.group)
		_ = pc.c.tr.oneway(ctx, addr, req)
	}
}

// extClientIDUpper is the clientID key of UNREGISTER_CLIENT (Java spells
// it with a capital D there).
const extClientIDUpper = "clientID"

// heartbeatEntry describes the group for the heartbeat.
func (pc *PushConsumer) heartbeatEntry() consumerData {
	cd := consumerData{
		GroupName:        pc.group,
		ConsumeType:      "CONSUME_PASSIVELY",
		MessageModel:     pc.opts.model.String(),
		ConsumeFromWhere: pc.opts.from.String(),
	}
	pc.mu.Lock()
	for _, sub := range pc.mu.subs {
		cd.SubscriptionDataSet = append(cd.SubscriptionDataSet, newSubscriptionData(sub.topic, sub.sel, sub.version))
	}
	pc.mu.Unlock()
	if cd.SubscriptionDataSet == nil {
		cd.SubscriptionDataSet = []subscriptionData{}
	}
	return cd
}

// triggerRebalance asks the rebalance loop for a round now.
func (pc *PushConsumer) triggerRebalance() {
	select {
	case pc.rebalanceNow <- struct{}{}:
	default:
	}
}

// Assignment lists the queues this consumer currently pulls, the group's
// retry queue included, sorted.
func (pc *PushConsumer) Assignment() []MessageQueue {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	out := make([]MessageQueue, 0, len(pc.mu.queues))
	for mq := range pc.mu.queues {
		out = append(out, mq)
	}
	sortQueues(out)
	return out
}
