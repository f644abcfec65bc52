package main

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/internal/cluster"
	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

// shortLevels keep retry tests quick: retries use level 3 + reconsume
// times, so the first retry waits 300 ms.
const shortLevels = "100ms 200ms 300ms 400ms 500ms 600ms 700ms 800ms 900ms 1s 1s 1s 1s 1s 1s 1s 1s 1s"

// arrivals records when each body was first consumed, and its metadata.
type arrivals struct {
	mu struct {
		sync.Mutex
		at    map[string]time.Time
		count map[string]int
		msgs  map[string]*primitive.MessageExt
	}
}

func newArrivals() *arrivals {
	a := &arrivals{}
	a.mu.at, a.mu.count, a.mu.msgs = map[string]time.Time{}, map[string]int{}, map[string]*primitive.MessageExt{}
	return a
}

func (a *arrivals) record(m *primitive.MessageExt) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := string(m.Body)
	if _, ok := a.mu.at[b]; !ok {
		a.mu.at[b] = time.Now()
	}
	a.mu.count[b]++
	a.mu.msgs[b] = m
	return a.mu.count[b]
}

func (a *arrivals) get(body string) (time.Time, int, *primitive.MessageExt) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mu.at[body], a.mu.count[body], a.mu.msgs[body]
}

func pushConsumer(t *testing.T, nsAddr, group, topic string, fn func(*primitive.MessageExt) consumer.ConsumeResult, opts ...consumer.Option) {
	t.Helper()
	rlog.SetLogLevel("error")
	opts = append([]consumer.Option{consumer.WithNameServer([]string{nsAddr}), consumer.WithGroupName(group),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset)}, opts...)
	c, err := rocketmq.NewPushConsumer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Subscribe(topic, consumer.MessageSelector{}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		for _, m := range msgs {
			if r := fn(m); r != consumer.ConsumeSuccess {
				return r, nil
			}
		}
		return consumer.ConsumeSuccess, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitForRoute(t, nsAddr, topic)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
}

func TestRetryLaterRedeliversThenDeadLetters(t *testing.T) {
	env := cluster.StartTest(t, func(o *actors.BrokerOptions) { o.DelayLevels = shortLevels })
	p := startProducer(t, env.NamesrvAddr)
	topic, group := uniqueName("RetryT"), uniqueName("rg")
	sendSyncOK(t, p, primitive.NewMessage(topic, []byte("retry-me")), primitive.NewMessage(topic, []byte("dead-letter-me")))
	seen := newArrivals()
	pushConsumer(t, env.NamesrvAddr, group, topic, func(m *primitive.MessageExt) consumer.ConsumeResult {
		n := seen.record(m)
		if string(m.Body) == "retry-me" && n == 1 {
			return consumer.ConsumeRetryLater
		}
		if string(m.Body) == "dead-letter-me" {
			return consumer.ConsumeRetryLater
		}
		return consumer.ConsumeSuccess
	}, consumer.WithMaxReconsumeTimes(1))

	defer func() {
		if t.Failed() {
			_, a, _ := seen.get("retry-me")
			_, b, _ := seen.get("dead-letter-me")
			st := env.Broker.TimerStats()
			t.Logf("consumed retry-me %d dead-letter-me %d; timers scheduled %d hops %d delivered %d dropped %d backlog %d",
				a, b, st.Scheduled.Load(), st.Hops.Load(), st.Delivered.Load(), st.Dropped.Load(), env.Broker.TimerBacklog())
		}
	}()
	testutil.WaitFor(t, 30*time.Second, "redelivery", func() bool { _, n, _ := seen.get("retry-me"); return n >= 2 })
	_, _, m := seen.get("retry-me")
	if m.ReconsumeTimes < 1 || m.Topic != topic {
		t.Fatalf("redelivered with reconsumeTimes %d topic %q, want >= 1 and %q", m.ReconsumeTimes, m.Topic, topic)
	}
	if m.GetProperty(remoting.PropertyOriginMessageID) == "" {
		t.Fatal("redelivered message lacks ORIGIN_MESSAGE_ID")
	}

	dlq := remoting.DLQGroupTopicPrefix + group
	testutil.WaitFor(t, 30*time.Second, "message in the DLQ", func() bool {
		q := env.Broker.Store().ConsumeQueue(dlq, 0)
		return q != nil && q.MaxOffset() == 1
	})
	got := rawPullAll(t, newRawClient(t), env.BrokerAddr, uniqueName("dlqreader"), dlq, 0, "*")
	if len(got) != 1 || string(got[0].Body) != "dead-letter-me" || got[0].ReconsumeTimes != 2 {
		t.Fatalf("DLQ holds %d messages, want dead-letter-me with reconsumeTimes 2: %+v", len(got), got)
	}
	if got[0].Property(remoting.PropertyRetryTopic) != topic {
		t.Fatalf("DLQ message RETRY_TOPIC %q, want %q", got[0].Property(remoting.PropertyRetryTopic), topic)
	}
	_, n, _ := seen.get("retry-me")
	if n != 2 {
		t.Fatalf("retry-me consumed %d times, want 2", n)
	}
}

