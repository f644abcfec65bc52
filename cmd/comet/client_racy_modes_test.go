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
	waitUntil(t, 20*time.Second, "every orderly message", func() bool { return len(sink.distinct()) == len(keys)*perKey })
	bodies, _ := sink.snapshot()
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
