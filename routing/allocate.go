package routing

import (
	"cmp"
	"crypto/md5"
	"encoding/binary"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// MessageQueue names one queue of a topic on one broker (Java's
// MessageQueue). As JSON its keys are in fastjson's order, as Java writes
// them; part of the format: do not change.
type MessageQueue struct {
	BrokerName string `json:"brokerName"`
	QueueID    int32  `json:"queueId"`
	Topic      string `json:"topic"`
}

// String is RocketMQ's MessageQueue.toString, the key consistent hashing
// places a queue by.
func (q MessageQueue) String() string {
	return "MessageQueue [topic=" + q.Topic + ", brokerName=" + q.BrokerName +
		", queueId=" + strconv.Itoa(int(q.QueueID)) + "]"
}

// AllocateStrategy computes currentCID's share of mqAll among the consumers
// cidAll of group. Strategies sort copies of their inputs, never modify
// them, and return nil when currentCID is not in cidAll.
type AllocateStrategy func(group, currentCID string, mqAll []MessageQueue, cidAll []string) []MessageQueue

// DefaultVirtualNodes is RocketMQ's virtual node count per consumer for
// consistent hashing.
const DefaultVirtualNodes = 10

func compareQueues(a, b MessageQueue) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	if c := strings.Compare(a.BrokerName, b.BrokerName); c != 0 {
		return c
	}
	return cmp.Compare(a.QueueID, b.QueueID)
}

// sortedInputs returns sorted copies of the queues and consumer ids and the
// index of currentCID among the ids (-1 when absent).
func sortedInputs(currentCID string, mqAll []MessageQueue, cidAll []string) ([]MessageQueue, []string, int) {
	ids := slices.Clone(cidAll)
	sort.Strings(ids)
	index := slices.Index(ids, currentCID)
	if index < 0 || currentCID == "" {
		return nil, nil, -1
	}
	queues := slices.Clone(mqAll)
	slices.SortFunc(queues, compareQueues)
	return queues, ids, index
}

// AllocateAveragely gives each consumer a contiguous block of the sorted
// queues; the first len(mqAll) mod len(cidAll) consumers get one extra.
func AllocateAveragely(group, currentCID string, mqAll []MessageQueue, cidAll []string) []MessageQueue {
	queues, ids, index := sortedInputs(currentCID, mqAll, cidAll)
	if index < 0 {
		return nil
	}
	if len(queues) == 0 {
		return []MessageQueue{}
	}
	queueCount, consumerCount := len(queues), len(ids)
	extra := queueCount % consumerCount
	blockSize := queueCount / consumerCount
	start := index*blockSize + min(index, extra)
	if index < extra {
		blockSize++
	}
	if start >= queueCount || blockSize == 0 {
		return []MessageQueue{}
	}
	return queues[start:min(start+blockSize, queueCount)]
}

// AllocateAveragelyByCircle deals the sorted queues out round robin: the
// consumer at index i gets queues i, i+n, i+2n, ...
func AllocateAveragelyByCircle(group, currentCID string, mqAll []MessageQueue, cidAll []string) []MessageQueue {
	queues, ids, index := sortedInputs(currentCID, mqAll, cidAll)
	if index < 0 {
		return nil
	}
	result := []MessageQueue{}
	for i := index; i < len(queues); i += len(ids) {
		result = append(result, queues[i])
	}
	return result
}

// AllocateByConfig always assigns the fixed list (to a member of the group).
func AllocateByConfig(list []MessageQueue) AllocateStrategy {
	fixed := slices.Clone(list)
	return func(group, currentCID string, mqAll []MessageQueue, cidAll []string) []MessageQueue {
		if currentCID == "" || !slices.Contains(cidAll, currentCID) {
			return nil
		}
		return slices.Clone(fixed)
	}
}

// AllocateConsistentHash places virtualNodes points per consumer on an MD5
// ring (key "<cid>-<i>", hash = first 4 digest bytes big-endian) and gives
// each queue to the first point at or after the queue's hash, wrapping
// around. When a consumer joins or leaves only about 1/n of the queues move.
// virtualNodes <= 0 means DefaultVirtualNodes.
func AllocateConsistentHash(virtualNodes int) AllocateStrategy {
	if virtualNodes <= 0 {
		virtualNodes = DefaultVirtualNodes
	}
	return func(group, currentCID string, mqAll []MessageQueue, cidAll []string) []MessageQueue {
		queues, ids, index := sortedInputs(currentCID, mqAll, cidAll)
		if index < 0 {
			return nil
		}
		ring := buildHashRing(ids, virtualNodes)
		result := []MessageQueue{}
		for _, queue := range queues {
			if ring.owner(hash32(queue.String())) == currentCID {
				result = append(result, queue)
			}
		}
		return result
	}
}

type ringPoint struct {
	hash   uint32
	member string
}

type hashRing []ringPoint

func buildHashRing(members []string, virtualNodes int) hashRing {
	points := make(hashRing, 0, len(members)*virtualNodes)
	for _, member := range members {
		for i := 0; i < virtualNodes; i++ {
			points = append(points, ringPoint{hash: hash32(member + "-" + strconv.Itoa(i)), member: member})
		}
	}
	// Equal hashes: the point added last wins, as with a map keyed by hash.
	slices.SortStableFunc(points, func(a, b ringPoint) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})
	deduped := points[:0]
	for i, point := range points {
		if i+1 < len(points) && points[i+1].hash == point.hash {
			continue
		}
		deduped = append(deduped, point)
	}
	return deduped
}

func (r hashRing) owner(hash uint32) string {
	i := sort.Search(len(r), func(i int) bool { return r[i].hash >= hash })
	if i == len(r) {
		i = 0
	}
	return r[i].member
}

func hash32(key string) uint32 {
	digest := md5.Sum([]byte(key))
	return binary.BigEndian.Uint32(digest[:4])
}
