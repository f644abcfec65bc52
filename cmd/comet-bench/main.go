// Command comet-bench runs a load-testing workload (package perf) against
// Comet and, as a peer, NATS JetStream, and prints throughput and latency
// percentiles, side by side with ratios when both ran.
//
//	comet-bench run     -namesrv 127.0.0.1:9876 -producers 4 -size 128 -count 1M
//	comet-bench run     -embedded -flush sync -mode batch -batch 256
//	comet-bench compare -namesrv 127.0.0.1:9876 -nats-url nats://127.0.0.1:4222 -mode sync -count 20k
//
// The flush mode is the broker's: start comet with --flush sync|async (and
// nats-server with `jetstream { sync_interval: always }` for durable
// acknowledgements); -flush applies only to the -embedded broker.
// perf/peer/nats.sh builds and starts the NATS peer.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
