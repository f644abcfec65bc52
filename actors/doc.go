// Package actors is the broker's core: the single commit-log writer, the
// request handlers the network layer dispatches to, long polling, consumer
// groups and order locks, and the control plane that protoactor-go
// supervises (the housekeeper, the timer actor for delayed delivery, the
// transaction actor). It owns the broker's state; netio only frames and
// dispatches, persist only stores. The name is the design's: hot data moves
// through rings in batches, control moves through actors, and both are
// owned here.
//
// # Who runs what
//
// Event loops (gnet, netio) run the handlers. A handler never blocks: it
// answers at once, or hands the request on (Detach) to the writer's ring,
// the pull hold, the compile worker, an admin goroutine or an actor, and
// whoever takes it replies later.
//
// The writer (writer.go) is the only one that appends to the store: it
// drains its bounded ring in batches, assigns queue offsets, writes the
// records, syncs once per batch in sync flush (group commit), publishes
// them and completes every request of the batch. In async flush an event
// loop may take the writer's role for one small request (TryAppendInline,
// at most maxInlineBytes) when the writer is idle: it holds the writer's
// lock for that append, so the single-writer rule is about who owns the
// log's tail, not which goroutine it is. Nothing else appends.
//
// Pulls read the store's published state without locks; a pull that finds
// nothing is parked in the pull hold (pull.go), bounded per connection and
// broker-wide, and woken by the writer's publish or its suspend timeout.
//
// The control plane runs in actors under one supervisor (housekeeper.go):
// the housekeeper expires silent consumers and persists offsets, the timer
// actor moves due messages along the delay ladder, the transaction actor
// decides half messages and checks back undecided ones. Their messages are
// in messages.go. Every mailbox a client can feed is bounded (END_TRANSACTION
// requests by maxQueuedEndTxn); ticks stop before the actors do.
//
// Stop order (Broker.Stop): unregister from the name servers, stop the
// control plane, drain the writer (final sync, every acknowledgement
// queued), stop the server (queued replies flushed), join the broker's own
// goroutines, persist offsets, close the store.
//
// # Names at the edge
//
// Every topic and group a request names is checked where it enters,
// before it can reach a path, a map key or a log line (names.go, on
// remoting's one naming rule). The store behind refuses unsafe names on
// its own as well (persist.ErrUnsafeName).
//
// # Metadata on disk
//
//	<data>/config/topics.json          topic table snapshot (RocketMQ's layout)
//	<data>/config/topics.log           topic changes since the snapshot
//	<data>/config/consumerOffset.json  committed consumer offsets
//	<data>/config/controller.json      controller mode: member id and registration code
//	<data>/store/epochs                which master epoch wrote each log range (persist's format)
//
// The topic table is changed by one goroutine only, which makes each batch
// of changes durable with one append and one sync to topics.log before it
// publishes them and answers their requesters; event loops submit changes
// and never wait for the disk. The record format, compaction and recovery
// are drawn in topicstore.go. Data directories written before the log
// existed hold topics.json alone and load unchanged; after a clean stop
// topics.json alone is complete again, so an older binary reads it. Files
// left by a write a crash interrupted (*.tmp*) are removed at start.
//
// What this package must never do: make an event loop wait for a sync;
// build a path from a name the rule refuses; acknowledge a send before its
// record is stored (and, with sync flush, synced) or a topic change before
// it is durable; take or acknowledge a write, in controller mode, outside
// a master lease the controllers granted.
//
// # Replication and failover
//
// Brokers sharing a broker name form a group (replication.go): the master
// ships its commit log byte for byte over package ha, replicas append it at
// the same offsets. Roles are static (--broker-id) or, in controller mode
// (controlled.go), given by the controller quorum: a broker registers,
// heartbeats, takes writes as master only while its lease runs, proposes
// in-sync set changes and applies them once committed, and steps down at
// once on a newer epoch. Every member keeps an epoch file (epochs.go), so a
// member rejoining after a failover truncates to its divergence point with
// the new master before it replicates.
//
// # Filtering
//
// Messages are filtered on the pull path. SQL92 filtering is always on
// (RocketMQ needs enablePropertyFilter=true for it).
//
// A tag subscription is checked against the consume queue's tag hash
// first and then against the record's TAGS property, so colliding hashes
// are not delivered. An SQL92 subscription is compiled once, when it
// arrives (heartbeat or pull header; off the event loops, see below), and evaluated against the
// properties of each candidate record read straight from the commit log,
// without copying or allocating. Retry topics (%RETRY%group) are filtered
// with the SQL92 expression of each message's original topic (its
// RETRY_TOPIC property); RocketMQ does this only with filterSupportRetry.
//
// Compiling never runs on an event loop: a 4 KiB expression takes up to a
// millisecond and hundreds of kilobytes. Outcomes, refusals included, are
// kept in one bounded compile cache (ristretto, a hint: a dropped entry is
// compiled again). A pull, heartbeat or CHECK_CLIENT_CONFIG that needs an
// expression the cache does not hold is detached and finished by the
// compile worker (compiles.go); when its queue is full the request is
// answered SYSTEM_BUSY at once. Expressions longer than
// sqlfilter.MaxExpressionBytes (SQL92, 4 KiB) or maxTagExpressionBytes
// (tags, 16 KiB) are refused unread with SUBSCRIPTION_PARSE_FAILED, as
// RocketMQ answers for an expression it cannot parse. A refusal is logged
// at most once a minute per group, topic and expression, and the log shows
// the expression as a 128-byte prefix, its length and its xxhash64, never
// whole.
//
// A filtered pull examines at most filterScanLimit consume-queue entries.
// When none of them matched it answers PULL_RETRY_IMMEDIATELY with the
// offset after the last entry examined, so the client moves on at once
// (client v2.1.2 treats it as "no match, pull again from nextBeginOffset";
// PULL_OFFSET_MOVED would make it drop the queue for 10 s). A pull whose
// scan reached the end of the queue without a match is parked like an
// empty pull, from the new offset.
//
// # Delayed and timed delivery
//
// A message sent for later (DELAY level, TIMER_DELIVER_MS, TIMER_DELAY_SEC,
// TIMER_DELAY_MS, or a consumer send-back) is stored in SCHEDULE_TOPIC_XXXX
// with its real topic and queue in REAL_TOPIC/REAL_QID and its absolute due
// time in TIMER_OUT_MS. The schedule topic's queues form a ladder of rungs:
// every message in a rung waits the same duration, so each rung is FIFO and
// its consume-queue tag code holds the rung's due time (store time + rung
// duration). Queue 0..63 are the configured delay levels (level N is queue
// N-1, as in RocketMQ), queue 64+ are geometric rungs of d×16^k ms.
//
// The timer actor watches the head of every rung. When a head is due it
// either delivers the message to its real topic (TIMER_OUT_MS reached) or
// moves it, as a fresh copy, to the largest rung that does not overshoot
// the remaining time. A delay level takes exactly one hop; an arbitrary
// delay takes at most one hop per base-16 digit. Memory is one cursor per
// rung, whatever the number of pending timers: the schedule itself lives
// in the commit log and consume queues, so it survives kill -9 with them.
// Cursors are kept in the offset table under group CID_RMQ_SYS_TIMER;
// after a crash the hops since the last persisted cursor run again
// (at-least-once, never lost, never early).
//
// # Transactional messages
//
// A half message (TRAN_MSG=true) is stored hidden in queue 0 of
// RMQ_SYS_TRANS_HALF_TOPIC with its real topic and queue in REAL_TOPIC and
// REAL_QID. The decision log is RMQ_SYS_TRANS_OP_HALF_TOPIC: one op record
// per decided transaction (tag "d", body the half queue offset, property
// __transactionId__ the transaction's UNIQ_KEY). A commit stores the real
// message (sysFlag commit type, PREPARED_TX_OFFSET set) and its op record
// in one writer request; a rollback stores the op record only.
//
// The transaction actor owns the undecided set, keyed by transaction id,
// so a decision takes effect exactly once however many copies of the half
// message a check-back made and however often the producer answers. It
// checks back undecided halves older than the transaction timeout with
// CHECK_TRANSACTION_STATE on a live connection of the producer group: each
// check first re-appends the half with TRANSACTION_CHECK_TIMES+1 (so the
// count survives a restart); after MaxChecks checks the half is moved to
// TRANS_CHECK_MAX_TIME_TOPIC, logged, and decided as discarded.
//
// After a restart the undecided set is rebuilt from the half queue (from
// the persisted cursor: the oldest undecided copy) and the op records
// written since; a commit whose op record a crash cut off is found through
// the key index (real topic + UNIQ_KEY) and completed.
package actors
