package netio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Server runs gnet event loops for one listening address (and any
// Options.ExtraAddrs, served alike) and dispatches the requests it reads to
// handlers registered by code.
type Server struct {
	opts     Options
	log      *slog.Logger
	handlers map[int16]Handler
	onOpen   func(c *Conn)
	onClose  func(c *Conn)

	engine   gnet.Engine
	front    *tlsFront // set with Options.TLS
	booted   chan struct{}
	runDone  chan struct{}
	runErr   error
	boundTo  string
	extraTo  []string // the ExtraAddrs as bound
	started  atomic.Bool
	stopping atomic.Bool

	nextConnID   atomic.Uint64
	opaqueSource atomic.Int32
	stats        serverStats
	passes       passStats
	// resumeQueue carries connections whose resume pass left frames again
	// to the resumer goroutine (runResumer). Bounded; a loop that finds it
	// full asks for the resume pass itself.
	resumeQueue chan *Conn

	decodeLog  logLimiter
	slowLog    logLimiter
	unknownLog logLimiter
	panicLog   logLimiter
	closeLog   logLimiter
	inputLog   logLimiter
	gate       gateState

	// bufferedInput is the request bytes buffered across all connections,
	// bounded by Options.MaxBufferedInput (see Conn.trackInput).
	bufferedInput atomic.Int64

	conns struct {
		sync.Mutex
		byID map[uint64]*Conn
	}
}

// NewServer validates opts and returns a server that is not yet listening.
func NewServer(opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger.With("server", opts.Name),
		handlers: make(map[int16]Handler),
		booted:   make(chan struct{}),
		runDone:  make(chan struct{}),

		resumeQueue: make(chan *Conn, resumeQueueCapacity),
	}
	s.conns.byID = make(map[uint64]*Conn)
	return s, nil
}

// Handle registers h for request code. Call before Start; a later call for
// the same code replaces the earlier handler.
func (s *Server) Handle(code int16, h Handler) {
	if s.started.Load() {
		panic("netio: Handle called after Start")
	}
	s.handlers[code] = h
}

// OnOpen registers a hook run on the loop when a connection opens. Before Start.
func (s *Server) OnOpen(fn func(c *Conn)) { s.onOpen = fn }

// OnClose registers a hook run on the loop when a connection closes. Before Start.
func (s *Server) OnClose(fn func(c *Conn)) { s.onClose = fn }

// Start begins listening and returns once the listener is bound and the
// event loops run, or with the error that prevented it.
func (s *Server) Start() error {
	if s.started.Swap(true) {
		return fmt.Errorf("%w: already started", ErrServerState)
	}
	addr := "tcp://" + s.opts.Addr
	if s.opts.TLS != nil {
		var err error
		if addr, err = s.listenFront(); err != nil {
			return err
		}
	}
	go s.run(addr)
	go s.runResumer()
	go s.runFrameSweeper()
	select {
	case <-s.booted:
		if s.front == nil {
			return nil
		}
		err := s.startFront()
		if err != nil {
			_ = s.Stop(context.Background())
		}
		return err
	case <-s.runDone:
		s.stopFront(context.Background())
		if s.runErr == nil {
			s.runErr = errors.New("netio: engine exited before boot")
		}
		return fmt.Errorf("netio: listen %s: %w", s.opts.Addr, s.runErr)
	}
}

func (s *Server) run(addr string) {
	defer close(s.runDone)
	addrs := []string{addr}
	for _, a := range s.opts.ExtraAddrs {
		addrs = append(addrs, "tcp://"+a)
	}
	s.runErr = gnet.Rotate(&loopEvents{server: s}, addrs,
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(s.opts.NumEventLoops),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		// SO_REUSEADDR, as net.Listen sets it: a server restarted after a
		// crash binds its port again while connections of the previous
		// process linger in TIME_WAIT. Two live listeners still conflict.
		gnet.WithReuseAddr(true),
		gnet.WithLogger(gnetLogger{s.log}),
	)
}

// listenerAddr reads the bound address of the listener configured as addr
// from a duplicate of its fd.
func listenerAddr(eng gnet.Engine, addr string) (string, error) {
	fd, err := eng.DupListener("tcp", addr)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	return localSockAddr(fd)
}

// localSockAddr formats the local address bound to fd as "host:port".
func localSockAddr(fd int) (string, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return "", err
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port)), nil
	case *unix.SockaddrInet6:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port)), nil
	}
	return "", fmt.Errorf("netio: unexpected socket address type %T", sa)
}

// Addr is the "host:port" actually bound. Valid after Start.
func (s *Server) Addr() string { return s.boundTo }

// ExtraAddrs are the Options.ExtraAddrs as bound, in their order. Valid
// after Start.
func (s *Server) ExtraAddrs() []string { return slices.Clone(s.extraTo) }

