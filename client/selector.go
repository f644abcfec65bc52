package client

import (
	"hash/fnv"
	"sync/atomic"
)

// QueueSelector chooses the queue a message goes to. queues is never empty
// and is sorted by broker name and queue id; when a send is retried, or a
// broker recently failed, it holds only the queues of the brokers still
// worth trying. Select must be safe for concurrent use.
type QueueSelector interface {
	Select(msg *Message, queues []MessageQueue) MessageQueue
}

// QueueSelectorFunc adapts a function to QueueSelector.
type QueueSelectorFunc func(msg *Message, queues []MessageQueue) MessageQueue

// Select calls f.
func (f QueueSelectorFunc) Select(msg *Message, queues []MessageQueue) MessageQueue {
	return f(msg, queues)
}

type roundRobin struct{ next atomic.Uint32 }

// RoundRobin spreads messages over the queues in turn.
func RoundRobin() QueueSelector { return &roundRobin{} }

func (r *roundRobin) Select(_ *Message, queues []MessageQueue) MessageQueue {
	return queues[int(r.next.Add(1)-1)%len(queues)]
}

type hashByKey struct{ fallback roundRobin }

// HashByKey sends messages with equal ShardingKey to the same queue, so a
// consumer sees them in send order (FNV-1a of the key modulo the queue
// count). Messages without a key go round robin. While a broker is failing
// its keys move to the remaining queues: use WithRetries(0) where order
// matters more than availability.
func HashByKey() QueueSelector { return &hashByKey{} }

func (h *hashByKey) Select(msg *Message, queues []MessageQueue) MessageQueue {
	if msg.ShardingKey == "" {
		return h.fallback.Select(msg, queues)
	}
	f := fnv.New32a()
	_, _ = f.Write([]byte(msg.ShardingKey))
	return queues[int(f.Sum32()%uint32(len(queues)))]
}
