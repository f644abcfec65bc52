package routing

import (
	"fmt"
	"math/rand"
	"slices"
	"strconv"
	"testing"
)

func queuesOf(topic string, brokers []string, perBroker int) []MessageQueue {
	var queues []MessageQueue
	for _, broker := range brokers {
		for id := 0; id < perBroker; id++ {
			queues = append(queues, MessageQueue{Topic: topic, BrokerName: broker, QueueID: int32(id)})
		}
	}
	return queues
}

func consumerIDs(count int) []string {
	ids := make([]string, count)
	for i := range ids {
		ids[i] = fmt.Sprintf("10.0.0.%d@%d", i+1, 1000+i)
	}
	return ids
}

// queueIDs renders a share as the indexes of its queues in the sorted list.
func queueIDs(share []MessageQueue) []int {
	out := make([]int, len(share))
	for i, q := range share {
		out[i] = int(q.QueueID)
	}
	return out
}

func TestAllocateJavaResults(t *testing.T) {
	cases := []struct {
		name     string
		strategy AllocateStrategy
		queues   int
		want     [][]int
	}{
		{"averagely 8/3", AllocateAveragely, 8, [][]int{{0, 1, 2}, {3, 4, 5}, {6, 7}}},
		{"averagely 10/4", AllocateAveragely, 10, [][]int{{0, 1, 2}, {3, 4, 5}, {6, 7}, {8, 9}}},
		{"averagely 3/5", AllocateAveragely, 3, [][]int{{0}, {1}, {2}, {}, {}}},
		{"averagely 4/4", AllocateAveragely, 4, [][]int{{0}, {1}, {2}, {3}}},
		{"averagely 0/2", AllocateAveragely, 0, [][]int{{}, {}}},
		{"circle 8/3", AllocateAveragelyByCircle, 8, [][]int{{0, 3, 6}, {1, 4, 7}, {2, 5}}},
		{"circle 2/3", AllocateAveragelyByCircle, 2, [][]int{{0}, {1}, {}}},
	}
	for _, tc := range cases {
		t.Run("case="+tc.name, func(t *testing.T) {
			queues := queuesOf("T", []string{"b"}, tc.queues)
			ids := consumerIDs(len(tc.want))
			for i, want := range tc.want {
				got := queueIDs(tc.strategy("g", ids[i], queues, ids))
				if !slices.Equal(got, want) {
					t.Fatalf("consumer %d: got %v want %v", i, got, want)
				}
			}
		})
	}
}

func allStrategies() map[string]AllocateStrategy {
	return map[string]AllocateStrategy{
		"averagely":       AllocateAveragely,
		"circle":          AllocateAveragelyByCircle,
		"consistenthash":  AllocateConsistentHash(0),
		"consistenthash3": AllocateConsistentHash(3),
	}
}

func TestAllocateAssignsEveryQueueExactlyOnce(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for name, strategy := range allStrategies() {
		for _, queueCount := range []int{0, 1, 3, 8, 16, 31} {
			for _, consumerCount := range []int{1, 2, 3, 5, 8, 40} {
				queues := queuesOf("T", []string{"broker-b", "broker-a"}, queueCount)
				ids := consumerIDs(consumerCount)
				rng.Shuffle(len(queues), func(i, j int) { queues[i], queues[j] = queues[j], queues[i] })
				owners := map[MessageQueue]int{}
				for _, id := range ids {
					shuffled := slices.Clone(ids)
					rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
					for _, q := range strategy("g", id, queues, shuffled) {
						owners[q]++
					}
				}
				if len(owners) != len(queues) {
					t.Fatalf("%s q=%d c=%d: %d of %d queues assigned", name, queueCount, consumerCount, len(owners), len(queues))
				}
				for q, count := range owners {
					if count != 1 {
						t.Fatalf("%s q=%d c=%d: %v assigned %d times", name, queueCount, consumerCount, q, count)
					}
				}
			}
		}
	}
}

