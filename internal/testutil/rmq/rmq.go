// Package rmq sets up the official RocketMQ Go client (v2.1.2) for tests:
// producers and push consumers against a name server, a collector of what
// consumers receive, and the waits they need. Every test that drives the
// official client uses it, so the set-up lives in one place.
package rmq

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

// UniqueName returns a name no earlier run used, so client-side state such
// as broadcasting offset files never leaks between runs.
func UniqueName(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, time.Now().UnixNano())
}

func StartProducer(t testing.TB, nsAddr string, opts ...producer.Option) rocketmq.Producer {
	t.Helper()
	rlog.SetLogLevel("error")
	opts = append([]producer.Option{producer.WithNameServer([]string{nsAddr}),
		producer.WithGroupName(UniqueName("pg")), producer.WithRetry(2)}, opts...)
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

func SendSyncOK(t testing.TB, p rocketmq.Producer, msgs ...*primitive.Message) *primitive.SendResult {
	t.Helper()
	res, err := p.SendSync(context.Background(), msgs...)
	if err != nil || res.Status != primitive.SendOK {
		t.Fatalf("send: %v %v", res, err)
	}
	return res
}

// Collector records every body a consumer is handed, in arrival order.
type Collector struct {
	mu struct {
		sync.Mutex
		bodies []string
		tags   []string
		queues []int32
	}
}

func (c *Collector) Handle(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		c.mu.bodies = append(c.mu.bodies, string(m.Body))
		c.mu.tags = append(c.mu.tags, m.GetTags())
		c.mu.queues = append(c.mu.queues, int32(m.Queue.QueueId))
	}
	return consumer.ConsumeSuccess, nil
}

// QueuesOf returns the queue ids of the bodies that start with prefix.
func (c *Collector) QueuesOf(prefix string) map[int32]bool {
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

func (c *Collector) Snapshot() (bodies, tags []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.mu.bodies...), append([]string(nil), c.mu.tags...)
}

// Distinct returns the set of bodies received.
func (c *Collector) Distinct() map[string]int {
	bodies, _ := c.Snapshot()
	set := make(map[string]int, len(bodies))
	for _, b := range bodies {
		set[b]++
	}
	return set
}

func StartPushConsumer(t testing.TB, nsAddr, group, topic string, selector consumer.MessageSelector,
	sink *Collector, opts ...consumer.Option) rocketmq.PushConsumer {
	t.Helper()
	rlog.SetLogLevel("error")
	opts = append([]consumer.Option{consumer.WithNameServer([]string{nsAddr}), consumer.WithGroupName(group),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset)}, opts...)
	c, err := rocketmq.NewPushConsumer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(topic, selector, sink.Handle); err != nil {
		t.Fatal(err)
	}
	// The client refuses to start while the name server has no route for
	// the topic; a topic auto-created by a send just now reaches the name
	// server with the broker's next registration, which is asynchronous.
	WaitForRoute(t, nsAddr, topic)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	return c
}

// WaitForRoute polls the name server until it answers a route for topic.
func WaitForRoute(t testing.TB, nsAddr, topic string) {
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

// RequireExactly fails unless the Collector received every expected body
// and nothing else (duplicates are reported too).
func RequireExactly(t testing.TB, sink *Collector, want []string, timeout time.Duration) {
	t.Helper()
	testutil.WaitFor(t, timeout, fmt.Sprintf("%d messages", len(want)), func() bool { return len(sink.Distinct()) >= len(want) })
	got := sink.Distinct()
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