func TestDelayLevelsAndTimerDeliverAtTheirTime(t *testing.T) {
	env := cluster.StartTest(t, nil)
	p := startProducer(t, env.NamesrvAddr)
	topic := uniqueName("DelayT")
	sendSyncOK(t, p, primitive.NewMessage(topic, []byte("now")))
	seen := newArrivals()
	pushConsumer(t, env.NamesrvAddr, uniqueName("dg"), topic, func(m *primitive.MessageExt) consumer.ConsumeResult {
		seen.record(m)
		return consumer.ConsumeSuccess
	})
	testutil.WaitFor(t, 20*time.Second, "consumer ready", func() bool { _, n, _ := seen.get("now"); return n == 1 })

	sent := time.Now()
	sendSyncOK(t, p, primitive.NewMessage(topic, []byte("level-1")).WithDelayTimeLevel(1))
	sendSyncOK(t, p, primitive.NewMessage(topic, []byte("level-2")).WithDelayTimeLevel(2))
	timed := primitive.NewMessage(topic, []byte("timer"))
	due := time.Now().Add(1500 * time.Millisecond)
	timed.WithProperty(remoting.PropertyTimerDeliverMS, strconv.FormatInt(due.UnixMilli(), 10))
	sendSyncOK(t, p, timed)

	for _, c := range []struct {
		body string
		due  time.Time
	}{{"level-1", sent.Add(time.Second)}, {"timer", due}, {"level-2", sent.Add(5 * time.Second)}} {
		testutil.WaitFor(t, 20*time.Second, c.body, func() bool { _, n, _ := seen.get(c.body); return n > 0 })
		at, n, m := seen.get(c.body)
		late := at.Sub(c.due)
		t.Logf("%s: lateness %v", c.body, late)
		if late < -5*time.Millisecond {
			t.Errorf("%s arrived %v early", c.body, -late)
		}
		if late > 2*time.Second {
			t.Errorf("%s arrived %v late", c.body, late)
		}
		if n != 1 || m.Topic != topic {
			t.Errorf("%s: consumed %d times from %q", c.body, n, m.Topic)
		}
		if m.GetProperty(remoting.PropertyDelayLevel) != "" || m.GetProperty(remoting.PropertyRealTopic) != "" {
			t.Errorf("%s still carries schedule properties: %v", c.body, m.GetProperties())
		}
	}
}

func TestDelayBadInputIsRefused(t *testing.T) {
	env := cluster.StartTest(t, nil)
	p := startProducer(t, env.NamesrvAddr, producer.WithRetry(0))
	topic := uniqueName("BadDelay")
	bad := primitive.NewMessage(topic, []byte("x"))
	bad.WithProperty(remoting.PropertyDelayLevel, "-1") // above the maximum is clamped (TestDelayLevelAboveMaxClamped)
	if res, err := p.SendSync(context.Background(), bad); err == nil && res.Status == primitive.SendOK {
		t.Fatal("negative delay level accepted")
	}
	far := primitive.NewMessage(topic, []byte("y"))
	far.WithProperty(remoting.PropertyTimerDelaySec, strconv.Itoa(30*24*3600))
	if res, err := p.SendSync(context.Background(), far); err == nil && res.Status == primitive.SendOK {
		t.Fatal("timer beyond the maximum delay accepted")
	}
	sendSyncOK(t, p, primitive.NewMessage(topic, []byte("fine")))

	c := newRawClient(t)
	back := remoting.NewRequest(remoting.RequestConsumerSendMsgBack)
	back.Ext.Set("group", "g")
	back.Ext.Set("offset", "987654321")
	back.Ext.Set("delayLevel", "0")
	if resp := invoke(t, c, env.BrokerAddr, back); resp.Code == remoting.ResponseSuccess {
		t.Fatal("send-back of a missing offset answered success")
	}
	end := remoting.NewRequest(remoting.RequestEndTransaction)
	end.Ext.Set("producerGroup", "pg")
	end.Ext.Set("commitLogOffset", "0")
	end.Ext.Set("tranStateTableOffset", "0")
	end.Ext.Set("commitOrRollback", "8")
	if resp := invoke(t, c, env.BrokerAddr, end); resp.Code == remoting.ResponseSuccess {
		t.Fatal("END_TRANSACTION for a message that is not a half message answered success")
	}
	sendSyncOK(t, p, primitive.NewMessage(topic, []byte("still-fine")))
}