func TestAllocateAveragelyBalanced(t *testing.T) {
	queues := queuesOf("T", []string{"a", "b", "c"}, 7) // 21 queues
	ids := consumerIDs(4)
	for i, id := range ids {
		want := 5
		if i == 0 {
			want = 6
		}
		if got := len(AllocateAveragely("g", id, queues, ids)); got != want {
			t.Fatalf("consumer %d got %d queues, want %d", i, got, want)
		}
	}
}

func TestAllocateNonMemberGetsNilAndInputsUntouched(t *testing.T) {
	queues := queuesOf("T", []string{"b", "a"}, 4)
	ids := []string{"z", "a", "m"}
	queuesBefore, idsBefore := slices.Clone(queues), slices.Clone(ids)
	strategies := allStrategies()
	strategies["byconfig"] = AllocateByConfig(queues[:2])
	for name, strategy := range strategies {
		if got := strategy("g", "nobody", queues, ids); got != nil {
			t.Fatalf("%s: non-member got %v", name, got)
		}
		if got := strategy("g", "", queues, append(slices.Clone(ids), "")); got != nil {
			t.Fatalf("%s: empty id got %v", name, got)
		}
		strategy("g", "m", queues, ids)
		if !slices.Equal(queues, queuesBefore) || !slices.Equal(ids, idsBefore) {
			t.Fatalf("%s modified its inputs", name)
		}
	}
}

func TestAllocateByConfig(t *testing.T) {
	fixed := []MessageQueue{{Topic: "T", BrokerName: "b", QueueID: 3}}
	strategy := AllocateByConfig(fixed)
	got := strategy("g", "c1", queuesOf("T", []string{"b"}, 8), []string{"c1", "c2"})
	if !slices.Equal(got, fixed) {
		t.Fatalf("got %v", got)
	}
	got[0].QueueID = 99
	if again := strategy("g", "c1", nil, []string{"c1"}); again[0].QueueID != 3 {
		t.Fatal("caller could modify the configured list")
	}
}

func TestAllocateConsistentHashStable(t *testing.T) {
	queues := queuesOf("T", []string{"broker-a", "broker-b", "broker-c", "broker-d"}, 64) // 256 queues
	strategy := AllocateConsistentHash(DefaultVirtualNodes)
	assign := func(ids []string) map[MessageQueue]string {
		owners := map[MessageQueue]string{}
		for _, id := range ids {
			for _, q := range strategy("g", id, queues, ids) {
				owners[q] = id
			}
		}
		return owners
	}
	for _, members := range []int{4, 8, 16} {
		ids := consumerIDs(members + 1)
		before := assign(ids[:members])
		after := assign(ids)
		moved := 0
		for q, owner := range after {
			if before[q] != owner {
				moved++
				if owner != ids[members] {
					t.Fatalf("n=%d: queue %v moved between old members %s -> %s", members, q, before[q], owner)
				}
			}
		}
		// Ideal is len/(n+1); allow generous slack for 10 virtual nodes.
		ideal := len(queues) / (members + 1)
		if moved == 0 || moved > 3*ideal {
			t.Fatalf("n=%d: %d of %d queues moved, ideal about %d", members, moved, len(queues), ideal)
		}
		removed := assign(ids[1:members])
		for q, owner := range before {
			if owner != ids[0] && removed[q] != owner {
				t.Fatalf("n=%d: removing %s moved %v from %s", members, ids[0], q, owner)
			}
		}
	}
}

func TestMessageQueueString(t *testing.T) {
	q := MessageQueue{Topic: "T", BrokerName: "b", QueueID: 7}
	if q.String() != "MessageQueue [topic=T, brokerName=b, queueId=7]" {
		t.Fatal(q.String())
	}
}

func BenchmarkAllocate(b *testing.B) {
	for name, strategy := range allStrategies() {
		for _, size := range []int{16, 256} {
			queues := queuesOf("T", []string{"a", "b", "c", "d"}, size/4)
			ids := consumerIDs(size / 8)
			b.Run("strategy="+name+"/queues="+strconv.Itoa(size), func(b *testing.B) {
				b.ReportAllocs()
				total := 0
				for b.Loop() {
					total += len(strategy("g", ids[0], queues, ids))
				}
				if total == 0 {
					b.Fatal("nothing allocated")
				}
			})
		}
	}
}
