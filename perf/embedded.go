package perf

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/internal/cluster"
)

// EmbeddedOptions configure an in-process broker.
type EmbeddedOptions struct {
	// Flush is the broker's flush mode: actors.FlushSync acknowledges after
	// the group commit's fdatasync, actors.FlushAsync after the write.
	Flush actors.FlushMode
	// DataDir holds the broker's data; empty means a fresh temporary
	// directory that Stop removes.
	DataDir string
	// SegmentSize is the commit-log segment size (0: the broker's default).
	SegmentSize int64
	Logger      *slog.Logger
}

// Embedded is a name server and a broker running in this process on
// loopback ports, for quick runs without a comet binary. Client and broker
// then share one process and its garbage collector: for figures to compare
// with a peer, run the comet binary instead.
type Embedded struct {
	NamesrvAddr string
	BrokerAddr  string
	cluster     *cluster.Cluster
}

// StartEmbedded starts a name server and a broker on 127.0.0.1 ports the
// system picks.
func StartEmbedded(o EmbeddedOptions) (*Embedded, error) {
	c, err := cluster.Start(cluster.Options{DataDir: o.DataDir, Logger: o.Logger, Broker: func(b *actors.BrokerOptions) {
		b.Flush = o.Flush
		b.SegmentSize = o.SegmentSize
	}})
	if err != nil {
		return nil, fmt.Errorf("%w: embedded: %w", ErrTarget, err)
	}
	return &Embedded{NamesrvAddr: c.NamesrvAddr, BrokerAddr: c.BrokerAddr, cluster: c}, nil
}

// Stop stops the broker, then the name server, and removes a temporary
// data directory.
func (e *Embedded) Stop(ctx context.Context) error { return e.cluster.Stop(ctx) }
