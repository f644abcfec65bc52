package ha

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Source is the master's commit log as the server reads it.
type Source interface {
	// ReadRaw returns whole records from a record boundary, at most
	// maxBytes (at least one record), within one segment, below
	// WrittenOffset; a segment's closing blank record comes alone as its
	// 8-byte header; nil at the written end.
	ReadRaw(from int64, maxBytes int) ([]byte, error)
	WrittenOffset() int64
	MinPhysicalOffset() int64
}

// Errors of Server.Wait.
var (
	// ErrNotEnoughReplicas: the in-sync set holds the offset but is smaller
	// than MinInSync, or shrank below it while the caller waited.
	ErrNotEnoughReplicas = errors.New("ha: in-sync replicas not enough")
	// ErrNotMaster: the broker stopped being master while the caller waited.
	ErrNotMaster = errors.New("ha: not master")
	// ErrClosed: the server stopped.
	ErrClosed = errors.New("ha: closed")
	// ErrWaitTimeout: WaitUntil's deadline passed first.
	ErrWaitTimeout = errors.New("ha: wait deadline passed")
)

// ServerOptions configure a master's HA server. Zero values take the
// defaults.
type ServerOptions struct {
	Listen      string // "127.0.0.1:10912"; port 0 picks one
	BrokerName  string // replicas of other names are refused
	Source      Source
	SegmentSize int64 // told to replicas, which must use the same
	// SyncFlush makes the commit point count what replicas synced, not
	// only what they appended (the master flushes synchronously too).
	SyncFlush bool
	// MinInSync is the least in-sync set size, master included, for Wait
	// to succeed; default 1.
	MinInSync int
	// LagMax is how long a replica may go without catching up with the
	// master's log end before it leaves the in-sync set; default 10 s.
	LagMax       time.Duration
	ChunkBytes   int           // DATA chunk; default 1 MiB
	Heartbeat    time.Duration // default 1 s
	Timeout      time.Duration // silence and write bound; default 5 s
	MetaInterval time.Duration // how often metadata blobs are compared and sent; default 200 ms
	// Metadata returns the current metadata blobs; each is sent to a
	// replica at connection and whenever its bytes change.
	Metadata func() []Meta
	// OnFenced is told of a replica that knows a newer epoch than ours.
	OnFenced func(epoch int64)
	// Epochs, when set, returns the master's epoch entries: a replica's
	// stream then starts at its divergence point with them, and the
	// replica learns them in WELCOME.
	Epochs func() []EpochEntry
	// ProposeInSync, when set, moves the in-sync decisions to its owner (a
	// controller): the server proposes a new set through it instead of
	// changing the set, and applies only what SetInSync gives it.
	ProposeInSync func(ids []int64)
	Logger        *slog.Logger
	Now           func() time.Time
}

func (o *ServerOptions) setDefaults() {
	if o.MinInSync <= 0 {
		o.MinInSync = 1
	}
	if o.LagMax <= 0 {
		o.LagMax = 10 * time.Second
	}
	if o.ChunkBytes <= 0 {
		o.ChunkBytes = 1 << 20
	}
	o.ChunkBytes = min(o.ChunkBytes, maxChunkBytes)
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MetaInterval <= 0 {
		o.MetaInterval = 200 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// member is one replica as the master sees it.
type member struct {
	id           int64
	addr         string
	appended     int64
	synced       int64
	inSync       bool
	link         *link
	lastCaughtUp time.Time
	lastAck      time.Time
	prevEnd      int64 // master's written end at the previous ack
}

// ServerStats are the server's counters.
type ServerStats struct {
	BytesSent, DataFrames, MetaFrames, Connections, Refused atomic.Int64
	Joins, Leaves, Resets                                   atomic.Int64
}

// Server is the master side of replication.
type Server struct {
	opts  ServerOptions
	log   *slog.Logger
	ln    net.Listener
	wake  atomic.Pointer[chan struct{}] // closed when the written end moves
	stop  chan struct{}
	wg    sync.WaitGroup
	stats ServerStats

	mu struct {
		sync.Mutex
		master    bool
		closed    bool
		epoch     int64
		committed int64 // highest end Wait reported held
		members   map[int64]*member
		links     map[*link]struct{}
		changed   chan struct{} // closed and replaced on every ack or set change
	}
}

// NewServer listens on opts.Listen; Start serves.
func NewServer(opts ServerOptions) (*Server, error) {
	opts.setDefaults()
	if opts.Source == nil {
		return nil, errors.New("ha: ServerOptions.Source is nil")
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("ha: listen %s: %w", opts.Listen, err)
	}
	s := &Server{opts: opts, log: opts.Logger, ln: ln, stop: make(chan struct{})}
	s.mu.members = map[int64]*member{}
	s.mu.links = map[*link]struct{}{}
	s.mu.changed = make(chan struct{})
	wake := make(chan struct{})
	s.wake.Store(&wake)
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Stats returns the counters.
func (s *Server) Stats() *ServerStats { return &s.stats }

// Start accepts replicas and runs the lag checker until Close.
func (s *Server) Start() {
	s.wg.Add(2)
	go s.acceptLoop()
	go s.checkLoop()
}

// Close stops accepting, closes every link and joins every goroutine.
// Waiters get ErrClosed.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	close(s.stop)
	links := s.linksLocked()
	s.broadcastLocked()
	s.mu.Unlock()
	err := s.ln.Close()
	for _, l := range links {
		l.close()
	}
	s.wg.Wait()
	return err
}

// SetMaster makes the server accept replicas at epoch, with an in-sync
// set of the master alone and every offset written so far counted as
// committed.
func (s *Server) SetMaster(epoch int64) {
	s.mu.Lock()
	s.mu.master, s.mu.epoch = true, epoch
	s.mu.committed = s.opts.Source.WrittenOffset()
	s.mu.members = map[int64]*member{}
	links := s.linksLocked()
	s.broadcastLocked()
	s.mu.Unlock()
	for _, l := range links {
		l.close()
	}
}

// SetReplica stops serving replicas: links close, waiters get
// ErrNotMaster.
func (s *Server) SetReplica(epoch int64) {
	s.mu.Lock()
	s.mu.master, s.mu.epoch = false, epoch
	s.mu.members = map[int64]*member{}
	links := s.linksLocked()
	s.broadcastLocked()
	s.mu.Unlock()
	for _, l := range links {
		l.close()
	}
}

func (s *Server) linksLocked() []*link {
	out := make([]*link, 0, len(s.mu.links))
	for l := range s.mu.links {
		out = append(out, l)
	}
	return out
}

// broadcastLocked wakes every waiter to look at the state again.
func (s *Server) broadcastLocked() {
	close(s.mu.changed)
	s.mu.changed = make(chan struct{})
}

// Notify tells the senders the written end moved. It never blocks.
func (s *Server) Notify() {
	next := make(chan struct{})
	close(*s.wake.Swap(&next))
}

func (s *Server) wakeChan() <-chan struct{} { return *s.wake.Load() }

// Reset drops every link after the master cut its log (a rolled-back
// batch some replica may hold): each reconnects and learns where the log
// now ends.
func (s *Server) Reset() {
	s.stats.Resets.Add(1)
	s.mu.Lock()
	links := s.linksLocked()
	s.mu.Unlock()
	for _, l := range links {
		l.close()
	}
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.stop:
				return
			default:
			}
			s.log.Warn("ha: accept", "err", err)
			select {
			case <-s.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		s.stats.Connections.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(conn)
		}()
	}
}
