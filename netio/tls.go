package netio

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// TLSMode says what a TLS listener accepts.
type TLSMode uint8

const (
	// TLSEnforcing accepts TLS connections only; a plain one is closed.
	TLSEnforcing TLSMode = iota
	// TLSPermissive accepts TLS and plain connections on the same port,
	// as RocketMQ's tls.server.mode=permissive: a connection whose first
	// byte is a TLS handshake record (0x16) is TLS, any other is plain. A
	// RocketMQ frame starts with its length's high byte, 0x16 only for a
	// frame of 369 MiB or more, far past any MaxFrameSize.
	TLSPermissive
)

// DefaultTLSHandshakeTimeout bounds a TLS handshake and the wait for a new
// connection's first byte.
const DefaultTLSHandshakeTimeout = 10 * time.Second

// maxTLSHandshakes bounds the handshakes in progress at once; a connection
// arriving beyond it is closed at once, so a flood of half-open
// connections costs a bounded number of goroutines.
const maxTLSHandshakes = 256

// tlsRecordHandshake is the first byte of every TLS connection.
const tlsRecordHandshake = 0x16

// TLSOptions serve a Server's address with TLS (Options.TLS).
type TLSOptions struct {
	// Config holds the certificate; set ClientAuth and ClientCAs for
	// mutual TLS.
	Config *tls.Config
	Mode   TLSMode
	// HandshakeTimeout bounds the handshake (default 10 s).
	HandshakeTimeout time.Duration
}

// tlsFront terminates TLS in front of the event loops, which gnet cannot
// do: a Go listener owns the address; each accepted connection waits for
// its first byte, then either
//
//   - plain (permissive mode): its socket is handed to gnet as it is
//     (Engine.Register), so plain clients cost nothing more than the
//     hand-over; or
//   - TLS: it is handshaken on its own goroutine, and its plaintext is
//     carried to an event loop over a socketpair, by two copy goroutines
//     (one per direction) that end with the connection.
//
// gnet itself listens on a Unix socket whose path is removed once it is
// bound, so nothing but the front reaches the loops. Backpressure is
// unchanged: the loop sees the socketpair as the connection, and a client
// that stops reading fills it, then gnet's outbound buffer, and is closed as
// a slow consumer.
type tlsFront struct {
	opts     TLSOptions
	listener net.Listener
	sockDir  string // holds gnet's socket until it is bound

	registerMu sync.Mutex // gnet's round-robin balancer is not safe for concurrent Register
	loopsUp    chan struct{}
	probeOnce  sync.Once
	handshakes chan struct{}
	conns      sync.WaitGroup // handshake and copy goroutines

	stats struct {
		tls, plain, refusedPlain, failedHandshakes, overloaded atomic.Uint64
	}
}

// peerContext travels with a connection handed to gnet: the real peer's
// address, which the Conn reports instead of the socketpair's.
type peerContext struct {
	remoteAddr string
	localAddr  string
}

// TLSStats counts what a TLS front did with the connections it accepted.
type TLSStats struct {
	TLS              uint64 // served over TLS
	Plain            uint64 // served plain (permissive mode)
	RefusedPlain     uint64 // plain connections closed in enforcing mode
	FailedHandshakes uint64 // closed during the handshake or the first-byte wait
	Overloaded       uint64 // closed at once: maxTLSHandshakes in progress
}

// TLSStats returns the front's counters (zero without TLS).
func (s *Server) TLSStats() TLSStats {
	f := s.front
	if f == nil {
		return TLSStats{}
	}
	return TLSStats{TLS: f.stats.tls.Load(), Plain: f.stats.plain.Load(), RefusedPlain: f.stats.refusedPlain.Load(),
		FailedHandshakes: f.stats.failedHandshakes.Load(), Overloaded: f.stats.overloaded.Load()}
}

