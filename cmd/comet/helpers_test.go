package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

// uniqueName returns a name no earlier run used, so client-side state such
// as broadcasting offset files never leaks between runs.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, time.Now().UnixNano())
}

// waitUntil polls cond until it holds or the deadline passes.

func startProducer(t *testing.T, nsAddr string, opts ...producer.Option) rocketmq.Producer {
	t.Helper()
	rlog.SetLogLevel("error")
	opts = append([]producer.Option{producer.WithNameServer([]string{nsAddr}),
		producer.WithGroupName(uniqueName("pg")), producer.WithRetry(2)}, opts...)
	p, err := rocketmq.NewProducer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}

func sendSyncOK(t *testing.T, p rocketmq.Producer, msgs ...*primitive.Message) *primitive.SendResult {
	t.Helper()
	res, err := p.SendSync(context.Background(), msgs...)
	if err != nil || res.Status != primitive.SendOK {
		t.Fatalf("send: %v %v", res, err)
	}
	return res
}

// collector records every body a consumer is handed, in arrival order.
type collector struct {
	mu struct {
		sync.Mutex
		bodies []string
		tags   []string
		queues []int32
	}
}

func (c *collector) handle(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		c.mu.bodies = append(c.mu.bodies, string(m.Body))
		c.mu.tags = append(c.mu.tags, m.GetTags())
		c.mu.queues = append(c.mu.queues, int32(m.Queue.QueueId))
	}
	return consumer.ConsumeSuccess, nil
}

// queuesOf returns the queue ids of the bodies that start with prefix.
func (c *collector) queuesOf(prefix string) map[int32]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	queues := map[int32]bool{}
	for i, b := range c.mu.bodies {
		if strings.HasPrefix(b, prefix) {
			queues[c.mu.queues[i]] = true
		}
	}
	return queues
}

func (c *collector) snapshot() (bodies, tags []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.mu.bodies...), append([]string(nil), c.mu.tags...)
}

// distinct returns the set of bodies received.
func (c *collector) distinct() map[string]int {
	bodies, _ := c.snapshot()
	set := make(map[string]int, len(bodies))
	for _, b := range bodies {
		set[b]++
	}
	return set
}

func startPushConsumer(t *testing.T, nsAddr, group, topic string, selector consumer.MessageSelector,
	sink *collector, opts ...consumer.Option) rocketmq.PushConsumer {
	t.Helper()
	rlog.SetLogLevel("error")
	opts = append([]consumer.Option{consumer.WithNameServer([]string{nsAddr}), consumer.WithGroupName(group),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset)}, opts...)
	c, err := rocketmq.NewPushConsumer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(topic, selector, sink.handle); err != nil {
		t.Fatal(err)
	}
	// The client refuses to start while the name server has no route for
	// the topic; a topic auto-created by a send just now reaches the name
	// server with the broker's next registration, which is asynchronous.
	waitForRoute(t, nsAddr, topic)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	return c
}

// waitForRoute polls the name server until it answers a route for topic.
func waitForRoute(t *testing.T, nsAddr, topic string) {
	t.Helper()
	rc := remoting.NewClient(remoting.ClientOptions{})
	defer rc.Close()
	testutil.WaitFor(t, 10*time.Second, "a route for "+topic, func() bool {
		req := remoting.NewRequest(remoting.RequestGetRouteInfoByTopic)
		req.Ext.Set("topic", topic)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		resp, err := rc.Invoke(ctx, nsAddr, req)
		return err == nil && resp.Code == remoting.ResponseSuccess
	})
}

// requireExactly fails unless the collector received every expected body
// and nothing else (duplicates are reported too).
func requireExactly(t *testing.T, sink *collector, want []string, timeout time.Duration) {
	t.Helper()
	testutil.WaitFor(t, timeout, fmt.Sprintf("%d messages", len(want)), func() bool { return len(sink.distinct()) >= len(want) })
	got := sink.distinct()
	for _, w := range want {
		switch got[w] {
		case 0:
			t.Errorf("message %.40q never consumed", w)
		case 1:
		default:
			t.Errorf("message %.40q consumed %d times", w, got[w])
		}
		delete(got, w)
	}
	for extra := range got {
		t.Errorf("unexpected message %.40q consumed", extra)
	}
}

func newRawClient(t *testing.T) *remoting.Client {
	t.Helper()
	c := remoting.NewClient(remoting.ClientOptions{})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func invoke(t *testing.T, c *remoting.Client, addr string, req *remoting.Command) *remoting.Command {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Invoke(ctx, addr, req)
	if err != nil {
		t.Fatalf("%s: %v", remoting.RequestName(req.Code), err)
	}
	return resp
}

// rawPullAll pulls one queue from offset 0 until its max offset with the
// given subscription and returns every decoded message.
func rawPullAll(t *testing.T, c *remoting.Client, addr, group, topic string, queueID int32, subscription string) []*remoting.MessageExt {
	t.Helper()
	var out []*remoting.MessageExt
	offset := int64(0)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		h := remoting.PullHeader{ConsumerGroup: group, Topic: topic, QueueID: queueID, QueueOffset: offset,
			MaxMsgNums: 32, SysFlag: remoting.PullFlagSuspend | remoting.PullFlagSubscription,
			SuspendTimeoutMillis: 200, Subscription: subscription, SubVersion: time.Now().UnixMilli(), ExpressionType: "TAG"}
		req := remoting.NewRequest(remoting.RequestPullMessage)
		h.Apply(req)
		resp := invoke(t, c, addr, req)
		rh, err := remoting.ParsePullResponseHeader(resp)
		if err != nil {
			t.Fatalf("pull response header: %v (code %d %s)", err, resp.Code, resp.Remark)
		}
		switch resp.Code {
		case remoting.ResponseSuccess:
			msgs, err := remoting.DecodeMessages(resp.Body)
			if err != nil {
				t.Fatalf("decode pulled messages: %v", err)
			}
			out = append(out, msgs...)
		case remoting.ResponsePullNotFound, remoting.ResponsePullRetryImmediately:
		default:
			t.Fatalf("pull: code %d %s", resp.Code, resp.Remark)
		}
		if rh.NextBeginOffset > offset {
			offset = rh.NextBeginOffset
		}
		if offset >= rh.MaxOffset {
			return out
		}
	}
	t.Fatalf("pull of %s/%d did not reach the max offset", topic, queueID)
	return nil
}
