//go:build !race

// The official client v2.1.2 races with itself in these two modes (its
// rebalance writes SubscriptionData.SubVersion while route refresh clones it;
// its orderly process queue shares an unguarded tree map), so the race
// detector flags the client, not the broker. They run without -race only.

package main

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/cometmq/comet/internal/testutil"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

func TestBroadcastingConsumersEachGetEverything(t *testing.T) {
	nsAddr, _ := startComet(t, t.TempDir())
	p := startProducer(t, nsAddr)
	const topic = "Broadcasting"
	var want []string
	for i := 0; i < 30; i++ {
		body := fmt.Sprintf("bc-%d", i)
		want = append(want, body)
		sendSyncOK(t, p, primitive.NewMessage(topic, []byte(body)))
	}
	group := uniqueName("bg")
	first, second := &collector{}, &collector{}
	startPushConsumer(t, nsAddr, group, topic, consumer.MessageSelector{}, first,
		consumer.WithInstance(uniqueName("a")), consumer.WithConsumerModel(consumer.BroadCasting))
	startPushConsumer(t, nsAddr, group, topic, consumer.MessageSelector{}, second,
		consumer.WithInstance(uniqueName("b")), consumer.WithConsumerModel(consumer.BroadCasting))
	requireExactly(t, first, want, 20*time.Second)
	requireExactly(t, second, want, 20*time.Second)
}

func TestOrderlyConsumerSeesPerKeyOrder(t *testing.T) {
	nsAddr, _ := startComet(t, t.TempDir())
	p := startProducer(t, nsAddr, producer.WithQueueSelector(producer.NewHashQueueSelector()))
	const topic = "Orderly"
	keys := []string{"order-a", "order-b", "order-c", "order-d", "order-e"}
	const perKey = 20
	for seq := 0; seq < perKey; seq++ {
		for _, k := range keys {
			m := primitive.NewMessage(topic, []byte(k+"#"+strconv.Itoa(seq)))
			m.WithShardingKey(k)
			sendSyncOK(t, p, m)
		}
	}
	sink := &collector{}
	startPushConsumer(t, nsAddr, uniqueName("og"), topic, consumer.MessageSelector{}, sink, consumer.WithConsumerOrder(true))
	testutil.WaitFor(t, 20*time.Second, "every orderly message", func() bool { return len(sink.Distinct()) == len(keys)*perKey })
	bodies, _ := sink.Snapshot()
	next := map[string]int{}
	for _, b := range bodies {
		key, seqText, _ := strings.Cut(b, "#")
		seq, _ := strconv.Atoi(seqText)
		if seq != next[key] {
			t.Fatalf("key %s: got seq %d, want %d (arrival order %v)", key, seq, next[key], bodies)
		}
		next[key]++
	}
}

// TestOrderlyGroupKeepsOrderWhileMembersComeAndGo sends keyed sequences
// while a second orderly consumer joins the group and the first leaves.
// Queue locks must hand each queue over without overlap: no message of a
// key is consumed before its predecessor was.
func TestOrderlyGroupKeepsOrderWhileMembersComeAndGo(t *testing.T) {
	nsAddr, _ := startComet(t, t.TempDir())
	p := startProducer(t, nsAddr, producer.WithQueueSelector(producer.NewHashQueueSelector()))
	topic, group := uniqueName("OrderlyRebalance"), uniqueName("org")
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"}
	const perKey = 120
	send := func(seq int) {
		for _, k := range keys {
			m := primitive.NewMessage(topic, []byte(k+"#"+strconv.Itoa(seq)))
			m.WithShardingKey(k)
			sendSyncOK(t, p, m)
		}
	}
	send(0)
	sink := &collector{}
	newMember := func(name string) rocketmq.PushConsumer {
		c, err := rocketmq.NewPushConsumer(consumer.WithNameServer([]string{nsAddr}), consumer.WithGroupName(group),
			consumer.WithInstance(name), consumer.WithConsumerOrder(true),
			consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Subscribe(topic, consumer.MessageSelector{}, sink.Handle); err != nil {
			t.Fatal(err)
		}
		waitForRoute(t, nsAddr, topic)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := newMember(uniqueName("first"))
	var second rocketmq.PushConsumer
	for seq := 1; seq < perKey; seq++ {
		send(seq)
		switch seq {
		case perKey / 3:
			second = newMember(uniqueName("second"))
			t.Cleanup(func() { _ = second.Shutdown() })
		case 2 * perKey / 3:
			_ = first.Shutdown()
		}
		time.Sleep(5 * time.Millisecond)
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(sink.Distinct()) < len(keys)*perKey {
		if time.Now().After(deadline) {
			last := map[string]string{}
			bodies, _ := sink.Snapshot()
			for _, b := range bodies {
				k, _, _ := strings.Cut(b, "#")
				last[k] = b
			}
			t.Fatalf("consumed %d of %d; last per key: %v", len(sink.Distinct()), len(keys)*perKey, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	bodies, _ := sink.Snapshot()
	seen := map[string]int{} // key -> highest seq consumed so far + 1
	for _, b := range bodies {
		key, seqText, _ := strings.Cut(b, "#")
		seq, _ := strconv.Atoi(seqText)
		if seq > seen[key] {
			t.Fatalf("key %s: seq %d consumed before seq %d", key, seq, seen[key])
		}
		seen[key] = max(seen[key], seq+1)
	}
	t.Logf("%d consumptions of %d messages, order kept across the join and the leave", len(bodies), len(keys)*perKey)
}
