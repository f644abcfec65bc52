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

// Sink is the replica's commit log as the client writes it. Every method
// is called from the client's goroutines, never concurrently with itself.
type Sink interface {
	// WrittenOffset is the end of the local log.
	WrittenOffset() int64
	// DurableOffset is the end of what is on disk.
	DurableOffset() int64
	// Append stores data, whole records, at offset, the local end (or
	// anywhere for an empty log), and syncs it when sync is set.
	Append(offset int64, data []byte, sync bool) error
	// Truncate cuts the local log at offset.
	Truncate(offset int64) error
	// Sync makes everything appended durable.
	Sync() error
}

// ClientOptions configure a replica's HA client. Zero values take the
// defaults.
type ClientOptions struct {
	BrokerName  string
	BrokerID    int64 // at least 1
	Epoch       int64
	SegmentSize int64 // must equal the master's
	// Master returns the master's HA address, "" while unknown (the
	// client retries with backoff).
	Master    func() string
	Sink      Sink
	SyncFlush bool // sync every chunk before acknowledging it
	// FlushInterval is how often an async-flush replica syncs; default 200 ms.
	FlushInterval time.Duration
	// ApplyMeta applies a metadata blob from the master.
	ApplyMeta func(Meta)
	// Epochs, when set, returns the replica's epoch entries for HELLO;
	// MasterEpochs hears the master's entries from WELCOME, after the
	// local log was aligned and before the first DATA, so the replica can
	// record the epoch of every range it appends.
	Epochs       func() []EpochEntry
	MasterEpochs func([]EpochEntry) error
	Heartbeat    time.Duration // default 1 s
	Timeout      time.Duration // default 5 s
	BackoffMin   time.Duration // default 100 ms
	BackoffMax   time.Duration // default 5 s
	Logger       *slog.Logger
}