// txnListener commits "A", rolls back "B" and leaves "C" undecided until
// the broker checks back.
type txnListener struct {
	decided sync.Map // body -> time the local transaction returned
	checks  atomic.Int32
}

func (l *txnListener) ExecuteLocalTransaction(m *primitive.Message) primitive.LocalTransactionState {
	defer l.decided.Store(string(m.Body), time.Now())
	switch string(m.Body) {
	case "A":
		time.Sleep(300 * time.Millisecond) // A must not be visible before this returns
		return primitive.CommitMessageState
	case "B":
		return primitive.RollbackMessageState
	}
	return primitive.UnknowState
}

func (l *txnListener) CheckLocalTransaction(m *primitive.MessageExt) primitive.LocalTransactionState {
	l.checks.Add(1)
	if string(m.Body) == "C" {
		return primitive.CommitMessageState
	}
	return primitive.RollbackMessageState
}

func TestTransactionsCommitRollbackCheckBack(t *testing.T) {
	env := cluster.StartTest(t, func(o *actors.BrokerOptions) {
		o.TransactionCheckInterval = 200 * time.Millisecond
		o.TransactionTimeout = 500 * time.Millisecond
	})
	rlog.SetLogLevel("error")
	topic := uniqueName("TxnT")
	boot := startProducer(t, env.NamesrvAddr)
	sendSyncOK(t, boot, primitive.NewMessage(topic, []byte("plain")))

	seen := newArrivals()
	pushConsumer(t, env.NamesrvAddr, uniqueName("tg"), topic, func(m *primitive.MessageExt) consumer.ConsumeResult {
		seen.record(m)
		return consumer.ConsumeSuccess
	})
	testutil.WaitFor(t, 20*time.Second, "consumer ready", func() bool { _, n, _ := seen.get("plain"); return n == 1 })

	l := &txnListener{}
	// The client answers checks only for the group of the first producer of
	// its client instance, so the transaction producer gets its own.
	tp, err := rocketmq.NewTransactionProducer(l, producer.WithNameServer([]string{env.NamesrvAddr}),
		producer.WithGroupName(uniqueName("tpg")), producer.WithRetry(1), producer.WithInstanceName(uniqueName("txn")))
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tp.Shutdown() })
	for _, body := range []string{"A", "B", "C"} {
		res, err := tp.SendMessageInTransaction(context.Background(), primitive.NewMessage(topic, []byte(body)))
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("send %s: %v %v", body, res, err)
		}
	}
	defer func() {
		if t.Failed() {
			for q := int32(0); q < 4; q++ {
				if cq := env.Broker.Store().ConsumeQueue(topic, q); cq != nil {
					t.Logf("queue %d: min %d max %d", q, cq.MinOffset(), cq.MaxOffset())
				}
			}
			st := env.Broker.TxnStats()
			t.Logf("committed %d rolled back %d pending %d checks %d", st.Committed.Load(), st.RolledBack.Load(), st.Pending.Load(), st.Checks.Load())
		}
	}()
	testutil.WaitFor(t, 20*time.Second, "A and C delivered", func() bool {
		_, a, _ := seen.get("A")
		_, c, _ := seen.get("C")
		return a > 0 && c > 0
	})
	atA, _, _ := seen.get("A")
	decidedA, _ := l.decided.Load("A")
	if atA.Before(decidedA.(time.Time)) {
		t.Fatalf("A consumed at %v, before its local transaction returned at %v", atA, decidedA)
	}
	if l.checks.Load() == 0 {
		t.Fatal("C was delivered without a check-back")
	}
	// B must never appear; give the broker several check intervals.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if _, n, _ := seen.get("B"); n > 0 {
			t.Fatal("rolled-back B was delivered")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, body := range []string{"A", "C"} {
		if _, n, _ := seen.get(body); n != 1 {
			t.Fatalf("%s consumed %d times", body, n)
		}
	}
	st := env.Broker.TxnStats()
	if st.Committed.Load() != 2 || st.RolledBack.Load() != 1 || st.Pending.Load() != 0 {
		t.Fatalf("transaction stats: committed %d rolled back %d pending %d", st.Committed.Load(), st.RolledBack.Load(), st.Pending.Load())
	}
}
