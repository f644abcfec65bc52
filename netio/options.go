package netio

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

// DefaultMaxPendingBytes is the default cap on a connection's outbound bytes
// not yet written to the socket, and on its requests read but not yet
// served.
const DefaultMaxPendingBytes = 64 << 20

// DefaultFrameReadTimeout is the default time a client has to complete a
// frame once its first byte arrived.
const DefaultFrameReadTimeout = 30 * time.Second

// DefaultMaxBufferedInput is the default budget for request bytes buffered
// across all connections of a server.
const DefaultMaxBufferedInput = 256 << 20

// minFrameReadTimeout keeps the sweep that enforces FrameReadTimeout cheap.
const minFrameReadTimeout = 10 * time.Millisecond

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
	Name string // "broker", "namesrv": used in logs and stats
	Addr string // "127.0.0.1:10911"; port 0 allowed: Server.Addr reports the bound one
	// ExtraAddrs are more addresses served by the same loops, handlers and
	// connection registry (the broker's VIP port), each distinct from
	// Addr and from one another; Server.ExtraAddrs reports them bound.
	ExtraAddrs      []string
	NumEventLoops   int // default: GOMAXPROCS
	MaxFrameSize    int // default remoting.DefaultMaxFrameSize
	MaxPendingBytes int // per-connection outbound bytes not yet written, and requests read but not yet served (at least one MaxFrameSize); default 64 MiB
	// FrameReadTimeout is how long a connection may take to complete a
	// frame once its first byte arrived; past it the connection is closed.
	// Idle connections (no partial frame) are not affected. Default 30 s.
	FrameReadTimeout time.Duration
	// MaxBufferedInput is the budget for request bytes buffered across all
	// connections (incomplete frames and frames waiting for a read pass).
	// A connection whose buffered input, or the frame it is receiving,
	// would take the total past it is closed (see the package doc). At
	// least MaxFrameSize; default 256 MiB.
	MaxBufferedInput int
	// Gate, when set, admits or refuses every request before its handler
	// runs (access control; see Gate).
	Gate Gate
	// TLS, when set, serves the address with TLS (TLSOptions), TLS only or
	// TLS and plain on the same port.
	TLS    *TLSOptions
	Logger *slog.Logger
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
	for i, a := range o.ExtraAddrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("%w: extra address %q: %v", ErrInvalidOptions, a, err)
		}
		if a == o.Addr || slices.Contains(o.ExtraAddrs[:i], a) {
			return fmt.Errorf("%w: address %q given twice", ErrInvalidOptions, a)
		}
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
	if err := o.validateInputLimits(); err != nil {
		return err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// validateInputLimits fills in and checks FrameReadTimeout and
// MaxBufferedInput. MaxFrameSize must be set already.
func (o *Options) validateInputLimits() error {
	if o.FrameReadTimeout < 0 {
		return fmt.Errorf("%w: FrameReadTimeout %s is negative", ErrInvalidOptions, o.FrameReadTimeout)
	}
	if o.FrameReadTimeout == 0 {
		o.FrameReadTimeout = DefaultFrameReadTimeout
	}
	if o.FrameReadTimeout < minFrameReadTimeout {
		return fmt.Errorf("%w: FrameReadTimeout %s is below %s", ErrInvalidOptions, o.FrameReadTimeout, minFrameReadTimeout)
	}
	if o.MaxBufferedInput < 0 {
		return fmt.Errorf("%w: MaxBufferedInput %d is negative", ErrInvalidOptions, o.MaxBufferedInput)
	}
	if o.MaxBufferedInput == 0 {
		o.MaxBufferedInput = max(DefaultMaxBufferedInput, o.MaxFrameSize)
	}
	if o.MaxBufferedInput < o.MaxFrameSize {
		return fmt.Errorf("%w: MaxBufferedInput %d is below MaxFrameSize %d", ErrInvalidOptions, o.MaxBufferedInput, o.MaxFrameSize)
	}
	return nil
}

// minFrameSize is the smallest useful frame: length prefix plus the
// serialize-type/header-length word.
const minFrameSize = 8
