package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/cometmq/comet/internal/testutil"
)

func TestClusteringConsumersShareQueues(t *testing.T) {
	nsAddr, _ := startComet(t, t.TempDir())
	p := startProducer(t, nsAddr)
	const topic = "Clustering"
	sendSyncOK(t, p, primitive.NewMessage(topic, []byte("warm-up")))
	group := uniqueName("cg")
	first, second := &collector{}, &collector{}
	startPushConsumer(t, nsAddr, group, topic, consumer.MessageSelector{}, first, consumer.WithInstance("first"))
	startPushConsumer(t, nsAddr, group, topic, consumer.MessageSelector{}, second, consumer.WithInstance("second"))

	// Keep producing rounds until one round is split between the members
	// on disjoint queues: the group has rebalanced and shares the queues.
	want := []string{"warm-up"}
	deadline := time.Now().Add(20 * time.Second)
	for round := 0; ; round++ {
		if time.Now().After(deadline) {
			t.Fatalf("no round split between the members after %d messages", len(want))
		}
		prefix := fmt.Sprintf("r%d-", round)
		for i := 0; i < 8; i++ {
			body := fmt.Sprintf("%sm%d", prefix, i)
			want = append(want, body)
			sendSyncOK(t, p, primitive.NewMessage(topic, []byte(body)))
		}
		roundSeen := func() int {
			n := 0
			for _, sink := range []*collector{first, second} {
				for b := range sink.Distinct() {
					if strings.HasPrefix(b, prefix) {
						n++
					}
				}
			}
			return n
		}
		testutil.WaitFor(t, 10*time.Second, "round "+prefix+" to be consumed", func() bool { return roundSeen() >= 8 })
		firstQueues, secondQueues := first.QueuesOf(prefix), second.QueuesOf(prefix)
		if len(firstQueues) > 0 && len(secondQueues) > 0 && disjoint(firstQueues, secondQueues) {
			break
		}
	}
	union := func() map[string]bool {
		u := map[string]bool{}
		for b := range first.Distinct() {
			u[b] = true
		}
		for b := range second.Distinct() {
			u[b] = true
		}
		return u
	}
	testutil.WaitFor(t, 20*time.Second, "union of both members to hold every message", func() bool {
		u := union()
		for _, w := range want {
			if !u[w] {
				return false
			}
		}
		return true
	})
	if u := union(); len(u) != len(want) {
		t.Fatalf("union holds %d distinct bodies, sent %d", len(u), len(want))
	}
}

func disjoint(a, b map[int32]bool) bool {
	for q := range a {
		if b[q] {
			return false
		}
	}
	return true
}
