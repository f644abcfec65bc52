package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

// pullAll reads every message of topic's queues from offset 0.
func pullAll(t testing.TB, c *Client, topic string) []*MessageExt {
	t.Helper()
	ctx := testContext(t)
	pc, err := c.NewPullConsumer("pull-all")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	// An auto-created topic reaches the name server with the broker's
	// registration right after the first send; poll until it has.
	var queues []MessageQueue
	deadline := time.Now().Add(10 * time.Second)
	for {
		queues, err = pc.Queues(ctx, topic)
		if err == nil || !errors.Is(err, ErrNoRoute) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []*MessageExt
	for _, mq := range queues {
		for offset := int64(0); ; {
			res, err := pc.Pull(ctx, mq, offset, 256)
			if err != nil {
				t.Fatalf("pull %s at %d: %v", mq, offset, err)
			}
			if res.Status != PullFound {
				break
			}
			out = append(out, res.Messages...)
			offset = res.NextOffset
		}
	}
	return out
}

func TestSendSyncStoresMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []ClientOption
	}{{"binary", nil}, {"json", []ClientOption{WithJSONHeaders()}}} {
		t.Run("headers="+tc.name, func(t *testing.T) {
			env := startBroker(t)
			c := newTestClient(t, env, tc.opts...)
			topic := uniqueTopic(t)
			p, err := c.NewProducer("pg")
			if err != nil {
				t.Fatal(err)
			}
			msg := NewMessage(topic, []byte("hello")).SetProperty("k", "v")
			msg.Tags, msg.Keys = "TagA", []string{"key1", "key2"}
			before := time.Now().Add(-time.Second)
			res, err := p.SendSync(testContext(t), msg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != SendOK || len(res.MsgID) != 32 || len(res.OffsetMsgID) != 32 || res.Queue.Topic != topic {
				t.Fatalf("result %+v", res)
			}
			got := pullAll(t, c, topic)
			if len(got) != 1 {
				t.Fatalf("pulled %d messages", len(got))
			}
			m := got[0]
			if string(m.Body) != "hello" || m.Tags != "TagA" || m.Property("k") != "v" || len(m.Keys) != 2 ||
				m.MsgID != res.MsgID || m.OffsetMsgID != res.OffsetMsgID || m.QueueOffset != res.QueueOffset ||
				m.Queue != res.Queue || m.BornTime.Before(before) || m.StoreTime.Before(m.BornTime.Add(-time.Second)) {
				t.Fatalf("message %+v\nresult %+v", m, res)
			}
		})
	}
}

