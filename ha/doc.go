// Package ha replicates a broker's commit log from its master to its
// replicas: the HA transport (a small framed protocol over TCP), the
// master's view of its replicas (acknowledged offsets, the in-sync set,
// the commit point that synchronous sends wait for) and the replica's
// fetch loop (connect, report the offset it holds, append what arrives,
// acknowledge it, reconnect with backoff).
//
// It owns no storage and no broker state: the master reads its log through
// Source and the replica writes through Sink, both implemented by the
// broker over persist.Store; metadata (topics, consumer offsets) travels
// as opaque blobs the broker produces and applies. It imports nothing of
// the broker and must never decide what a producer is told: it only
// reports whether the in-sync set holds an offset.
//
// # Roles and epochs
//
// A Server runs on every broker that may become master and accepts
// replicas only while its role is master (SetMaster); a Client runs on a
// replica. Both carry the epoch the broker was given (0 in static mode):
// a master refuses a replica that knows a newer epoch and reports it
// (OnFenced), a replica refuses a master with an older epoch than its own.
//
// # The in-sync set (static mode)
//
// The master keeps the set itself: a replica joins once its
// acknowledgement reaches the commit point (it holds everything the set
// acknowledged), and leaves when it has not caught up with the master's
// log end for LagMax (a dead, partitioned or slow replica alike). Until it
// leaves, the master waits for it: a synchronous send is acknowledged
// only when every member holds it. The commit point is the lowest
// acknowledgement over the set (synced offsets when the master flushes
// synchronously, appended offsets otherwise) and never passes the
// master's own written end. Under a controller (ProposeInSync set) the
// server only proposes joins and leaves; the set changes when the broker
// applies what the controller committed (SetInSync), and until then the
// master keeps waiting for the old set. WaitUntil bounds a wait by the
// master's lease.
//
// # Wire format
//
// Every frame, both directions, big-endian. Part of the format: do not
// change.
//
//	+------+---------+---------------------------------------------+
//	| 4    | length  | bytes that follow: 1 + payload, <= 4 MiB+64 |
//	| 1    | type    |                                             |
//	| n    | payload | by type, below                              |
//	+------+---------+---------------------------------------------+
//
//	HELLO (1), replica -> master, first frame of a connection:
//	| 2 version (2; 1 has no epoch list) | 2 flags (bit 0: replica
//	flushes synchronously) | 8 broker id | 8 epoch | 8 offset held
//	(its log end) | 1 n | n broker name | epoch list (version 2) |
//
//	epoch list: | 2 k <= 4096 | k × (8 epoch, 8 start offset) |, oldest
//	first: which epoch wrote which range of the sender's log.
//
//	WELCOME (2), master -> replica, answer to HELLO:
//	| 8 epoch | 8 start | 8 master written end | 8 segment size |
//	[epoch list, the master's: present when it keeps epochs] |
//	start is where the stream begins: the replica's divergence point
//	with the master (the end of the newest epoch range both logs hold
//	from the same start, see epochs.go; without epochs, the shorter of
//	the two logs); the replica truncates to it first (bytes an old master
//	wrote after the last commit, or a batch the master rolled back). For
//	an empty replica of a master whose oldest segments are gone it is
//	the master's first offset. A replica holding epoch ranges of which
//	the master has none is refused (ERROR 8): truncation cannot mend it.
//
//	DATA (3), master -> replica:
//	| 8 offset | 8 commit point | 4 CRC32-C of data | data |
//	data is whole stored records from offset, never across a segment;
//	a segment's closing blank record comes alone as its 8-byte header.
//
//	HEARTBEAT (4), master -> replica, when idle:
//	| 8 master written end | 8 commit point |
//
//	ACK (5), replica -> master, after each DATA and when idle:
//	| 8 appended end | 8 synced end |
//
//	META (6), master -> replica, when a blob changed:
//	| 1 kind | data (opaque to this package) |
//
//	ERROR (7), either way; the sender then closes:
//	| 2 code | message (UTF-8) |
//
// Connections carry heartbeats every Heartbeat (default 1 s) each way and
// are closed after Timeout (default 5 s) of silence; every read and write
// has a deadline. Buffers are bounded: a DATA frame carries at most
// ChunkBytes (default 1 MiB) plus one record, and the decoder refuses a
// length over MaxFrameBytes before allocating.
package ha
