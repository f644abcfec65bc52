// Package persist is Comet's storage engine. It owns the commit log
// (equal-size mapped segments holding records in the RocketMQ layout), the
// consume queues, the key index, the checkpoint, crash recovery, retention,
// and the file-system seam (FS, with MemFS and ErrorFS for crash and fault
// tests). It imports nothing of the broker and never decides what a
// client is told: the writer actor acknowledges, persist only reports.
//
// One writer goroutine appends: Append encodes records into the mapped
// log, Sync makes them durable, Publish makes them visible and writes
// their consume-queue entries, Rollback discards a batch that failed.
// Readers (pulls, queries, the flusher, retention) run concurrently on
// atomically published state and never block the writer.
//
// Key indexing is not on the writer's path: a background indexer reads
// published records back from the log and adds their keys to the key
// index; QueryByKey catches up whatever is left before it answers
// (indexer.go). The checkpoint records the log offset below which the
// consume queues and the key index are durable; recovery rescans the log
// from there, re-dispatches, cuts a torn or zeroed tail and says what it
// cut; damage in the middle of the log is reported and left in place, and
// the records after it are kept (recovery.go). After a kill -9 on the
// same boot (the abort marker carries the boot id) the key index is
// repaired from its last flush on, not rebuilt; an index file found
// damaged is dropped and re-indexed from the log (keyindex.go).
//
// No record that fails its checks reaches a reader: every read verifies
// the record's structure and body CRC, and Verify scrubs the log at a
// bounded rate (verify.go). Retention never deletes data younger than
// RetentionAge because the disk is full unless DiskEmergencyRatio says so,
// and does not count the store's own preallocation as usage
// (retention.go). A full disk fails the append that needs a new file,
// never a write into a mapping. LockDir keeps a second process out of a
// data directory (dirlock.go).
//
// Replication reads and writes the log as bytes (replica.go): ReadRaw
// returns whole records up to the end of what the writer handed to the
// file, AppendReplicated appends a master's records at the same offsets
// on a replica and dispatches them with recovery's code, and TruncateTo
// cuts the log, queues and key index at a record boundary. The epoch file
// (epochs.go, format drawn there) records which master epoch wrote each
// range of the log, so a member rejoining after a failover truncates to
// the divergence point with its new master.
package persist
