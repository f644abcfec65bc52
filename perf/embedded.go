package perf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/namesrv"
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
	namesrv     *namesrv.Server
	broker      *actors.Broker
	removeDir   string
}

// StartEmbedded starts a name server and a broker on 127.0.0.1 ports the
// system picks.
func StartEmbedded(o EmbeddedOptions) (*Embedded, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Embedded{}
	if o.DataDir == "" {
		dir, err := os.MkdirTemp("", "comet-bench-")
		if err != nil {
			return nil, fmt.Errorf("%w: embedded: %w", ErrTarget, err)
		}
		o.DataDir, e.removeDir = dir, dir
	}
	var err error
	if e.namesrv, err = namesrv.Serve("127.0.0.1:0", o.Logger); err != nil {
		e.cleanup()
		return nil, fmt.Errorf("%w: embedded name server: %w", ErrTarget, err)
	}
	e.NamesrvAddr = e.namesrv.Addr()
	e.broker, err = actors.NewBroker(actors.BrokerOptions{
		DataDir: o.DataDir, Listen: "127.0.0.1:0", NamesrvAddrs: []string{e.NamesrvAddr},
		Flush: o.Flush, AutoCreateTopic: true, Logger: o.Logger, SegmentSize: o.SegmentSize,
	})
	if err == nil {
		err = e.broker.Start()
	}
	if err != nil {
		e.broker = nil
		e.Stop(context.Background())
		return nil, fmt.Errorf("%w: embedded broker: %w", ErrTarget, err)
	}
	e.BrokerAddr = e.broker.Addr()
	return e, nil
}

// Stop stops the broker, then the name server, and removes a temporary
// data directory.
func (e *Embedded) Stop(ctx context.Context) error {
	var errs []error
	if e.broker != nil {
		errs = append(errs, e.broker.Stop(ctx))
	}
	if e.namesrv != nil {
		errs = append(errs, e.namesrv.Stop(ctx))
	}
	errs = append(errs, e.cleanup())
	return errors.Join(errs...)
}

func (e *Embedded) cleanup() error {
	if e.removeDir == "" {
		return nil
	}
	return os.RemoveAll(e.removeDir)
}
