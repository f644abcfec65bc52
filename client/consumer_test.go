package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
)

// fastConsumer are options that keep consumer tests quick.
var fastConsumer = []ConsumerOption{
	WithRebalanceInterval(500 * time.Millisecond), WithLongPoll(time.Second),
	WithCommitPolicy(CommitPeriodically(100 * time.Millisecond)), WithRetryDelay(50 * time.Millisecond),
}

func startConsumer(t testing.TB, c *Client, group, topic string, sel Selector, h Handler, opts ...ConsumerOption) *PushConsumer {
	t.Helper()
	pc, err := c.NewPushConsumer(group, append(slices.Clone(fastConsumer), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Subscribe(topic, sel, h); err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(testContext(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// assigned lists pc's queues of topic (the retry queue left out).
func assigned(pc *PushConsumer, topic string) []MessageQueue {
	var out []MessageQueue
	for _, q := range pc.Assignment() {
		if q.Topic == topic {
			out = append(out, q)
		}
	}
	return out
}

func newProducer(t testing.TB, c *Client) *Producer {
	t.Helper()
	p, err := c.NewProducer("pg")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPushConsumerReceivesEverything(t *testing.T) {
	env := startBroker(t)
	c := newTestClient(t, env)
	topic := uniqueTopic(t)
	createTopic(t, c, topic, 4)
	p := newProducer(t, c)
	sendN(t, p, topic, "old", 20)
	col := newCollector()
	pc := startConsumer(t, c, "cg", topic, All, col.handler, WithConsumeFrom(ConsumeFromFirst), WithConsumeBatchSize(4))
	sendN(t, p, topic, "new", 20)
	testutil.WaitFor(t, 10*time.Second, "40 messages", func() bool { return col.distinct() == 40 })
	if got := len(assigned(pc, topic)); got != 4 {
		t.Fatalf("assigned %d queues", got)
	}
	for _, m := range col.snapshot() {
		if m.Queue.Topic != topic || m.StoreTime.IsZero() || !m.BornHost.IsValid() || m.StoreHost.String() != env.BrokerAddr {
			t.Fatalf("message %+v", m)
		}
	}
}

func TestConsumeFromWhere(t *testing.T) {
	env := startBroker(t)
	c := newTestClient(t, env)
	topic := uniqueTopic(t)
	createTopic(t, c, topic, 2)
	p := newProducer(t, c)
	sendN(t, p, topic, "early", 10)
	// Store times are in milliseconds: make "late" strictly later.
	time.Sleep(5 * time.Millisecond)
	mark := time.Now()
	time.Sleep(5 * time.Millisecond)
	sendN(t, p, topic, "late", 10)

	first, last, stamp := newCollector(), newCollector(), newCollector()
	startConsumer(t, c, "cg-first", topic, All, first.handler, WithConsumeFrom(ConsumeFromFirst))
	startConsumer(t, c, "cg-last", topic, All, last.handler, WithConsumeFrom(ConsumeFromLast))
	startConsumer(t, c, "cg-stamp", topic, All, stamp.handler, WithConsumeFrom(ConsumeFromTimestamp(mark)))
	sendN(t, p, topic, "after", 4)
	testutil.WaitFor(t, 10*time.Second, "first: 24", func() bool { return first.distinct() == 24 })
	testutil.WaitFor(t, 10*time.Second, "timestamp: 14", func() bool { return stamp.distinct() == 14 })
	testutil.WaitFor(t, 10*time.Second, "last: 4", func() bool { return last.distinct() == 4 })
	for _, b := range last.bodies {
		if !strings.HasPrefix(b, "after") {
			t.Fatalf("ConsumeFromLast got %q", b)
		}
	}
	for _, b := range stamp.bodies {
		if strings.HasPrefix(b, "early") {
			t.Fatalf("ConsumeFromTimestamp got %q", b)
		}
	}
}

func TestTagAndSQLSelectors(t *testing.T) {
	env := startBroker(t)
	c := newTestClient(t, env)
	topic := uniqueTopic(t)
	createTopic(t, c, topic, 2)
	p := newProducer(t, c)
	ctx := testContext(t)
	for i := range 30 {
		m := NewMessage(topic, fmt.Appendf(nil, "m-%d", i))
		m.Tags = []string{"a", "b", "c"}[i%3]
		if _, err := p.SendSync(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	col := newCollector()
	startConsumer(t, c, "cg-tags", topic, Tag("a || c"), col.handler, WithConsumeFrom(ConsumeFromFirst))
	testutil.WaitFor(t, 10*time.Second, "20 tagged messages", func() bool { return col.distinct() == 20 })
	for _, m := range col.snapshot() {
		if m.Tags == "b" {
			t.Fatalf("tag b delivered: %s", m.Body)
		}
	}
	// The subscription travels in the heartbeat: SQL92 with the expression.
	pc, err := c.NewPushConsumer("cg-sql")
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Subscribe(topic, SQL92("a > 5"), col.handler); err != nil {
		t.Fatal(err)
	}
	data := pc.heartbeatEntry()
	if len(data.SubscriptionDataSet) != 1 || data.SubscriptionDataSet[0].ExpressionType != ExprSQL92 ||
		data.SubscriptionDataSet[0].SubString != "a > 5" {
		t.Fatalf("heartbeat subscription %+v", data.SubscriptionDataSet)
	}
	// Pulls name the expression; the broker filters by the heartbeat's copy.
	pc.ctx = context.Background()
	pq := newProcessQueue(pc, pc.mu.subs[topic], MessageQueue{Topic: topic, BrokerName: "b"}, 7)
	h := pq.pullHeader()
	if h.ExpressionType != ExprSQL92 || h.Subscription != "a > 5" || h.HasSubscription() || h.QueueOffset != 7 || !h.IsSuspend() {
		t.Fatalf("SQL92 pull header %+v", h)
	}
	tagSub := &subscription{topic: topic, sel: Tag("a || c"), version: 1}
	if h := newProcessQueue(pc, tagSub, MessageQueue{Topic: topic}, 0).pullHeader(); !h.HasSubscription() || h.ExpressionType != ExprTag {
		t.Fatalf("tag pull header %+v", h)
	}
}

func TestClusteringSharesQueues(t *testing.T) {
	env := startBroker(t)
	c1 := newTestClient(t, env)
	c2 := newTestClient(t, env)
	topic := uniqueTopic(t)
	createTopic(t, c1, topic, 8)
	col1, col2 := newCollector(), newCollector()
	// A long rebalance interval: membership changes must travel by
	// NOTIFY_CONSUMER_IDS_CHANGED.
	opts := []ConsumerOption{WithConsumeFrom(ConsumeFromFirst), WithAllocateStrategy(AllocateRoundRobin), WithRebalanceInterval(time.Minute)}
	pc1 := startConsumer(t, c1, "cg", topic, All, col1.handler, opts...)
	pc2 := startConsumer(t, c2, "cg", topic, All, col2.handler, opts...)
	testutil.WaitFor(t, 10*time.Second, "queues split 4/4", func() bool {
		a, b := assigned(pc1, topic), assigned(pc2, topic)
		if len(a) != 4 || len(b) != 4 {
			return false
		}
		for _, q := range a {
			if slices.Contains(b, q) {
				return false
			}
		}
		return true
	})
	p := newProducer(t, c1)
	sendN(t, p, topic, "m", 80)
	testutil.WaitFor(t, 10*time.Second, "80 messages between both", func() bool {
		return col1.distinct()+col2.distinct() >= 80 && distinctUnion(col1, col2) == 80
	})
	if col1.distinct() == 0 || col2.distinct() == 0 {
		t.Fatalf("one consumer got nothing: %d / %d", col1.distinct(), col2.distinct())
	}
	// One member leaves: the other takes every queue.
	pc2.Close()
	c2.Close()
	testutil.WaitFor(t, 10*time.Second, "survivor owns 8 queues", func() bool { return len(assigned(pc1, topic)) == 8 })
}

func distinctUnion(cols ...*collector) int {
	all := map[string]bool{}
	for _, c := range cols {
		c.mu.Lock()
		for b := range c.seen {
			all[b] = true
		}
		c.mu.Unlock()
	}
	return len(all)
}

func TestConsistentHashAllocation(t *testing.T) {
	env := startBroker(t)
	topic := uniqueTopic(t)
	var consumers []*PushConsumer
	var first *Client
	for i := range 3 {
		c := newTestClient(t, env)
		if i == 0 {
			first = c
			createTopic(t, c, topic, 12)
		}
		consumers = append(consumers, startConsumer(t, c, "cg-chash", topic, All, newCollector().handler,
			WithAllocateStrategy(AllocateConsistentHash(0))))
	}
	_ = first
	testutil.WaitFor(t, 10*time.Second, "12 queues divided disjointly", func() bool {
		seen := map[MessageQueue]int{}
		for _, pc := range consumers {
			for _, q := range assigned(pc, topic) {
				seen[q]++
			}
		}
		if len(seen) != 12 {
			return false
		}
		for _, n := range seen {
			if n != 1 {
				return false
			}
		}
		return true
	})
}

func TestBroadcastingDeliversToEveryone(t *testing.T) {
	env := startBroker(t)
	c1 := newTestClient(t, env)
	c2 := newTestClient(t, env)
	topic := uniqueTopic(t)
	createTopic(t, c1, topic, 4)
	dir := t.TempDir()
	col1, col2 := newCollector(), newCollector()
	opts := []ConsumerOption{WithMessageModel(Broadcasting), WithOffsetDir(dir), WithConsumeFrom(ConsumeFromFirst)}
	startConsumer(t, c1, "cg-bc", topic, All, col1.handler, opts...)
	pc2 := startConsumer(t, c2, "cg-bc", topic, All, col2.handler, opts...)
	p := newProducer(t, c1)
	sendN(t, p, topic, "b", 30)
	testutil.WaitFor(t, 10*time.Second, "both see 30", func() bool { return col1.distinct() == 30 && col2.distinct() == 30 })

	// Offsets are local: a restarted client resumes from its file.
	pc2.Close()
	id := c2.ID()
	c2.Close()
	c3 := newTestClient(t, env, WithInstanceName(id[strings.IndexByte(id, '@')+1:]))
	sendN(t, p, topic, "c", 10)
	col3 := newCollector()
	startConsumer(t, c3, "cg-bc", topic, All, col3.handler, opts...)
	testutil.WaitFor(t, 10*time.Second, "restarted broadcast consumer sees the 10 new", func() bool { return col3.distinct() == 10 })
	for _, b := range col3.bodies {
		if strings.HasPrefix(b, "b-") {
			t.Fatalf("restarted broadcast consumer re-read %q", b)
		}
	}
}

func TestOffsetCommitAndResume(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy CommitPolicy
	}{{"periodic", CommitPeriodically(50 * time.Millisecond)}, {"after-handle", CommitAfterHandle()}} {
		t.Run("commit="+tc.name, func(t *testing.T) {
			env := startBroker(t)
			topic := uniqueTopic(t)
			admin := newTestClient(t, env)
			createTopic(t, admin, topic, 2)
			p := newProducer(t, admin)
			sendN(t, p, topic, "one", 20)
			c1 := newTestClient(t, env)
			col := newCollector()
			startConsumer(t, c1, "cg", topic, All, col.handler, WithConsumeFrom(ConsumeFromFirst), WithCommitPolicy(tc.policy))
			testutil.WaitFor(t, 10*time.Second, "first 20", func() bool { return col.distinct() == 20 })
			// A restart: the consumer's client goes away with its connections.
			c1.Close()
			pull, _ := admin.NewPullConsumer("cg")
			queues, _ := pull.Queues(testContext(t), topic)
			var committed int64
			for _, q := range queues {
				off, found, err := pull.CommittedOffset(testContext(t), q)
				if err != nil || !found {
					t.Fatalf("committed offset of %s: %d %v %v", q, off, found, err)
				}
				committed += off
			}
			if committed != 20 {
				t.Fatalf("committed offsets sum to %d", committed)
			}
			sendN(t, p, topic, "two", 10)
			c2 := newTestClient(t, env)
			col2 := newCollector()
			startConsumer(t, c2, "cg", topic, All, col2.handler, WithConsumeFrom(ConsumeFromFirst))
			testutil.WaitFor(t, 10*time.Second, "next 10", func() bool { return col2.distinct() == 10 })
			for _, b := range col2.bodies {
				if strings.HasPrefix(b, "one") {
					t.Fatalf("resumed consumer re-read %q", b)
				}
			}
		})
	}
}

func TestFailedMessagesAreRedelivered(t *testing.T) {
	env := startBroker(t)
	c := newTestClient(t, env)
	topic := uniqueTopic(t)
	createTopic(t, c, topic, 2)
	var mu sync.Mutex
	attempts := map[string]int{}
	var redelivered atomic.Int32
	handler := func(_ context.Context, msgs []*MessageExt) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			attempts[string(m.Body)]++
			if m.ReconsumeTimes > 0 {
				if m.Topic != topic {
					return fmt.Errorf("redelivered with topic %s", m.Topic)
				}
				redelivered.Add(1)
			}
			if string(m.Body) == "fail-once" && attempts["fail-once"] == 1 {
				return errors.New("first attempt fails")
			}
		}
		return nil
	}
	startConsumer(t, c, "cg-retry", topic, All, handler, WithConsumeFrom(ConsumeFromFirst), WithRedeliveryDelayLevel(1))
	p := newProducer(t, c)
	sendN(t, p, topic, "ok", 5)
	if _, err := p.SendSync(testContext(t), NewMessage(topic, []byte("fail-once"))); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "the failed message comes back", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return attempts["fail-once"] >= 2 && redelivered.Load() >= 1
	})
}

func TestOrderlyConsumptionKeepsKeyOrder(t *testing.T) {
	env := startBroker(t)
	c := newTestClient(t, env)
	topic := uniqueTopic(t)
	createTopic(t, c, topic, 4)
	p, err := c.NewProducer("pg", WithQueueSelector(HashByKey()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	const keys, perKey = 8, 25
	for i := range perKey {
		for k := range keys {
			m := NewMessage(topic, fmt.Appendf(nil, "k%d:%d", k, i))
			m.ShardingKey = fmt.Sprintf("k%d", k)
			if _, err := p.SendSync(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	var mu sync.Mutex
	last := map[string]int{}
	var failures []string
	var inQueue sync.Map
	var failedOnce atomic.Bool
	handler := func(_ context.Context, msgs []*MessageExt) error {
		q := msgs[0].Queue
		if _, busy := inQueue.LoadOrStore(q, true); busy {
			return fmt.Errorf("two batches of %s at once", q)
		}
		defer inQueue.Delete(q)
		if !failedOnce.Load() && strings.HasSuffix(string(msgs[0].Body), ":3") {
			failedOnce.Store(true)
			return errors.New("retry in place")
		}
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			key, seq, _ := strings.Cut(string(m.Body), ":")
			n, _ := strconv.Atoi(seq)
			if prev, ok := last[key]; ok && n != prev+1 {
				failures = append(failures, fmt.Sprintf("%s: %d after %d", key, n, prev))
			}
			last[key] = n
		}
		return nil
	}
	pc := startConsumer(t, c, "cg-orderly", topic, All, handler, WithOrderly(), WithConsumeFrom(ConsumeFromFirst),
		WithConsumeBatchSize(3), WithLockInterval(200*time.Millisecond))
	testutil.WaitFor(t, 20*time.Second, "every key consumed to the end", func() bool {
		mu.Lock()
		defer mu.Unlock()
		if len(last) < keys {
			return false
		}
		for _, n := range last {
			if n != perKey-1 {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	if len(failures) > 0 {
		t.Fatalf("order broken: %v", failures)
	}
	if !failedOnce.Load() {
		t.Fatal("the failing batch never ran")
	}
	if n := len(assigned(pc, topic)); n != 4 {
		t.Fatalf("orderly consumer holds %d queues", n)
	}
}

func TestOrderlyLockMovesBetweenMembers(t *testing.T) {
	env := startBroker(t)
	c1 := newTestClient(t, env)
	topic := uniqueTopic(t)
	createTopic(t, c1, topic, 4)
	opts := []ConsumerOption{WithOrderly(), WithLockInterval(200 * time.Millisecond)}
	pc1 := startConsumer(t, c1, "cg-lock", topic, All, newCollector().handler, opts...)
	testutil.WaitFor(t, 5*time.Second, "first member locks 4", func() bool { return len(assigned(pc1, topic)) == 4 })
	c2 := newTestClient(t, env)
	pc2 := startConsumer(t, c2, "cg-lock", topic, All, newCollector().handler, opts...)
	testutil.WaitFor(t, 10*time.Second, "members hold 2 each", func() bool {
		return len(assigned(pc1, topic)) == 2 && len(assigned(pc2, topic)) == 2
	})
}

func TestPullFromOffset(t *testing.T) {
	env := startBroker(t)
	c := newTestClient(t, env)
	topic := uniqueTopic(t)
	createTopic(t, c, topic, 1)
	p := newProducer(t, c)
	sendN(t, p, topic, "p", 10)
	pc, err := c.NewPullConsumer("pull-g")
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	queues, err := pc.Queues(ctx, topic)
	if err != nil || len(queues) != 1 {
		t.Fatalf("queues %v %v", queues, err)
	}
	mq := queues[0]
	res, err := pc.Pull(ctx, mq, 4, 3)
	if err != nil || res.Status != PullFound || len(res.Messages) != 3 || res.NextOffset != 7 || res.MaxOffset != 10 {
		t.Fatalf("pull: %+v %v", res, err)
	}
	for i, m := range res.Messages {
		if m.QueueOffset != int64(4+i) || string(m.Body) != fmt.Sprintf("p-%d", 4+i) {
			t.Fatalf("message %d: offset %d body %q", i, m.QueueOffset, m.Body)
		}
	}
	if res, err := pc.Pull(ctx, mq, 10, 3); err != nil || res.Status != PullNoNewMessages {
		t.Fatalf("pull at end: %+v %v", res, err)
	}
	if res, err := pc.Pull(ctx, mq, 50, 3); err != nil || res.Status != PullOffsetIllegal || res.NextOffset != 10 {
		t.Fatalf("pull past end: %+v %v", res, err)
	}
	if lo, err := pc.MinOffset(ctx, mq); err != nil || lo != 0 {
		t.Fatalf("min offset %d %v", lo, err)
	}
	if hi, err := pc.MaxOffset(ctx, mq); err != nil || hi != 10 {
		t.Fatalf("max offset %d %v", hi, err)
	}
	if err := pc.CommitOffset(ctx, mq, 7); err != nil {
		t.Fatal(err)
	}
	if off, found, err := pc.CommittedOffset(ctx, mq); err != nil || !found || off != 7 {
		t.Fatalf("committed %d %v %v", off, found, err)
	}
	// Long polling: a pull at the end waits for the next message.
	lp, err := c.NewPullConsumer("pull-lp", WithLongPoll(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *PullResult, 1)
	go func() {
		res, _ := lp.Pull(ctx, mq, 10, 1)
		done <- res
	}()
	testutil.WaitFor(t, 5*time.Second, "the long poll parked on the broker", func() bool {
		return env.Broker.Status().ParkedPulls > 0
	})
	sendN(t, p, topic, "late", 1)
	select {
	case res := <-done:
		if res == nil || res.Status != PullFound || string(res.Messages[0].Body) != "late-0" {
			t.Fatalf("long poll: %+v", res)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("long poll did not return on the new message")
	}
	// Tag selector on a pull.
	pc.Subscribe(topic, Tag("none"))
	if res, err := pc.Pull(ctx, mq, 0, 5); err != nil || res.Status == PullFound {
		t.Fatalf("pull with unmatched tag: %+v %v", res, err)
	}
}

func TestFlowControlBoundsCachedMessages(t *testing.T) {
	env := startBroker(t)
	c := newTestClient(t, env)
	topic := uniqueTopic(t)
	createTopic(t, c, topic, 1)
	p := newProducer(t, c)
	sendN(t, p, topic, "f", 100)
	release := make(chan struct{})
	var handled atomic.Int32
	handler := func(ctx context.Context, msgs []*MessageExt) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		handled.Add(int32(len(msgs)))
		return nil
	}
	const maxCached, pullBatch = 10, 4
	pc := startConsumer(t, c, "cg-flow", topic, All, handler, WithConsumeFrom(ConsumeFromFirst),
		WithMaxCachedPerQueue(maxCached), WithPullBatchSize(pullBatch), WithConcurrency(16))
	var pq *processQueue
	testutil.WaitFor(t, 5*time.Second, "the queue fills up to its limit", func() bool {
		pc.mu.Lock()
		pq = pc.mu.queues[MessageQueue{Topic: topic, BrokerName: "broker-a", QueueID: 0}]
		pc.mu.Unlock()
		if pq == nil {
			return false
		}
		pq.mu.Lock()
		defer pq.mu.Unlock()
		return pq.mu.cached >= maxCached
	})
	for range 20 { // the pull loop stays parked while nothing completes
		pq.mu.Lock()
		cached, next := pq.mu.cached, pq.mu.nextPull
		pq.mu.Unlock()
		if cached > maxCached+pullBatch-1 || next > maxCached+pullBatch-1 {
			t.Fatalf("%d messages cached, pulled up to %d, with a limit of %d", cached, next, maxCached)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	testutil.WaitFor(t, 10*time.Second, "all 100 handled", func() bool { return handled.Load() == 100 })
}

func TestConsumerStartErrors(t *testing.T) {
	env := startBroker(t)
	c := newTestClient(t, env)
	pc, err := c.NewPushConsumer("cg-err")
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(testContext(t)); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("start without subscription: %v", err)
	}
	if err := pc.Subscribe("NoSuchTopic", All, newCollector().handler); err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(testContext(t)); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("start on an unknown topic: %v", err)
	}
	if _, err := c.NewPushConsumer("cg", WithPullBatchSize(0)); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("bad option: %v", err)
	}
	pull, err := c.NewPullConsumer("pull-err")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pull.Queues(testContext(t), "NoSuchTopic"); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("queues of an unknown topic: %v", err)
	}
	topic := uniqueTopic(t)
	createTopic(t, c, topic, 1)
	startConsumer(t, c, "cg-dup", topic, All, newCollector().handler)
	dup, _ := c.NewPushConsumer("cg-dup")
	_ = dup.Subscribe(topic, All, newCollector().handler)
	if err := dup.Start(testContext(t)); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("second consumer of a group in one client: %v", err)
	}
}