// Stop stops accepting connections, waits (bounded by ctx) for every
// outbox to drain, then closes all connections and the event loops. Bytes in
// gnet's outbound buffers are written on a best-effort basis before each
// socket closes.
func (s *Server) Stop(ctx context.Context) error {
	if !s.started.Load() {
		return fmt.Errorf("%w: not started", ErrServerState)
	}
	if s.stopping.Swap(true) {
		return s.waitRunDone(ctx)
	}
	if s.front != nil {
		_ = s.front.listener.Close() // stop accepting first
	}
	flushErr := s.waitOutboxesIdle(ctx)
	// Engine.Stop polls for completion; a cancelled context makes it only
	// signal shutdown, and runDone tells when the loops are gone.
	signalOnly, cancel := context.WithCancel(context.Background())
	cancel()
	// An error here means the engine is already shutting down; either way
	// runDone closes when it is gone.
	_ = s.engine.Stop(signalOnly)
	if err := s.waitRunDone(ctx); err != nil {
		return err
	}
	s.stopFront(ctx)
	return flushErr
}

func (s *Server) waitRunDone(ctx context.Context) error {
	select {
	case <-s.runDone:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("netio: stop %s: %w", s.opts.Name, ctx.Err())
	}
}

// waitOutboxesIdle polls until no connection has outbox frames queued or in
// flight, or ctx ends.
func (s *Server) waitOutboxesIdle(ctx context.Context) error {
	const pollInterval = 2 * time.Millisecond
	for {
		idle := true
		s.RangeConns(func(c *Conn) bool {
			idle = c.outboxIdle()
			return idle
		})
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("netio: stop %s: flushing outboxes: %w", s.opts.Name, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// RangeConns calls fn for each open connection until fn returns false. fn
// must not call back into RangeConns.
func (s *Server) RangeConns(fn func(c *Conn) bool) {
	s.conns.Lock()
	snapshot := make([]*Conn, 0, len(s.conns.byID))
	for _, c := range s.conns.byID {
		snapshot = append(snapshot, c)
	}
	s.conns.Unlock()
	for _, c := range snapshot {
		if !fn(c) {
			return
		}
	}
}

func (s *Server) nextOpaque() int32 {
	for {
		if v := s.opaqueSource.Add(1); v > 0 {
			return v
		}
		s.opaqueSource.CompareAndSwap(s.opaqueSource.Load(), 0)
	}
}

// resumeQueueCapacity bounds the resume queue. A connection holds at most
// one place in it, so this is how many connections may wait for a resume
// pass at once before loops start asking for their passes directly.
const resumeQueueCapacity = 1024

// passStats counts read passes that yielded the loop at their reply budget.
type passStats struct {
	deferred      atomic.Uint64
	resumed       atomic.Uint64
	queueFull     atomic.Uint64
	queueHighMark atomic.Int64
}

// PassStats describes read passes that stopped at their reply budget,
// leaving frames for a later pass so other connections on the loop get
// their turn, and the resume queue that brings those connections back.
type PassStats struct {
	Deferred            uint64 // passes that stopped at the reply budget with bytes still buffered
	Resumed             uint64 // resume passes run
	ResumeQueueDepth    int    // connections waiting in the resume queue now
	ResumeQueueHighMark int    // most connections ever waiting in it at once
	ResumeQueueFull     uint64 // resumes a loop requested itself because the queue was full
}

// PassStats returns a snapshot of the read-pass budget counters.
func (s *Server) PassStats() PassStats {
	return PassStats{
		Deferred:            s.passes.deferred.Load(),
		Resumed:             s.passes.resumed.Load(),
		ResumeQueueDepth:    len(s.resumeQueue),
		ResumeQueueHighMark: int(s.passes.queueHighMark.Load()),
		ResumeQueueFull:     s.passes.queueFull.Load(),
	}
}

// queueResume hands c to the resumer without blocking. It reports false
// when the queue is full. Loop-only (c.resumeQueued is already set).
func (s *Server) queueResume(c *Conn) bool {
	depth := int64(len(s.resumeQueue)) + 1 // counting c; the resumer may take it at once
	select {
	case s.resumeQueue <- c:
	default:
		s.passes.queueFull.Add(1)
		return false
	}
	for {
		high := s.passes.queueHighMark.Load()
		if depth <= high || s.passes.queueHighMark.CompareAndSwap(high, depth) {
			return true
		}
	}
}

// runResumer asks each connection's loop for the resume pass of a
// connection taken from the resume queue. Asking from this goroutine, rather
// than from the loop's own task, lets the loop poll its sockets between two
// resume passes of one connection. It ends with the event loops.
func (s *Server) runResumer() {
	for {
		select {
		case c := <-s.resumeQueue:
			if c.closed.Load() || s.stopping.Load() {
				continue // the connection is going; nothing waits for the pass
			}
			// An error means the engine is shutting down.
			_ = c.gc.EventLoop().Execute(context.Background(), gnet.RunnableFunc(c.resumePass))
		case <-s.runDone:
			return
		}
	}
}
