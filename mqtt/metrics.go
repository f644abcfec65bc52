package mqtt

import "sync/atomic"

// gatewayMetrics are the gateway's counters and gauges.
type gatewayMetrics struct {
	connections, sessions, subscriptions, inflight atomic.Int64 // gauges

	connects, connectRefused, takeovers, protocolErrors       atomic.Int64
	keepAliveTimeouts, connectTimeouts, slowConsumers         atomic.Int64
	packetsIn, publishesIn, publishesRefused, messagesOut     atomic.Int64
	messagesMatched, droppedQoS0, droppedTooLarge             atomic.Int64
	sharedDropped, lostToRetention, willsPublished, journaled atomic.Int64
}
