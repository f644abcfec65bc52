// Package testbroker starts a name server and a broker in-process on
// loopback ports for tests of other packages (client SDK, cometctl, perf).
// It never touches fixed ports and stops everything in t.Cleanup.
package testbroker

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/namesrv"
)

// Env is a running name server and broker.
type Env struct {
	NamesrvAddr string
	BrokerAddr  string
	Broker      *actors.Broker
	Dir         string
}

// Start runs a name server and a broker in a fresh temp dir. mutate, if
// non-nil, may change the broker options before the broker starts.
func Start(t testing.TB, mutate func(*actors.BrokerOptions)) *Env {
	t.Helper()
	var out io.Writer = io.Discard
	if os.Getenv("COMET_TEST_LOG") != "" {
		out = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ns, err := namesrv.Serve("127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Stop(context.Background()) })
	opts := actors.BrokerOptions{
		DataDir:         t.TempDir(),
		Listen:          "127.0.0.1:0",
		NamesrvAddrs:    []string{ns.Addr()},
		AutoCreateTopic: true,
		Logger:          log,
		SegmentSize:     64 << 20,
	}
	if mutate != nil {
		mutate(&opts)
	}
	b, err := actors.NewBroker(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop(context.Background()) })
	return &Env{NamesrvAddr: ns.Addr(), BrokerAddr: b.Addr(), Broker: b, Dir: opts.DataDir}
}
