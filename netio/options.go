package netio

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"

	"github.com/cometmq/comet/netio/remoting"
)

// DefaultMaxPendingBytes is the default cap on a connection's outbound bytes
// not yet written to the socket, and on its requests read but not yet
// served.
const DefaultMaxPendingBytes = 64 << 20

// Errors returned by netio. Test for them with errors.Is.
var (
	// ErrInvalidOptions marks an Options value that Validate rejects.
	ErrInvalidOptions = errors.New("netio: invalid options")
	// ErrClosed is returned when writing to, or invoking on, a closed connection.
	ErrClosed = errors.New("netio: connection closed")
	// ErrSlowConsumer is returned when a write would push a connection past
	// MaxPendingBytes; the connection is closed.
	ErrSlowConsumer = errors.New("netio: slow consumer: pending bytes over limit")
	// ErrServerState is returned by Start and Stop when called in the wrong state.
	ErrServerState = errors.New("netio: server state")
)

// Options configures a Server. Zero values take the documented defaults.
type Options struct {
	Name            string // "broker", "namesrv": used in logs and stats
	Addr            string // "127.0.0.1:10911"; port 0 allowed: Server.Addr reports the bound one
	NumEventLoops   int    // default: GOMAXPROCS
	MaxFrameSize    int    // default remoting.DefaultMaxFrameSize
	MaxPendingBytes int    // per-connection outbound bytes not yet written, and requests read but not yet served (at least one MaxFrameSize); default 64 MiB
	Logger          *slog.Logger
}

// Validate fills in defaults and reports the first invalid field.
func (o *Options) Validate() error {
	if o.Name == "" {
		o.Name = "netio"
	}
	if o.Addr == "" {
		return fmt.Errorf("%w: Addr is empty", ErrInvalidOptions)
	}
	if _, _, err := net.SplitHostPort(o.Addr); err != nil {
		return fmt.Errorf("%w: Addr %q: %v", ErrInvalidOptions, o.Addr, err)
	}
	if o.NumEventLoops < 0 {
		return fmt.Errorf("%w: NumEventLoops %d is negative", ErrInvalidOptions, o.NumEventLoops)
	}
	if o.NumEventLoops == 0 {
		o.NumEventLoops = runtime.GOMAXPROCS(0)
	}
	if o.MaxFrameSize < 0 {
		return fmt.Errorf("%w: MaxFrameSize %d is negative", ErrInvalidOptions, o.MaxFrameSize)
	}
	if o.MaxFrameSize == 0 {
		o.MaxFrameSize = remoting.DefaultMaxFrameSize
	}
	if o.MaxFrameSize < minFrameSize {
		return fmt.Errorf("%w: MaxFrameSize %d is below %d", ErrInvalidOptions, o.MaxFrameSize, minFrameSize)
	}
	if o.MaxPendingBytes < 0 {
		return fmt.Errorf("%w: MaxPendingBytes %d is negative", ErrInvalidOptions, o.MaxPendingBytes)
	}
	if o.MaxPendingBytes == 0 {
		o.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// minFrameSize is the smallest useful frame: length prefix plus the
// serialize-type/header-length word.
const minFrameSize = 8
