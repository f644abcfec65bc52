// Package cluster starts a name server and a broker in this process on
// loopback ports the system picks: the one in-process cluster that tests,
// the load-testing harness (perf) and the SDK's examples run against. It
// never touches fixed ports; Stop (or, for StartTest, the test's cleanup)
// stops everything and removes a temporary data directory.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/namesrv"
)

// Options configure a cluster. Zero values take the defaults.
type Options struct {
	// DataDir holds the broker's data; empty means a fresh temporary
	// directory that Stop removes.
	DataDir string
	// Broker, if set, may change the broker's options before it starts.
	Broker func(*actors.BrokerOptions)
	// Namesrv, if set, may change the name server's options (a gate, TLS).
	Namesrv func(*namesrv.ServeOptions)
	// Logger receives both servers' logs; default: discarded.
	Logger *slog.Logger
}

// Cluster is a running name server and broker.
type Cluster struct {
	NamesrvAddr string
	BrokerAddr  string
	Broker      *actors.Broker
	Dir         string

	namesrv   *namesrv.Server
	removeDir string
}

// Start runs a name server, then a broker registered with it.
func Start(o Options) (*Cluster, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{Dir: o.DataDir}
	if c.Dir == "" {
		dir, err := os.MkdirTemp("", "comet-cluster-")
		if err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		c.Dir, c.removeDir = dir, dir
	}
	nsOpts := namesrv.ServeOptions{Addr: "127.0.0.1:0", Logger: o.Logger}
	if o.Namesrv != nil {
		o.Namesrv(&nsOpts)
	}
	ns, err := namesrv.ServeWith(nsOpts)
	if err != nil {
		c.Stop(context.Background())
		return nil, fmt.Errorf("cluster: name server: %w", err)
	}
	c.namesrv, c.NamesrvAddr = ns, ns.Addr()
	opts := actors.BrokerOptions{DataDir: c.Dir, Listen: "127.0.0.1:0", NamesrvAddrs: []string{c.NamesrvAddr},
		AutoCreateTopic: true, Logger: o.Logger, SegmentSize: 64 << 20}
	if o.Broker != nil {
		o.Broker(&opts)
	}
	b, err := actors.NewBroker(opts)
	if err == nil {
		if err = b.Start(); err != nil {
			b.Stop(context.Background())
		}
	}
	if err != nil {
		c.Stop(context.Background())
		return nil, fmt.Errorf("cluster: broker: %w", err)
	}
	c.Broker, c.BrokerAddr = b, b.Addr()
	return c, nil
}

// Stop stops the broker, then the name server, and removes a temporary
// data directory.
func (c *Cluster) Stop(ctx context.Context) error {
	var errs []error
	if c.Broker != nil {
		errs = append(errs, c.Broker.Stop(ctx))
	}
	if c.namesrv != nil {
		errs = append(errs, c.namesrv.Stop(ctx))
	}
	if c.removeDir != "" {
		errs = append(errs, os.RemoveAll(c.removeDir))
	}
	return errors.Join(errs...)
}

// TB is the part of testing.TB that StartTest uses.
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
	TempDir() string
}

// StartTest runs a cluster for a test in the test's temp dir and stops it
// in the test's cleanup. broker, if non-nil, may change the broker options.
// Logs are discarded unless COMET_TEST_LOG is set.
func StartTest(t TB, broker func(*actors.BrokerOptions)) *Cluster {
	t.Helper()
	var out io.Writer = io.Discard
	if os.Getenv("COMET_TEST_LOG") != "" {
		out = os.Stderr
	}
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := Start(Options{DataDir: t.TempDir(), Broker: broker, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	return c
}