func (o *ClientOptions) setDefaults() {
	if o.FlushInterval <= 0 {
		o.FlushInterval = 200 * time.Millisecond
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 100 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// ClientStats are the client's counters and its view of the master.
type ClientStats struct {
	BytesReceived, DataFrames, MetaFrames, Sessions, Truncations atomic.Int64
	MasterEnd, Commit                                            atomic.Int64
	Connected                                                    atomic.Bool
	// LastContact is when the master last sent anything (Unix ns).
	LastContact atomic.Int64
}

// Client is the replica side of replication: it keeps a connection to the
// master and appends what arrives.
type Client struct {
	opts  ClientOptions
	log   *slog.Logger
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	stats ClientStats
	conn  atomic.Pointer[net.Conn]
}

// NewClient prepares a client; Start runs it.
func NewClient(opts ClientOptions) (*Client, error) {
	opts.setDefaults()
	switch {
	case opts.Sink == nil || opts.Master == nil:
		return nil, errors.New("ha: ClientOptions.Sink and Master are required")
	case opts.BrokerID < 1:
		return nil, fmt.Errorf("ha: replica broker id %d: want at least 1", opts.BrokerID)
	}
	return &Client{opts: opts, log: opts.Logger, stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// Stats returns the counters.
func (c *Client) Stats() *ClientStats { return &c.stats }

// Start runs the fetch loop until Stop.
func (c *Client) Start() { go c.run() }

// Stop ends the fetch loop and waits for it: nothing is appended after
// Stop returns.
func (c *Client) Stop() {
	c.once.Do(func() {
		close(c.stop)
		if conn := c.conn.Load(); conn != nil {
			(*conn).Close()
		}
	})
	<-c.done
}

func (c *Client) stopped() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

func (c *Client) run() {
	defer close(c.done)
	backoff := c.opts.BackoffMin
	var lastErr string
	for !c.stopped() {
		addr := c.opts.Master()
		var err error
		progressed := false
		if addr == "" {
			err = errors.New("master's HA address unknown")
		} else {
			progressed, err = c.session(addr)
		}
		if c.stopped() {
			return
		}
		if progressed {
			backoff = c.opts.BackoffMin
		}
		if msg := err.Error(); msg != lastErr {
			c.log.Warn("ha: replication interrupted; retrying", "master", addr, "err", err, "backoff", backoff)
			lastErr = msg
		}
		select {
		case <-c.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, c.opts.BackoffMax)
	}
}

// session connects, handshakes and fetches until the connection fails.
// progressed reports whether the master accepted the replica.
func (c *Client) session(addr string) (progressed bool, err error) {
	conn, err := net.DialTimeout("tcp", addr, c.opts.Timeout)
	if err != nil {
		return false, fmt.Errorf("ha: dial master %s: %w", addr, err)
	}
	c.conn.Store(&conn)
	defer func() {
		c.conn.Store(nil)
		conn.Close()
		c.stats.Connected.Store(false)
	}()
	if c.stopped() {
		return false, net.ErrClosed
	}
	c.stats.Sessions.Add(1)
	dec := NewDecoder(conn)
	w, err := c.handshake(conn, dec)
	if err != nil {
		return false, err
	}
	c.stats.Connected.Store(true)
	c.log.Info("ha: replicating from the master", "master", addr, "epoch", w.Epoch, "from", w.Start, "masterEnd", w.MasterEnd)
	s := &clientSession{c: c, conn: conn, done: make(chan struct{})}
	s.wg.Add(1)
	go s.ackLoop()
	err = s.fetch(dec)
	close(s.done)
	conn.Close()
	s.wg.Wait()
	return true, err
}

// handshake sends HELLO, reads WELCOME and aligns the local log with the
// start it names.
func (c *Client) handshake(conn net.Conn, dec *Decoder) (*Welcome, error) {
	conn.SetDeadline(time.Now().Add(c.opts.Timeout))
	hello := Hello{BrokerID: c.opts.BrokerID, Epoch: c.opts.Epoch, Offset: c.opts.Sink.WrittenOffset(),
		SyncFlush: c.opts.SyncFlush, BrokerName: c.opts.BrokerName}
	if c.opts.Epochs != nil {
		hello.Epochs = c.opts.Epochs()
	}
	if _, err := conn.Write(AppendHello(nil, hello)); err != nil {
		return nil, fmt.Errorf("ha: send hello: %w", err)
	}
	f, err := dec.Next()
	if err != nil {
		return nil, fmt.Errorf("ha: read welcome: %w", err)
	}
	conn.SetDeadline(time.Time{})
	switch f := f.(type) {
	case *ErrorFrame:
		return nil, f
	case *Welcome:
		return f, c.align(conn, f)
	}
	return nil, fmt.Errorf("%w: %T instead of WELCOME", ErrFrame, f)
}

func (c *Client) align(conn net.Conn, w *Welcome) error {
	refuse := func(code uint16, format string, args ...any) error {
		e := &ErrorFrame{Code: code, Message: fmt.Sprintf(format, args...)}
		conn.Write(AppendError(nil, *e))
		return fmt.Errorf("ha: master refused by the replica: %s", e.Message)
	}
	switch {
	case w.Epoch < c.opts.Epoch:
		return refuse(CodeStaleEpoch, "master epoch %d, replica knows %d", w.Epoch, c.opts.Epoch)
	case c.opts.SegmentSize != 0 && w.SegmentSize != c.opts.SegmentSize:
		return refuse(CodeBadFrame, "master segment size %d, replica %d: they must be equal", w.SegmentSize, c.opts.SegmentSize)
	}
	c.stats.MasterEnd.Store(w.MasterEnd)
	local := c.opts.Sink.WrittenOffset()
	switch {
	case w.Start < local && w.MasterEnd == 0:
		// A master with an empty log lost its disk (or is a new machine):
		// following it would wipe this replica, maybe the only copy left.
		return refuse(CodeBehindLog, "master's log is empty, replica holds %d bytes: refusing to truncate them; "+
			"promote this replica or restore the master's data", local)
	case w.Start < local:
		c.log.Warn("ha: replica holds bytes the master does not; truncating", "from", w.Start, "end", local)
		c.stats.Truncations.Add(1)
		if err := c.opts.Sink.Truncate(w.Start); err != nil {
			return refuse(CodeReplicaFailed, "truncate to %d: %v", w.Start, err)
		}
	case w.Start > local:
		if err := c.opts.Sink.Append(w.Start, nil, false); err != nil {
			return refuse(CodeReplicaFailed, "start at %d: %v", w.Start, err)
		}
	}
	if c.opts.MasterEpochs != nil {
		if err := c.opts.MasterEpochs(w.Epochs); err != nil {
			return refuse(CodeReplicaFailed, "master's epochs: %v", err)
		}
	}
	return nil
}

// clientSession is one connection's fetch loop and ack loop.
type clientSession struct {
	c    *Client
	conn net.Conn
	done chan struct{} // closed when fetch ends
	wmu  sync.Mutex
	wg   sync.WaitGroup
	buf  []byte
}

func (s *clientSession) sendAck() error {
	sink := s.c.opts.Sink
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.buf = AppendAck(s.buf[:0], Ack{Appended: sink.WrittenOffset(), Synced: min(sink.DurableOffset(), sink.WrittenOffset())})
	s.conn.SetWriteDeadline(time.Now().Add(s.c.opts.Timeout))
	_, err := s.conn.Write(s.buf)
	return err
}

// fetch appends every DATA frame and acknowledges it.
func (s *clientSession) fetch(dec *Decoder) error {
	c := s.c
	for {
		s.conn.SetReadDeadline(time.Now().Add(c.opts.Timeout))
		f, err := dec.Next()
		if err != nil {
			return err
		}
		c.stats.LastContact.Store(time.Now().UnixNano())
		switch f := f.(type) {
		case *Data:
			sync := c.opts.SyncFlush && !s.deferSync(f)
			if err := c.opts.Sink.Append(f.Offset, f.Bytes, sync); err != nil {
				s.conn.Write(AppendError(nil, ErrorFrame{Code: CodeReplicaFailed, Message: err.Error()}))
				return fmt.Errorf("ha: append at %d: %w", f.Offset, err)
			}
			c.stats.DataFrames.Add(1)
			c.stats.BytesReceived.Add(int64(len(f.Bytes)))
			c.stats.Commit.Store(f.Commit)
			c.stats.MasterEnd.Store(max(c.stats.MasterEnd.Load(), c.opts.Sink.WrittenOffset()))
			if dec.Buffered() > 0 && !sync {
				continue // acknowledge once the burst is appended
			}
			if err := s.sendAck(); err != nil {
				return err
			}
		case *Heartbeat:
			c.stats.MasterEnd.Store(f.MasterEnd)
			c.stats.Commit.Store(f.Commit)
		case *Meta:
			c.stats.MetaFrames.Add(1)
			if c.opts.ApplyMeta != nil {
				c.opts.ApplyMeta(*f)
			}
		case *ErrorFrame:
			return f
		default:
			return fmt.Errorf("%w: %T from the master", ErrFrame, f)
		}
	}
}

// catchUpSyncBytes is how much a sync-flush replica far behind its master
// appends between syncs: a catch-up is bounded by the disk's bytes per
// sync, not by one sync per chunk. Acknowledgements still report only
// what is synced.
const catchUpSyncBytes = 16 << 20

// deferSync reports whether a sync-flush replica may append d without
// syncing: it is more than catchUpSyncBytes behind the master's end as
// last heard, and has less than that unsynced.
func (s *clientSession) deferSync(d *Data) bool {
	sink := s.c.opts.Sink
	end := d.Offset + chunkAdvance(d.Bytes)
	return s.c.stats.MasterEnd.Load()-end > catchUpSyncBytes && end-sink.DurableOffset() < catchUpSyncBytes
}

// ackLoop acknowledges at least every heartbeat and, for an async-flush
// replica, syncs what it appended every FlushInterval.
func (s *clientSession) ackLoop() {
	defer s.wg.Done()
	c := s.c
	t := time.NewTicker(min(c.opts.Heartbeat, c.opts.FlushInterval))
	defer t.Stop()
	lastAck := time.Now()
	for {
		select {
		case <-c.stop:
			return
		case <-s.done:
			return
		case <-t.C:
		}
		sink := c.opts.Sink
		synced := false
		if !c.opts.SyncFlush && sink.DurableOffset() < sink.WrittenOffset() {
			if err := sink.Sync(); err != nil {
				c.log.Error("ha: replica sync failed; will retry", "err", err)
			}
			synced = true
		}
		if synced || time.Since(lastAck) >= c.opts.Heartbeat {
			if err := s.sendAck(); err != nil {
				return
			}
			lastAck = time.Now()
		}
	}
}
