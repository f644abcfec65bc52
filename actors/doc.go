// Package actors is the broker: the request handlers the network layer
// dispatches to, the single writer that batches appends and syncs into the
// commit log, the pull hold, and the control-plane actors (delay ladder,
// transactions, housekeeping). It owns the broker's state; netio owns the
// connections and persist the bytes on disk.
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
// it is durable.
package actors
