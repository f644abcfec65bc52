package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// listener is one gnet engine serving one address, MQTT over TCP or over
// WebSocket. The gateway runs one per configured address rather than
// generalising netio's server, whose framing, dispatch and budgets are
// the remoting protocol's: an MQTT connection is a state machine
// (CONNECT first, keep-alive, sessions) more than a request dispatcher.
// Both listeners run on gnet loops with the same rules: never block a
// loop, writes from elsewhere through one AsyncWrite per connection at a
// time.
type listener struct {
	gnet.BuiltinEventEngine
	gw      *Gateway
	ws      bool
	addr    string
	engine  gnet.Engine
	booted  chan struct{}
	done    chan struct{}
	runErr  error
	boundTo string
}

func newListener(gw *Gateway, addr string, ws bool) *listener {
	return &listener{gw: gw, addr: addr, ws: ws, booted: make(chan struct{}), done: make(chan struct{})}
}

// start binds the address and returns once the loops run.
func (l *listener) start(loops int) error {
	go func() {
		defer close(l.done)
		l.runErr = gnet.Run(l, "tcp://"+l.addr, gnet.WithMulticore(true), gnet.WithNumEventLoop(loops),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay), gnet.WithReuseAddr(true), gnet.WithLogger(gnetLogger{l.gw.log}))
	}()
	select {
	case <-l.booted:
		return nil
	case <-l.done:
		err := l.runErr
		if err == nil {
			err = errors.New("engine exited before boot")
		}
		return fmt.Errorf("mqtt: listen %s: %w", l.addr, err)
	}
}

func (l *listener) stop(ctx context.Context) error {
	signalOnly, cancel := context.WithCancel(context.Background())
	cancel()
	_ = l.engine.Stop(signalOnly)
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mqtt: stop listener %s: %w", l.boundTo, ctx.Err())
	}
}

// OnBoot records the engine and the bound address.
func (l *listener) OnBoot(eng gnet.Engine) gnet.Action {
	l.engine = eng
	l.boundTo = l.addr
	if fd, err := eng.Dup(); err == nil {
		if a, err := localSockAddr(fd); err == nil {
			l.boundTo = a
		}
		unix.Close(fd)
	}
	close(l.booted)
	return gnet.None
}

// OnOpen attaches a connection state machine.
func (l *listener) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	c := newConn(l.gw, gc, l.ws)
	gc.SetContext(c)
	l.gw.conns.add(c)
	return nil, gnet.None
}

// OnTraffic feeds the read bytes to the connection.
func (l *listener) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.Close
	}
	return c.onTraffic()
}

// OnClose ends the connection's part in its session.
func (l *listener) OnClose(gc gnet.Conn, err error) gnet.Action {
	if c, ok := gc.Context().(*conn); ok {
		c.onClose(err)
	}
	return gnet.None
}

// localSockAddr formats the local address bound to fd.
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
	return "", fmt.Errorf("mqtt: unexpected socket address type %T", sa)
}

// gnetLogger routes gnet's own log lines to slog at debug level.
type gnetLogger struct{ log *slog.Logger }

func (g gnetLogger) Debugf(format string, args ...any) { g.log.Debug(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Infof(format string, args ...any)  { g.log.Debug(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Warnf(format string, args ...any)  { g.log.Warn(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Errorf(format string, args ...any) { g.log.Error(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Fatalf(format string, args ...any) { g.log.Error(fmt.Sprintf(format, args...)) }

// connRegistry holds every open connection (keep-alive sweeps, admin
// listing, shutdown).
type connRegistry struct {
	shards [64]connShard
}

type connShard struct {
	mu struct {
		sync.Mutex
		byID map[uint64]*conn
	}
}

func (r *connRegistry) shard(id uint64) *connShard { return &r.shards[id%uint64(len(r.shards))] }

func (r *connRegistry) add(c *conn) {
	s := r.shard(c.id)
	s.mu.Lock()
	if s.mu.byID == nil {
		s.mu.byID = make(map[uint64]*conn)
	}
	s.mu.byID[c.id] = c
	s.mu.Unlock()
}

func (r *connRegistry) remove(c *conn) {
	s := r.shard(c.id)
	s.mu.Lock()
	delete(s.mu.byID, c.id)
	s.mu.Unlock()
}

// each calls fn for every connection (outside the shard's lock).
func (r *connRegistry) each(fn func(*conn)) {
	var batch []*conn
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		batch = batch[:0]
		for _, c := range s.mu.byID {
			batch = append(batch, c)
		}
		s.mu.Unlock()
		for _, c := range batch {
			fn(c)
		}
	}
}

// sweepInterval is how often keep-alive and connect deadlines are checked.
const sweepInterval = 250 * time.Millisecond
