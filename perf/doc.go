// Package perf owns Comet's load-testing harness: workloads (producers ×
// consumers, message size, a count or a duration, an open-loop target rate
// or max rate, sync/async/batch sends, topics and queues, live or backlog
// consumption), the runner that drives a workload against a Target, the
// two targets (Comet through the native SDK in client/, and NATS JetStream
// through nats.go as the peer), HdrHistogram latency recording, and the
// reports: a live progress line, a text table (side by side with ratios
// when two targets ran the same workload), JSON, and a self-contained HTML
// percentile plot.
//
// It never changes a broker's configuration. The flush mode is the
// broker's: `comet --flush sync|async` on the server, and nats-server's
// `jetstream { sync_interval: always }` for the durable peer. The only
// broker perf starts itself is the in-process one of StartEmbedded, for a
// quick run, which takes a flush mode.
//
// # Running a comparison
//
// perf/peer/comet.sh and perf/peer/nats.sh build the two brokers (comet
// from this repository, nats-server v2.15.2 from the Go module proxy), start
// them on 127.0.0.1 in the background with a PID file, and stop exactly that
// PID:
//
//	perf/peer/comet.sh start async          # or sync: comet --flush sync
//	perf/peer/nats.sh start                 # or "start always": fsync per message
//	go run ./cmd/comet-bench compare -namesrv 127.0.0.1:19876 \
//		-nats-url nats://127.0.0.1:4222 -producers 4 -consumers 0 -count 1M -window 100
//	perf/peer/nats.sh stop; perf/peer/comet.sh stop
//
// # Open loop
//
// With a target rate each producer sends on a fixed timetable: operation i
// of producer p of P is due at start + p/rate + i·P/rate. A send that stalls
// does not move the later due times; the sends that fell behind go out at
// once, and every latency is measured from the due (intended) time, not
// from when the send actually began. A stalled broker therefore shows up in
// the percentiles instead of silently lowering the offered load (no
// coordinated omission). Without a rate (max rate) the loop is closed and
// latency is the service time of each send.
//
// # Latencies
//
// Send latency is the time from the intended send time to the broker's
// acknowledgement (for a batch, of the whole batch, recorded once per
// message). End-to-end latency is the time from the intended send time to
// the consumer's handler seeing the message, read from the body (below)
// rather than from the broker's millisecond born timestamp; both ends run
// on this host's clock. Backlog runs record no end-to-end latency, since
// there it measures how long the backlog waited.
//
// # Message body
//
// Part of the format: do not change (the two targets and their consumers
// rely on it).
//
//	offset  size  field
//	0       8     intended send time, Unix nanoseconds, big endian
//	                (0 marks a warm-up message, which consumers do not count)
//	8       n-8   filler bytes
package perf