// listenFront binds the public address and picks the Unix socket gnet
// listens on. Called by Start before the engine runs.
func (s *Server) listenFront() (gnetAddr string, err error) {
	opts := *s.opts.TLS
	if opts.Config == nil || (len(opts.Config.Certificates) == 0 && opts.Config.GetCertificate == nil) {
		return "", fmt.Errorf("%w: TLS without a certificate", ErrInvalidOptions)
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	dir, err := os.MkdirTemp("", "comet-netio-")
	if err != nil {
		return "", fmt.Errorf("netio: tls: %w", err)
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("netio: listen %s: %w", s.opts.Addr, err)
	}
	s.front = &tlsFront{opts: opts, listener: ln, sockDir: dir, handshakes: make(chan struct{}, maxTLSHandshakes),
		loopsUp: make(chan struct{})}
	return "unix://" + s.front.sockPath(), nil
}

func (f *tlsFront) sockPath() string { return filepath.Join(f.sockDir, "loops.sock") }

// loopsServing is called on a loop by the front's probe connection.
func (f *tlsFront) loopsServing() { f.probeOnce.Do(func() { close(f.loopsUp) }) }

// startFront runs once the engine is booted: it waits until the event
// loops serve (gnet boots before it starts them, and hands connections
// only to running loops), removes gnet's socket path and starts accepting
// on the public address.
func (s *Server) startFront() error {
	f := s.front
	probe, err := net.DialTimeout("unix", f.sockPath(), 5*time.Second)
	if err != nil {
		return fmt.Errorf("netio: tls: reach the event loops: %w", err)
	}
	defer probe.Close()
	select {
	case <-f.loopsUp:
	case <-time.After(10 * time.Second):
		return errors.New("netio: tls: event loops did not start")
	}
	_ = os.RemoveAll(f.sockDir) // the bound listener outlives its path
	s.boundTo = f.listener.Addr().String()
	s.log.Info("serving TLS", "addr", s.boundTo, "permissive", f.opts.Mode == TLSPermissive)
	f.conns.Add(1)
	go s.acceptFront()
	return nil
}

// stopFront stops accepting and waits (bounded by ctx) for the
// connections' goroutines, which end once the engine closed their
// sockets.
func (s *Server) stopFront(ctx context.Context) {
	f := s.front
	if f == nil {
		return
	}
	_ = f.listener.Close()
	_ = os.RemoveAll(f.sockDir)
	done := make(chan struct{})
	go func() { f.conns.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (s *Server) acceptFront() {
	f := s.front
	defer f.conns.Done()
	for {
		conn, err := f.listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.stopping.Load() {
				return
			}
			s.logLimited(&s.closeLog, "tls: accept failed", "err", err)
			time.Sleep(5 * time.Millisecond) // out of file descriptors: let some close
			continue
		}
		select {
		case f.handshakes <- struct{}{}:
		default:
			f.stats.overloaded.Add(1)
			s.logLimited(&s.closeLog, "tls: too many handshakes in progress; closing", "remote", conn.RemoteAddr().String())
			_ = conn.Close()
			continue
		}
		f.conns.Add(1)
		go s.serveFrontConn(conn)
	}
}

// serveFrontConn sorts a new connection into TLS or plain and hands it to
// an event loop.
func (s *Server) serveFrontConn(conn net.Conn) {
	f := s.front
	defer f.conns.Done()
	peer := &peerContext{remoteAddr: conn.RemoteAddr().String(), localAddr: conn.LocalAddr().String()}
	first, err := peekFirstByte(conn, f.opts.HandshakeTimeout)
	if err != nil {
		<-f.handshakes
		f.stats.failedHandshakes.Add(1)
		_ = conn.Close()
		return
	}
	if first != tlsRecordHandshake {
		<-f.handshakes
		if f.opts.Mode != TLSPermissive {
			f.stats.refusedPlain.Add(1)
			s.logLimited(&s.closeLog, "tls: plain connection refused (TLS only)", "remote", peer.remoteAddr)
			_ = conn.Close()
			return
		}
		if s.enroll(conn, peer) == nil {
			f.stats.plain.Add(1)
		}
		return
	}
	tconn := tls.Server(conn, f.opts.Config)
	ctx, cancel := context.WithTimeout(context.Background(), f.opts.HandshakeTimeout)
	err = tconn.HandshakeContext(ctx)
	cancel()
	<-f.handshakes
	if err != nil {
		f.stats.failedHandshakes.Add(1)
		s.logLimited(&s.closeLog, "tls: handshake failed", "remote", peer.remoteAddr, "err", err)
		_ = conn.Close()
		return
	}
	s.carryTLS(tconn, peer)
}

// peekFirstByte waits for the connection's first byte without consuming
// it, so a plain connection reaches gnet whole.
func peekFirstByte(conn net.Conn, timeout time.Duration) (byte, error) {
	tcp, isTCP := conn.(*net.TCPConn)
	if !isTCP {
		return 0, errors.New("netio: tls: not a TCP connection")
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		return 0, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	defer conn.SetReadDeadline(time.Time{})
	var b [1]byte
	var n int
	var recvErr error
	err = raw.Read(func(fd uintptr) bool {
		n, _, recvErr = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK)
		return recvErr != unix.EAGAIN
	})
	switch {
	case err != nil:
		return 0, err
	case recvErr != nil:
		return 0, recvErr
	case n == 0:
		return 0, io.EOF
	}
	return b[0], nil
}

// enroll hands conn to an event loop; gnet takes a duplicate of its
// socket and closes conn.
func (s *Server) enroll(conn net.Conn, peer *peerContext) error {
	f := s.front
	ctx := gnet.NewNetConnContext(gnet.NewContext(context.Background(), peer), conn)
	f.registerMu.Lock()
	results, err := s.engine.Register(ctx)
	f.registerMu.Unlock()
	if err == nil {
		if res, ok := <-results; !ok {
			err = errors.New("netio: tls: engine dropped the connection")
		} else {
			err = res.Err
		}
	}
	if err != nil {
		_ = conn.Close()
		if !s.stopping.Load() {
			s.logLimited(&s.closeLog, "tls: hand-over to the event loop failed", "remote", peer.remoteAddr, "err", err)
		}
	}
	return err
}

// carryTLS connects a handshaken TLS connection to an event loop through a
// socketpair and copies plaintext both ways until either side closes.
func (s *Server) carryTLS(tconn *tls.Conn, peer *peerContext) {
	f := s.front
	loopSide, copySide, err := socketPair()
	if err != nil {
		s.logLimited(&s.closeLog, "tls: socketpair failed", "err", err)
		_ = tconn.Close()
		return
	}
	if err := s.enroll(loopSide, peer); err != nil {
		_ = copySide.Close()
		_ = tconn.Close()
		return
	}
	f.stats.tls.Add(1)
	f.conns.Add(1)
	go func() {
		defer f.conns.Done()
		copyAndClose(copySide, tconn) // client to loop
	}()
	copyAndClose(tconn, copySide) // loop to client
}

// copyAndClose copies src to dst until either fails, then closes both, so
// the other direction's copy ends too.
func copyAndClose(dst, src net.Conn) {
	buf := copyBufPool.Get().(*[]byte)
	_, _ = io.CopyBuffer(dst, src, *buf)
	copyBufPool.Put(buf)
	_ = dst.Close()
	_ = src.Close()
}

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// socketPair returns the two ends of a Unix stream socketpair as net.Conns.
func socketPair() (a, b net.Conn, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("netio: socketpair: %w", err)
	}
	if a, err = fileConn(fds[0]); err != nil {
		_ = unix.Close(fds[1])
		return nil, nil, err
	}
	if b, err = fileConn(fds[1]); err != nil {
		_ = a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// fileConn wraps fd (and takes it over) as a net.Conn.
func fileConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "socketpair")
	defer f.Close() // FileConn holds a duplicate
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("netio: socketpair: %w", err)
	}
	return c, nil
}