func TestSendAsyncOnewayAndCompression(t *testing.T) {
	env := startBroker(t)
	c := newTestClient(t, env)
	topic := uniqueTopic(t)
	createTopic(t, c, topic, 4)
	p, err := c.NewProducer("pg")
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	const n = 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids := map[string]bool{}
	var firstErr error
	wg.Add(n)
	for i := range n {
		err := p.SendAsync(ctx, NewMessage(topic, fmt.Appendf(nil, "async-%d", i)), func(res SendResult, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			ids[res.MsgID] = true
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if firstErr != nil || len(ids) != n {
		t.Fatalf("async: %d ids, err %v", len(ids), firstErr)
	}
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = byte('a' + i%7)
	}
	if err := p.SendOneway(ctx, NewMessage(topic, []byte("oneway"))); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SendSync(ctx, NewMessage(topic, big)); err != nil {
		t.Fatal(err)
	}
	var got []*MessageExt
	testutil.WaitFor(t, 10*time.Second, "oneway message stored", func() bool {
		got = pullAll(t, c, topic)
		return len(got) == n+2
	})
	found := 0
	for _, m := range got {
		if string(m.Body) == "oneway" || string(m.Body) == string(big) {
			found++
		}
		if len(m.Body) == len(big) && m.SysFlag&remoting.SysFlagCompressed == 0 {
			t.Fatal("large body was not compressed")
		}
	}
	if found != 2 {
		t.Fatalf("found %d of the oneway and compressed messages", found)
	}
}

func TestSendBatch(t *testing.T) {
	env := startBroker(t)
	c := newTestClient(t, env)
	topic := uniqueTopic(t)
	p, err := c.NewProducer("pg")
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*Message
	for i := range 50 {
		msgs = append(msgs, NewMessage(topic, fmt.Appendf(nil, "batch-%d", i)))
	}
	res, err := p.SendBatch(testContext(t), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 50 {
		t.Fatalf("%d results", len(res))
	}
	for i, r := range res {
		if r.Queue != res[0].Queue || r.QueueOffset != res[0].QueueOffset+int64(i) || r.OffsetMsgID == "" || r.MsgID == "" {
			t.Fatalf("result %d: %+v (first %+v)", i, r, res[0])
		}
	}
	got := pullAll(t, c, topic)
	if len(got) != 50 {
		t.Fatalf("pulled %d", len(got))
	}
	for i, m := range got {
		if string(m.Body) != fmt.Sprintf("batch-%d", i) || m.MsgID != res[i].MsgID || m.OffsetMsgID != res[i].OffsetMsgID {
			t.Fatalf("message %d: %q %s %s, want %+v", i, m.Body, m.MsgID, m.OffsetMsgID, res[i])
		}
	}
	plain, err := c.NewProducer("pg-plain", WithBatchMessageIDs(false))
	if err != nil {
		t.Fatal(err)
	}
	res, err = plain.SendBatch(testContext(t), msgs[:3])
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, m := range pullAll(t, c, topic) {
		if m.Queue == res[0].Queue && m.QueueOffset >= res[0].QueueOffset {
			got = append(got, m)
		}
	}
	if len(got) != 3 {
		t.Fatalf("found %d of the batch sent without producer ids", len(got))
	}
	for i, m := range got {
		if m.Property("UNIQ_KEY") != "" || m.MsgID != res[i].MsgID || res[i].MsgID != res[i].OffsetMsgID {
			t.Fatalf("batch without producer ids, message %d: %s / %+v", i, m.MsgID, res[i])
		}
	}
	_, err = p.SendBatch(testContext(t), []*Message{NewMessage(topic, []byte("a")), NewMessage("other", []byte("b"))})
	if !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("mixed topics: %v", err)
	}
}

func TestMicroBatching(t *testing.T) {
	env := startBroker(t)
	c := newTestClient(t, env)
	topic := uniqueTopic(t)
	createTopic(t, c, topic, 2)
	p, err := c.NewProducer("pg", WithBatching(5*time.Millisecond, 16, 64<<10))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	const n = 100
	var wg sync.WaitGroup
	results := make([]SendResult, n)
	errs := make([]error, n)
	wg.Add(n)
	for i := range n {
		err := p.SendAsync(ctx, NewMessage(topic, fmt.Appendf(nil, "mb-%d", i)), func(res SendResult, err error) {
			results[i], errs[i] = res, err
			wg.Done()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sync, err := p.SendSync(ctx, NewMessage(topic, []byte("mb-sync")))
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	byOffset := map[MessageQueue]map[int64]string{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("message %d: %v", i, errs[i])
		}
		if byOffset[results[i].Queue] == nil {
			byOffset[results[i].Queue] = map[int64]string{}
		}
		byOffset[results[i].Queue][results[i].QueueOffset] = fmt.Sprintf("mb-%d", i)
	}
	got := pullAll(t, c, topic)
	if len(got) != n+1 {
		t.Fatalf("pulled %d", len(got))
	}
	for _, m := range got {
		if string(m.Body) == "mb-sync" {
			if m.MsgID != sync.MsgID {
				t.Fatal("sync message id mismatch")
			}
			continue
		}
		if want := byOffset[m.Queue][m.QueueOffset]; want != string(m.Body) {
			t.Fatalf("%s offset %d holds %q, result said %q", m.Queue, m.QueueOffset, m.Body, want)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SendSync(ctx, NewMessage(topic, []byte("x"))); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
}

func TestQueueSelectors(t *testing.T) {
	env := startBroker(t)
	c := newTestClient(t, env)
	topic := uniqueTopic(t)
	createTopic(t, c, topic, 4)
	ctx := testContext(t)

	rr, err := c.NewProducer("pg-rr")
	if err != nil {
		t.Fatal(err)
	}
	counts := map[int32]int{}
	for i := range 8 {
		res, err := rr.SendSync(ctx, NewMessage(topic, fmt.Appendf(nil, "rr-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		counts[res.Queue.QueueID]++
	}
	if len(counts) != 4 || counts[0] != 2 || counts[3] != 2 {
		t.Fatalf("round robin spread %v", counts)
	}

	hash, err := c.NewProducer("pg-hash", WithQueueSelector(HashByKey()))
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]int32{}
	for i := range 40 {
		key := fmt.Sprintf("order-%d", i%5)
		msg := NewMessage(topic, []byte(key))
		msg.ShardingKey = key
		res, err := hash.SendSync(ctx, msg)
		if err != nil {
			t.Fatal(err)
		}
		if q, ok := byKey[key]; ok && q != res.Queue.QueueID {
			t.Fatalf("key %s went to queues %d and %d", key, q, res.Queue.QueueID)
		}
		byKey[key] = res.Queue.QueueID
	}

	fixed, err := c.NewProducer("pg-func", WithQueueSelector(QueueSelectorFunc(func(_ *Message, qs []MessageQueue) MessageQueue {
		return qs[len(qs)-1]
	})))
	if err != nil {
		t.Fatal(err)
	}
	res, err := fixed.SendSync(ctx, NewMessage(topic, []byte("last")))
	if err != nil || res.Queue.QueueID != 3 {
		t.Fatalf("custom selector: %+v %v", res, err)
	}
}

func TestRetryOnAnotherBrokerWhenOneIsDown(t *testing.T) {
	env := startBroker(t)
	stopSecond := startSecondBroker(t, env, "broker-b")
	c := newTestClient(t, env)
	topic := uniqueTopic(t)
	createTopic(t, c, topic, 2)
	p, err := c.NewProducer("pg", WithSendTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	brokers := map[string]bool{}
	for i := range 8 {
		res, err := p.SendSync(ctx, NewMessage(topic, fmt.Appendf(nil, "before-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		brokers[res.Queue.BrokerName] = true
	}
	if len(brokers) != 2 {
		t.Fatalf("sends reached brokers %v, want both", brokers)
	}
	stopSecond()
	for i := range 20 {
		res, err := p.SendSync(ctx, NewMessage(topic, fmt.Appendf(nil, "after-%d", i)))
		if err != nil {
			t.Fatalf("send %d with broker-b down: %v", i, err)
		}
		if res.Queue.BrokerName != "broker-a" {
			t.Fatalf("send %d stored on %s", i, res.Queue.BrokerName)
		}
	}

	// The failed connection made the client re-read the route at once:
	// broker-b, unregistered, is no longer in it, so even a producer
	// without retries that picks the last queue sends to broker-a.
	testutil.WaitFor(t, 5*time.Second, "the route without broker-b", func() bool {
		route := c.routes.cached(topic)
		return route != nil && !slices.ContainsFunc(route.publish, func(q MessageQueue) bool { return q.BrokerName == "broker-b" })
	})
	noRetry, err := c.NewProducer("pg-noretry", WithRetries(0), WithFaultBackoff(0),
		WithQueueSelector(QueueSelectorFunc(func(_ *Message, qs []MessageQueue) MessageQueue { return qs[len(qs)-1] })))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := noRetry.SendSync(ctx, NewMessage(topic, []byte("x"))); err != nil || res.Queue.BrokerName != "broker-a" {
		t.Fatalf("send without retries after broker-b stopped: %+v %v", res, err)
	}
	// A send to an address nobody listens on still fails as a connection
	// error.
	dead := c.tr.request(remoting.RequestSendMessageV2)
	if _, err := c.tr.invoke(ctx, "127.0.0.1:1", dead); !errors.Is(err, ErrConnection) {
		t.Fatalf("send to a closed port: %v", err)
	}
}

func TestSendErrors(t *testing.T) {
	env := startBroker(t)
	c := newTestClient(t, env)
	p, err := c.NewProducer("pg")
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	for _, m := range []*Message{
		nil, NewMessage("", []byte("x")), NewMessage("T", nil),
		NewMessage("T", []byte("x")).SetProperty("bad\x01key", "v"),
		NewMessage("T", make([]byte, MaxBodySize+1)),
	} {
		if _, err := p.SendSync(ctx, m); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("message %+v: %v", m, err)
		}
	}
	_, err = p.SendSync(ctx, NewMessage("bad topic!", []byte("x")))
	var be *BrokerError
	if !errors.As(err, &be) || be.Code != remoting.ResponseTopicNotExist {
		t.Errorf("invalid topic name: %v", err)
	}

	unreachable, err := New(WithNameServers("127.0.0.1:1"), WithDialTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	up, _ := unreachable.NewProducer("pg")
	if _, err := up.SendSync(ctx, NewMessage("T", []byte("x"))); !errors.Is(err, ErrConnection) {
		t.Errorf("unreachable name server: %v", err)
	}
	unreachable.Close()
	if _, err := up.SendSync(ctx, NewMessage("T", []byte("x"))); !errors.Is(err, ErrClosed) {
		t.Errorf("closed client: %v", err)
	}

	short, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	<-short.Done()
	if _, err := p.SendSync(short, NewMessage("T", []byte("x"))); !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("expired context: %v", err)
	}
	if _, err := New(); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("no name server: %v", err)
	}
}
