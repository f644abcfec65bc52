// Package client is Comet's native Go SDK. It speaks the RocketMQ 4.x
// remoting protocol over TCP, so it works with Comet and with any RocketMQ
// 4.x broker and name server, and it owns everything a client process
// needs: routes from the name servers, producers (sync, async, oneway,
// batch, automatic micro-batching, queue selectors, retries on another
// broker), push consumers (concurrent and orderly, clustering and
// broadcasting, tag and SQL92 selectors, offset commit policies, queue
// allocation), a pull consumer, and transactional producers with
// check-backs.
//
// It must never import the broker's packages: only netio/remoting (the wire
// codec and transport) and routing (route bodies and allocation strategies).
//
// # Shape
//
// A Client holds the name server addresses, one TCP connection per broker
// address (shared by every producer and consumer made from it), the route
// cache (refreshed every 30 s, and at once, at most every 100 ms, when a
// broker connection fails or a broker answers SERVICE_NOT_AVAILABLE to a
// send: after a failover the new master is learnt in milliseconds) and the
// heartbeats (every 30 s). Each
// connection has one read loop and one write loop that coalesces queued
// frames; requests are pipelined and matched by opaque. Send requests in
// flight are bounded per connection (WithMaxInflight); an async send waits
// for a slot, which is its backpressure. Async completions run on a pool of
// reusable goroutines, at most one per slot, never one per message.
//
//	c, err := client.New(client.WithNameServers("127.0.0.1:9876"))
//	p, err := c.NewProducer("orders")
//	res, err := p.SendSync(ctx, client.NewMessage("Orders", body))
//
//	pc, err := c.NewPushConsumer("billing", client.WithConsumeFrom(client.ConsumeFromFirst))
//	err = pc.Subscribe("Orders", client.Tag("paid || refunded"), handler)
//	err = pc.Start(ctx)
//
// # Wire choices
//
// Request headers use the binary ROCKETMQ encoding by default (smaller and
// cheaper than JSON; WithJSONHeaders for brokers that need JSON). Single
// messages go as SEND_MESSAGE_V2 (short header keys), batches as
// SEND_BATCH_MESSAGE; every message carries a producer id (UNIQ_KEY), batch
// elements included, so consumers see the same MsgID the producer got.
// Bodies of 4 KiB or more are zlib-compressed. Oneway requests carry the
// oneway flag and nothing depends on the broker honouring it.
//
// # Consumption
//
// Each owned queue has one pull loop that long-polls the broker. What it
// pulls is cut into batches (WithConsumeBatchSize) queued in offset order;
// at most WithMaxCachedPerQueue messages per queue wait to be handled, after
// which the queue's pulls pause. Concurrent consumers hand batches to a
// fixed pool of WithConcurrency workers; orderly consumers handle one batch
// at a time per queue, only while they hold the broker's lock on it
// (LOCK_BATCH_MQ, renewed every 20 s). The committable offset of a queue is
// the first offset of its oldest unhandled batch, so a crash redelivers
// rather than loses (at-least-once). Offsets are committed every 5 s or
// after every handled batch (CommitAfterHandle), and always when a queue is
// given up and on Close; broadcasting consumers keep them in a local file:
//
//	{"offsetTable":{"<topic>@<brokerName>@<queueId>":<offset>}}
//
// (part of the format: do not change). A group with no committed offset
// starts where ConsumeFrom says: the queue's min offset, max offset or the
// offset found by timestamp.
//
// Membership follows RocketMQ: heartbeats register the group's
// subscriptions, GET_CONSUMER_LIST_BY_GROUP and an AllocateStrategy divide
// the sorted queues, NOTIFY_CONSUMER_IDS_CHANGED triggers a rebalance at
// once. A failed batch is sent back (CONSUMER_SEND_MSG_BACK) and comes again
// through the group's retry topic, which consumers subscribe automatically.
//
// # Errors
//
// Errors wrap one of the classes ErrTimeout, ErrNoRoute, ErrBrokerBusy,
// ErrClosed, ErrConnection, ErrInvalidMessage, ErrInvalidOption and
// ErrProtocol; test them with errors.Is. A response code from a broker is a
// *BrokerError (errors.As), which also matches the class of its code.
//
// # Security
//
// WithCredentials signs every request with an account of the broker's ACL,
// by the official clients' rule (netio/remoting's Credentials.Sign); a
// refusal is a *BrokerError with code NO_PERMISSION whose remark names the
// resource and the missing permission. WithTLS connects over TLS (mutual
// TLS when the configuration carries a client certificate).
package client
