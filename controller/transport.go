package controller

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// raftMarker is the first byte of every raft connection on the shared
// listener. A remoting frame starts with the high byte of its length,
// which is 0 or 1 for any frame up to remoting.DefaultMaxFrameSize, so the
// two never meet. Part of the format: do not change.
const raftMarker byte = 'R'

// firstByteTimeout bounds how long an accepted connection may stay silent
// before it says what it is.
const firstByteTimeout = 10 * time.Second

// mux owns the member's one listener and hands each accepted connection
// to raft (first byte raftMarker) or to the remoting API (anything else).
type mux struct {
	ln        net.Listener
	advertise string
	log       *slog.Logger
	raft      *raftLayer
	serveAPI  func(conn net.Conn, first byte)
	wg        sync.WaitGroup
	maxConns  int
	mu        struct {
		sync.Mutex
		conns  map[net.Conn]struct{}
		closed bool
	}
}

func newMux(ln net.Listener, advertise string, maxConns int, log *slog.Logger) *mux {
	m := &mux{ln: ln, advertise: advertise, log: log, maxConns: maxConns}
	m.mu.conns = map[net.Conn]struct{}{}
	m.raft = &raftLayer{mux: m, conns: make(chan net.Conn, 16), closed: make(chan struct{})}
	return m
}

// start runs the accept loop; serveAPI serves one remoting connection
// whose first byte was already read.
func (m *mux) start(serveAPI func(conn net.Conn, first byte)) {
	m.serveAPI = serveAPI
	m.wg.Add(1)
	go m.acceptLoop()
}

func (m *mux) acceptLoop() {
	defer m.wg.Done()
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			m.log.Warn("controller: accept", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if !m.track(conn) {
			_ = conn.Close()
			continue
		}
		m.wg.Add(1)
		go m.route(conn)
	}
}

// track registers a connection, refusing it past maxConns or after close.
func (m *mux) track(conn net.Conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed || len(m.mu.conns) >= m.maxConns {
		if !m.mu.closed {
			m.log.Warn("controller: connection refused: too many connections", "remote", conn.RemoteAddr().String(), "max", m.maxConns)
		}
		return false
	}
	m.mu.conns[conn] = struct{}{}
	return true
}

func (m *mux) untrack(conn net.Conn) {
	m.mu.Lock()
	delete(m.mu.conns, conn)
	m.mu.Unlock()
}

// route reads the first byte and hands the connection over. Raft's
// connections are closed by raft, the API's by serveAPI's return.
func (m *mux) route(conn net.Conn) {
	defer m.wg.Done()
	var first [1]byte
	_ = conn.SetReadDeadline(time.Now().Add(firstByteTimeout))
	if _, err := io.ReadFull(conn, first[:]); err != nil {
		m.untrack(conn)
		_ = conn.Close()
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	if first[0] == raftMarker {
		select {
		case m.raft.conns <- &trackedConn{Conn: conn, mux: m}:
		case <-m.raft.closed:
			m.untrack(conn)
			_ = conn.Close()
		}
		return
	}
	defer m.untrack(conn)
	defer conn.Close()
	m.serveAPI(conn, first[0])
}

// close stops accepting, closes every tracked connection and waits for
// the routing goroutines.
func (m *mux) close() {
	m.mu.Lock()
	m.mu.closed = true
	conns := make([]net.Conn, 0, len(m.mu.conns))
	for c := range m.mu.conns {
		conns = append(conns, c)
	}
	m.mu.Unlock()
	_ = m.ln.Close()
	for _, c := range conns {
		_ = c.Close()
	}
	m.wg.Wait()
}

// trackedConn leaves the mux's table when raft closes it.
type trackedConn struct {
	net.Conn
	mux  *mux
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.mux.untrack(c.Conn) })
	return c.Conn.Close()
}

// raftLayer is raft's StreamLayer over the shared listener: Accept hands
// out the connections the mux routed to raft; Dial connects and sends the
// marker byte.
type raftLayer struct {
	mux       *mux
	conns     chan net.Conn
	closeOnce sync.Once
	closed    chan struct{}
}

// Accept returns the next raft connection.
func (l *raftLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, fmt.Errorf("controller: raft listener closed: %w", net.ErrClosed)
	}
}

// Close stops Accept; the shared listener is the mux's to close.
func (l *raftLayer) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

// Addr is the member's advertised address, the one its peers dial.
func (l *raftLayer) Addr() net.Addr { return advertisedAddr(l.mux.advertise) }

// Dial connects to a peer and announces a raft connection.
func (l *raftLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", string(address), timeout)
	if err != nil {
		return nil, err
	}
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := conn.Write([]byte{raftMarker}); err != nil {
		_ = conn.Close()
		return nil, err
	}
	_ = conn.SetWriteDeadline(time.Time{})
	return conn, nil
}

// advertisedAddr is a net.Addr that is the advertised host:port string.
type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }
