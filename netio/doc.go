// Package netio is Comet's network server layer, shared by the broker and the
// name server. It owns the gnet event loops, the connection registry, frame
// splitting, dispatch of requests to handlers by request code, per-connection
// write batching, and backpressure on outbound data.
//
// netio must never import persist, actors or routing, and must never hold
// state that belongs to them: it decodes frames and hands each request to the
// Handler registered for its code. Handlers run on an event loop and must
// never block it; work that can wait is handed off (Request.Detach) and
// answered later from any goroutine (Request.Reply, Conn.Send).
//
// # Frames
//
// Frames are RocketMQ remoting commands, encoded and decoded by
// netio/remoting, which owns the layout. netio relies only on the length
// prefix to split the byte stream:
//
//	+--------+------------------+------------------------------------------+
//	| offset | size             | field                                    |
//	+--------+------------------+------------------------------------------+
//	| 0      | 4                | length, big endian: bytes that follow    |
//	| 4      | 1                | serialize type (0 JSON, 1 ROCKETMQ)      |
//	| 5      | 3                | header length, big endian                |
//	| 8      | header length    | header                                   |
//	| ...    | rest of length   | body                                     |
//	+--------+------------------+------------------------------------------+
//
// Part of the format: do not change (it is the RocketMQ 4.x remoting wire
// format that unmodified clients speak).
//
// A frame whose length exceeds Options.MaxFrameSize, or whose header fails to
// decode, closes only the connection that sent it, with one rate-limited log
// line; every other connection keeps working.
//
// # Inbound path
//
// On each read the event loop splits whole frames off the connection's
// inbound buffer, copies each into a pooled buffer (gnet's peeked bytes are
// valid only until Discard), decodes the header, and calls the handler.
// Responses from the peer (flag bit 0 set) complete the matching Conn.Invoke
// by opaque, or are dropped. A request code with no handler is answered with
// REQUEST_CODE_NOT_SUPPORTED and the request's opaque.
//
// # Outbound path and backpressure
//
// Replies made while the handler runs on the loop are appended to one buffer
// and written with a single Write when the read pass ends, or as soon as the
// buffer holds 256 KiB, so a pass over many pipelined requests with large
// replies never builds one huge buffer and the pending-bytes cap below is
// checked after every write. Everything sent
// from other goroutines (detached replies, Conn.Send, Conn.Invoke) goes
// through the connection's outbox: frames queue up while one AsyncWritev is in
// flight, and the queue leaves as the next single AsyncWritev when the
// previous one completes, so a connection never has more than one write task
// on its loop. One write carries at most 1,024 frames (gnet hands them to one
// writev(2), which fails past IOV_MAX and would cost the connection); the
// rest leave in the writes that follow. Buffers come from a bytebufferpool
// and return to it in the write callback.
//
// gnet cannot pause reading, so backpressure is enforced by bytes: a
// connection whose not-yet-written outbound bytes (outbox queue, write in
// flight, and gnet's outbound buffer) exceed Options.MaxPendingBytes is closed
// as a slow consumer and the event is logged and counted. Protocol-level flow
// control (SYSTEM_BUSY, delivery windows) belongs to the handlers.
//
// # Fairness between connections of one loop
//
// A read pass stops once its replies reach 1 MiB, or after 2 ms, and
// leaves the remaining frames in gnet's inbound buffer: a client pipelining
// pulls for megabytes of messages, or requests that are costly to answer,
// would otherwise hold the loop, and every neighbour on it, until its whole
// burst was answered. The rest is served by a resume pass
// that runs after the loop's other ready connections; a resume that again
// stops at the budget is requested through a resumer goroutine (gnet runs a
// task queued by a task before it polls again), so the loop reads its
// sockets between two passes of one connection. Ordinary sends and small
// replies never reach the budgets. While passes are deferred gnet keeps reading, so the requests
// waiting for a pass are capped too: past MaxPendingBytes (at least one
// MaxFrameSize) the connection is closed as a slow consumer.
//
// # Inbound limits
//
// Bytes a client sends are buffered (in gnet's inbound buffer) until they
// form whole frames, and whole frames wait there while passes are deferred.
// Three limits bound what a client can make the server hold:
//
//   - Per frame: a length prefix over MaxFrameSize closes the connection
//     before the frame's bytes arrive.
//   - Per connection, in time: a frame must be complete FrameReadTimeout
//     (default 30 s) after its first byte arrived, however the bytes
//     trickle in. One sweeper goroutine per server checks the clocks
//     (every quarter timeout, at most every second), not a timer per
//     connection; idle connections holding no partial frame have no
//     deadline.
//   - Per server, in bytes: the bytes buffered over all connections are
//     counted against MaxBufferedInput (default 256 MiB). gnet cannot pause
//     reading a socket, so new frames cannot be made to wait: a connection
//     whose buffered bytes, or the frame it is receiving once complete,
//     would take the total past the budget is closed, logged and counted.
//     The check uses the declared frame length, so a large frame is refused
//     on its first read rather than after it filled memory. A connection
//     holding at most 64 KiB, frame included, is never closed for the
//     budget: clients sending ordinary requests are not cut off by one
//     that hoards. The budget counts bytes held, so buffered input stays
//     under it plus 64 KiB per connection. The memory behind it is gnet's:
//     its inbound ring buffers grow by doubling and go back to a pool when
//     drained, so the heap they take can reach about twice the budget
//     (measured: 60 connections each sending all but one byte of a 16 MiB
//     frame, 256 MiB budget, 44 closed, anonymous RSS 6 MB to 390 MB where
//     it was 1.27 GB without the budget) and is returned to the runtime
//     only once the pools are collected.
//
// Per connection, requests waiting for a pass are also capped by
// MaxPendingBytes (above).
//
// # Access control
//
// Options.Gate, when set, is asked about every request after it is decoded
// and before its handler runs (acl.Gate implements it: RocketMQ ACL
// signatures and permissions). A refused request is answered NO_PERMISSION
// with the gate's reason as remark, counted (Stats.Refused) and logged,
// rate-limited; the connection stays open. The gate runs on the loop: it
// must be CPU only, and an admitted request should cost it no allocation.
//
// # TLS
//
// gnet has no TLS, so Options.TLS puts a front in the event loops' place
// (tls.go): a Go listener owns the address and gnet listens on a Unix
// socket whose path is removed as soon as the loops serve, so only the
// front reaches them. Each accepted connection waits (at most the
// handshake timeout) for its first byte. A TLS handshake record (0x16) is
// handshaken on its own goroutine, at most 256 at once, and its plaintext
// then travels to a loop over a socketpair, carried by one copy goroutine
// per direction. Any other first byte is a plain client: refused in
// enforcing mode, and in permissive mode (TLS and plain on one port, as
// RocketMQ's tls.server.mode=permissive) its socket is handed to a loop
// as it is, so it costs nothing after the hand-over. Conn.RemoteAddr is
// the real peer's address either way. Backpressure is unchanged: a TLS
// client that stops reading fills the socketpair and then gnet's outbound
// buffer, and is closed as a slow consumer.
//
// # Closes
//
// Every close is counted by CloseReason (Stats.ClosedBy): the peer went
// away, the server stopped, a bad frame or header, a slow consumer, a frame
// timeout, the input budget, a socket write or read error, or Conn.Close.
// Every close but the peer's and the server's stop is logged with its
// reason, rate-limited.
package netio
