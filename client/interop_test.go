package client

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
	"github.com/cometmq/comet/internal/testutil/rmq"
)

// The official RocketMQ Go client v2.1.2 and this SDK read each other's
// messages through Comet.

// skipUnderRace skips a test that runs the official client under the race
// detector: v2.1.2's push consumer Shutdown writes its client state while
// its own rebalance goroutine reads it (internal/client.go), a race in that
// client, not here.
func skipUnderRace(t *testing.T) {
	if raceDetector {
		t.Skip("rocketmq-client-go v2.1.2 races with itself in Shutdown")
	}
}

func TestInteropSDKToOfficialConsumer(t *testing.T) {
	skipUnderRace(t)
	rlog.SetLogLevel("error")
	env := startBroker(t)
	c := newTestClient(t, env)
	topic := uniqueTopic(t)
	createTopic(t, c, topic, 4)
	p := newProducer(t, c)
	ctx := testContext(t)
	want := map[string]string{} // body -> MsgID
	for i := range 10 {
		m := NewMessage(topic, fmt.Appendf(nil, "sdk-%d", i)).SetProperty("origin", "sdk")
		m.Tags, m.Keys = "TagA", []string{fmt.Sprintf("key-%d", i)}
		res, err := p.SendSync(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		want[string(m.Body)] = res.MsgID
	}
	var batch []*Message
	for i := range 5 {
		m := NewMessage(topic, fmt.Appendf(nil, "sdk-batch-%d", i)).SetProperty("origin", "sdk")
		m.Tags = "TagA"
		batch = append(batch, m)
	}
	results, err := p.SendBatch(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		want[string(batch[i].Body)] = r.MsgID
	}

	official, err := rocketmq.NewPushConsumer(consumer.WithNameServer([]string{env.NamesrvAddr}),
		consumer.WithGroupName("official-cg"), consumer.WithInstance("official"),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]*primitive.MessageExt{}
	err = official.Subscribe(topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "TagA"},
		func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				got[string(m.Body)] = m
			}
			return consumer.ConsumeSuccess, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := official.Start(); err != nil {
		t.Fatal(err)
	}
	defer official.Shutdown()
	testutil.WaitFor(t, 30*time.Second, "the official consumer receives 15 messages", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == len(want)
	})
	mu.Lock()
	defer mu.Unlock()
	for body, id := range want {
		m := got[body]
		if m.MsgId != id || m.GetTags() != "TagA" || m.GetProperty("origin") != "sdk" {
			t.Fatalf("%s: official client saw id %s tags %q origin %q; SDK said id %s",
				body, m.MsgId, m.GetTags(), m.GetProperty("origin"), id)
		}
		if !strings.Contains(body, "batch") && m.GetKeys() == "" {
			t.Fatalf("%s: keys lost", body)
		}
	}
}

func TestInteropOfficialProducerToSDK(t *testing.T) {
	skipUnderRace(t)
	rlog.SetLogLevel("error")
	env := startBroker(t)
	c := newTestClient(t, env)
	topic := uniqueTopic(t)
	createTopic(t, c, topic, 4)
	official := rmq.StartProducer(t, env.NamesrvAddr, producer.WithGroupName("official-pg"), producer.WithInstanceName("official"))
	ctx := testContext(t)
	want := map[string]string{} // body -> MsgID
	big := strings.Repeat("compressed-by-the-official-client ", 200)
	for i := range 10 {
		body := fmt.Sprintf("official-%d", i)
		if i == 9 {
			body = big
		}
		m := primitive.NewMessage(topic, []byte(body))
		m.WithTag("TagB")
		m.WithProperty("origin", "official")
		res, err := official.SendSync(ctx, m)
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("official send %d: %v %v", i, res, err)
		}
		want[body] = res.MsgID
	}
	var batch []*primitive.Message
	for i := range 5 {
		batch = append(batch, primitive.NewMessage(topic, fmt.Appendf(nil, "official-batch-%d", i)))
	}
	if res, err := official.SendSync(ctx, batch...); err != nil || res.Status != primitive.SendOK {
		t.Fatalf("official batch: %v %v", res, err)
	}

	col := newCollector()
	startConsumer(t, c, "sdk-cg", topic, All, col.handler, WithConsumeFrom(ConsumeFromFirst))
	testutil.WaitFor(t, 30*time.Second, "the SDK receives 15 messages", func() bool { return col.distinct() == 15 })
	for _, m := range col.snapshot() {
		body := string(m.Body)
		if id, ok := want[body]; ok {
			if m.MsgID != id || m.Tags != "TagB" || m.Property("origin") != "official" {
				t.Fatalf("%.20s: SDK saw id %s tags %q origin %q; official said %s", body, m.MsgID, m.Tags, m.Property("origin"), id)
			}
		} else if !strings.HasPrefix(body, "official-batch-") {
			t.Fatalf("unexpected body %.40q", body)
		}
	}
}
