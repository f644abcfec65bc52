package remoting

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ClientOptions configure a Client. Zero values take the defaults.
type ClientOptions struct {
	// DialTimeout bounds connecting to an address (default 3 s).
	DialTimeout time.Duration
	// DefaultTimeout bounds an Invoke whose ctx has no deadline (default 30 s,
	// the longest call the protocol makes: a long-polling pull).
	DefaultTimeout time.Duration
	// WriteTimeout bounds one coalesced write to a connection (default 10 s);
	// a peer that stops reading for longer loses the connection.
	WriteTimeout time.Duration
	// MaxFrameSize is the largest inbound frame (default DefaultMaxFrameSize).
	MaxFrameSize int
	// MaxPendingBytes bounds the bytes queued for one connection but not yet
	// written; a send beyond it fails fast with ErrClientBusy (default 64 MiB).
	MaxPendingBytes int
	// Logger receives connection errors (default: discard).
	Logger *slog.Logger
	// Credentials, when set, sign every request the Client sends
	// (Credentials.Sign), for servers that check RocketMQ ACL.
	Credentials Credentials
	// TLS, when set, makes every connection a TLS client with this
	// configuration (a ServerName is taken from the address when it has
	// none).
	TLS *tls.Config
}

func (o ClientOptions) withDefaults() ClientOptions {
	if o.DialTimeout <= 0 {
		o.DialTimeout = 3 * time.Second
	}
	if o.DefaultTimeout <= 0 {
		o.DefaultTimeout = 30 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.MaxFrameSize <= 0 {
		o.MaxFrameSize = DefaultMaxFrameSize
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// RequestHandler answers a request the peer initiated (for example
// NOTIFY_CONSUMER_IDS_CHANGED or CHECK_TRANSACTION_STATE). addr is the
// address the connection was dialled with. A nil return sends no reply; a
// non-nil one is sent with the request's opaque and the response flag.
type RequestHandler func(addr string, req *Command) *Command

// Client is a goroutine-safe remoting transport over TCP (or TLS): one
// connection per address, many requests in flight on each, matched by
// opaque. Each connection has one read goroutine and one write goroutine
// that coalesces every queued frame into a single write. A broken
// connection fails its calls with ErrConnectionClosed and is dialled again
// by the next call to that address.
type Client struct {
	opts    ClientOptions
	signer  *Signer // nil without Credentials
	handler atomic.Pointer[RequestHandler]
	loops   sync.WaitGroup

	mu struct {
		sync.Mutex
		conns  map[string]*clientConn
		closed bool
	}
}

// NewClient returns a Client; it dials lazily.
func NewClient(opts ClientOptions) *Client {
	c := &Client{opts: opts.withDefaults()}
	if !opts.Credentials.IsZero() {
		c.signer = NewSigner(opts.Credentials)
	}
	c.mu.conns = make(map[string]*clientConn)
	return c
}

// SetRequestHandler installs the handler for peer-initiated requests. With
// none, such requests are answered REQUEST_CODE_NOT_SUPPORTED (unless they
// are oneway).
func (c *Client) SetRequestHandler(h RequestHandler) {
	if h == nil {
		c.handler.Store(nil)
		return
	}
	c.handler.Store(&h)
}

// Invoke sends req to addr and waits for the response with the same opaque
// until ctx ends (or DefaultTimeout when ctx has no deadline). It assigns
// req.Opaque from the process-wide counter and clears the response and
// oneway flags, so req must not be shared by concurrent calls.
func (c *Client) Invoke(ctx context.Context, addr string, req *Command) (*Command, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.DefaultTimeout)
		defer cancel()
	}
	conn, err := c.connection(ctx, addr)
	if err != nil {
		return nil, err
	}
	req.Opaque = NextOpaque()
	req.Flag &^= FlagResponse | FlagOneway
	c.sign(req)
	reply := make(chan *Command, 1)
	if err := conn.register(req.Opaque, pendingCall{reply: reply}); err != nil {
		return nil, err
	}
	if err := conn.send(req); err != nil {
		conn.unregister(req.Opaque)
		return nil, err
	}
	select {
	case resp := <-reply:
		return resp, nil
	case <-ctx.Done():
		conn.unregister(req.Opaque)
		return nil, fmt.Errorf("remoting: %s to %s: %w", RequestName(req.Code), addr, ctx.Err())
	case <-conn.done:
		conn.unregister(req.Opaque)
		return nil, conn.failure()
	}
}

// InvokeAsync sends req to addr and returns once it is queued; done is
// called exactly once, with the response, or with an error when the
// connection breaks, ctx ends or timeout passes (DefaultTimeout if not
// positive; both checked every 50 ms, no timer per call). done runs on the
// connection's read or sweeper goroutine and must not block. When
// InvokeAsync returns an error, done is not called. req is used as in
// Invoke.
func (c *Client) InvokeAsync(ctx context.Context, addr string, req *Command, timeout time.Duration, done func(*Command, error)) error {
	if timeout <= 0 {
		timeout = c.opts.DefaultTimeout
	}
	deadline := time.Now().Add(timeout)
	conn, err := c.connection(ctx, addr) // a dial is bounded by DialTimeout
	if err != nil {
		return err
	}
	req.Opaque = NextOpaque()
	req.Flag &^= FlagResponse | FlagOneway
	c.sign(req)
	call := pendingCall{done: done, ctx: ctx, deadline: deadline, code: req.Code}
	if err := conn.register(req.Opaque, call); err != nil {
		return err
	}
	if err := conn.send(req); err != nil && conn.unregister(req.Opaque) {
		return err // not sent and still ours: the caller hears of it here
	}
	return nil
}

// InvokeOneway queues req for addr with the oneway flag set and returns
// once it is queued; no response is awaited.
func (c *Client) InvokeOneway(ctx context.Context, addr string, req *Command) error {
	conn, err := c.connection(ctx, addr)
	if err != nil {
		return err
	}
	req.Opaque = NextOpaque()
	req.Flag = req.Flag&^FlagResponse | FlagOneway
	c.sign(req)
	return conn.send(req)
}

// sign signs req with the Client's credentials, if it has any.
func (c *Client) sign(req *Command) {
	if c.signer != nil {
		c.signer.Sign(req)
	}
}

// Close closes every connection, fails calls in flight with ErrClientClosed
// and waits for the connection goroutines to end. Later calls fail.
func (c *Client) Close() error {
	c.mu.Lock()
	c.mu.closed = true
	conns := make([]*clientConn, 0, len(c.mu.conns))
	for _, cc := range c.mu.conns {
		conns = append(conns, cc)
	}
	c.mu.Unlock()
	for _, cc := range conns {
		<-cc.ready
		cc.fail(ErrClientClosed)
	}
	c.loops.Wait()
	return nil
}

// connection returns the live connection to addr, dialling it when there is
// none. Concurrent callers share one dial.
func (c *Client) connection(ctx context.Context, addr string) (*clientConn, error) {
	for {
		c.mu.Lock()
		if c.mu.closed {
			c.mu.Unlock()
			return nil, ErrClientClosed
		}
		cc, found := c.mu.conns[addr]
		if !found {
			cc = newClientConn(c, addr)
			c.mu.conns[addr] = cc
		}
		c.mu.Unlock()
		if !found {
			cc.dial(ctx)
		}
		select {
		case <-cc.ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("remoting: connect %s: %w", addr, ctx.Err())
		}
		if cc.dialErr != nil {
			return nil, cc.dialErr
		}
		select {
		case <-cc.done:
			c.forget(cc) // broken since: dial again
		default:
			return cc, nil
		}
	}
}

// forget removes cc from the connection table if it is still the entry.
func (c *Client) forget(cc *clientConn) {
	c.mu.Lock()
	if c.mu.conns[cc.addr] == cc {
		delete(c.mu.conns, cc.addr)
	}
	c.mu.Unlock()
}

// clientConn is one TCP connection of a Client.
type clientConn struct {
	client  *Client
	addr    string
	ready   chan struct{} // closed once the dial finished
	dialErr error         // set before ready is closed
	netConn net.Conn
	done    chan struct{} // closed when the connection is broken
	wake    chan struct{} // signals the write loop; capacity 1
	serving chan struct{} // one token per peer request being served

	mu struct {
		sync.Mutex
		pending map[int32]pendingCall
		out     []byte // frames queued for the write loop
		err     error  // why the connection broke
		asyncs  int    // pending calls with a callback: the sweeper runs while > 0
	}
	sweeping atomic.Bool // a sweeper goroutine is running
}

// pendingCall waits for the response with its opaque: Invoke's channel, or
// InvokeAsync's callback with its deadline and context.
type pendingCall struct {
	reply    chan<- *Command
	done     func(*Command, error)
	ctx      context.Context
	deadline time.Time
	code     int16
}

// asyncSweepInterval is how often a connection with callbacks pending
// fails the ones past their deadline or whose context ended: one scan
// instead of a timer per call.
const asyncSweepInterval = 50 * time.Millisecond

func newClientConn(c *Client, addr string) *clientConn {
	cc := &clientConn{
		client:  c,
		addr:    addr,
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
		serving: make(chan struct{}, maxServedRequests),
	}
	cc.mu.pending = make(map[int32]pendingCall)
	return cc
}

func (cc *clientConn) dial(ctx context.Context) {
	defer close(cc.ready)
	conn, err := cc.connect(ctx)
	if err != nil {
		cc.dialErr = fmt.Errorf("remoting: connect %s: %w", cc.addr, err)
		cc.client.forget(cc)
		return
	}
	cc.netConn = conn
	cc.client.loops.Add(2)
	go cc.readLoop()
	go cc.writeLoop()
}

// connect dials the address, with TLS when the Client has a TLS
// configuration (the handshake is bounded by DialTimeout too).
func (cc *clientConn) connect(ctx context.Context) (net.Conn, error) {
	dialer := net.Dialer{Timeout: cc.client.opts.DialTimeout}
	conn, err := dialer.DialContext(ctx, "tcp", cc.addr)
	if err != nil {
		return nil, err
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true)
	}
	cfg := cc.client.opts.TLS
	if cfg == nil {
		return conn, nil
	}
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		cfg = cfg.Clone()
		cfg.ServerName, _, _ = net.SplitHostPort(cc.addr)
	}
	tlsConn := tls.Client(conn, cfg)
	hctx, cancel := context.WithTimeout(ctx, cc.client.opts.DialTimeout)
	defer cancel()
	if err := tlsConn.HandshakeContext(hctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return tlsConn, nil
}

func (cc *clientConn) register(opaque int32, call pendingCall) error {
	cc.mu.Lock()
	if cc.mu.err != nil {
		cc.mu.Unlock()
		return cc.mu.err
	}
	cc.mu.pending[opaque] = call
	startSweeper := false
	if call.done != nil {
		cc.mu.asyncs++
		startSweeper = !cc.sweeping.Swap(true)
	}
	cc.mu.Unlock()
	if startSweeper {
		cc.client.loops.Add(1)
		go cc.sweep()
	}
	return nil
}

// unregister removes the call of opaque and reports whether it was still
// there: false means a response, the sweeper or a failure took it first.
func (cc *clientConn) unregister(opaque int32) bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	_, ok := cc.mu.pending[opaque]
	cc.takeLocked(opaque)
	return ok
}

// takeLocked removes and returns the call of opaque (zero if none).
func (cc *clientConn) takeLocked(opaque int32) pendingCall {
	call, ok := cc.mu.pending[opaque]
	if !ok {
		return pendingCall{}
	}
	delete(cc.mu.pending, opaque)
	if call.done != nil {
		cc.mu.asyncs--
	}
	return call
}

// sweep fails callbacks past their deadline or whose context ended, every
// asyncSweepInterval, until no callback is pending or the connection
// breaks.
func (cc *clientConn) sweep() {
	defer cc.client.loops.Done()
	t := time.NewTicker(asyncSweepInterval)
	defer t.Stop()
	var expired []pendingCall
	for {
		select {
		case <-cc.done:
			cc.sweeping.Store(false)
			return
		case now := <-t.C:
			expired = expired[:0]
			cc.mu.Lock()
			for opaque, call := range cc.mu.pending {
				if call.done != nil && (now.After(call.deadline) || call.ctx.Err() != nil) {
					expired = append(expired, cc.takeLocked(opaque))
				}
			}
			idle := cc.mu.asyncs == 0
			if idle {
				cc.sweeping.Store(false) // a register after this starts a new sweeper
			}
			cc.mu.Unlock()
			for _, call := range expired {
				call.done(nil, cc.timeoutError(call))
			}
			if idle {
				return
			}
		}
	}
}

func (cc *clientConn) timeoutError(call pendingCall) error {
	err := call.ctx.Err()
	if err == nil {
		err = context.DeadlineExceeded
	}
	return fmt.Errorf("remoting: %s to %s: %w", RequestName(call.code), cc.addr, err)
}

func (cc *clientConn) failure() error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.mu.err
}

// send encodes cmd onto the outbound queue and wakes the write loop.
func (cc *clientConn) send(cmd *Command) error {
	cc.mu.Lock()
	if cc.mu.err != nil {
		err := cc.mu.err
		cc.mu.Unlock()
		return err
	}
	if len(cc.mu.out) > 0 && len(cc.mu.out)+frameFixedSize+len(cmd.Body) > cc.client.opts.MaxPendingBytes {
		cc.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrClientBusy, cc.addr)
	}
	cc.mu.out = AppendFrame(cc.mu.out, cmd)
	cc.mu.Unlock()
	select {
	case cc.wake <- struct{}{}:
	default:
	}
	return nil
}

// fail breaks the connection once: records why, closes the socket and
// wakes every waiter.
func (cc *clientConn) fail(cause error) {
	cc.mu.Lock()
	if cc.mu.err != nil {
		cc.mu.Unlock()
		return
	}
	if errors.Is(cause, ErrClientClosed) {
		cc.mu.err = cause
	} else {
		cc.mu.err = fmt.Errorf("%w: %s: %v", ErrConnectionClosed, cc.addr, cause)
	}
	var asyncs []pendingCall
	for _, call := range cc.mu.pending {
		if call.done != nil {
			asyncs = append(asyncs, call)
		}
	}
	clear(cc.mu.pending)
	cc.mu.asyncs = 0
	cc.mu.out = nil
	err := cc.mu.err
	cc.mu.Unlock()
	if cc.netConn != nil {
		_ = cc.netConn.Close()
	}
	close(cc.done)
	cc.client.forget(cc)
	// After forget, so a callback that retries dials a new connection.
	for _, call := range asyncs {
		call.done(nil, err)
	}
}

// writeLoop writes everything queued since its last write in one call.
func (cc *clientConn) writeLoop() {
	defer cc.client.loops.Done()
	var spare []byte
	for {
		select {
		case <-cc.wake:
		case <-cc.done:
			return
		}
		cc.mu.Lock()
		batch := cc.mu.out
		cc.mu.out = spare[:0]
		cc.mu.Unlock()
		if len(batch) == 0 {
			spare = batch // out now holds the old spare: never hand it out twice
			continue
		}
		_ = cc.netConn.SetWriteDeadline(time.Now().Add(cc.client.opts.WriteTimeout))
		if _, err := cc.netConn.Write(batch); err != nil {
			cc.client.opts.Logger.Warn("remoting: write failed", "addr", cc.addr, "err", err)
			cc.fail(err)
			return
		}
		spare = batch[:0]
		if cap(spare) > 4<<20 {
			spare = nil // do not pin a burst's buffer forever
		}
	}
}

// readLoop reads frames until the connection breaks. Each frame gets its own
// buffer because the decoded Body aliases it.
func (cc *clientConn) readLoop() {
	defer cc.client.loops.Done()
	r := bufio.NewReaderSize(cc.netConn, 64<<10)
	for {
		cmd, err := cc.readCommand(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				cc.client.opts.Logger.Warn("remoting: read failed", "addr", cc.addr, "err", err)
			}
			cc.fail(err)
			return
		}
		if cmd.IsResponse() {
			cc.complete(cmd)
		} else {
			cc.dispatchRequest(cmd)
		}
	}
}

func (cc *clientConn) readCommand(r *bufio.Reader) (*Command, error) {
	var prefix [frameFixedSize]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return nil, err
	}
	n, err := FrameSize(prefix[:], cc.client.opts.MaxFrameSize)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		n = int(binary.BigEndian.Uint32(prefix[:])) + lengthPrefixSize
	}
	frame := make([]byte, n)
	copy(frame, prefix[:])
	if _, err := io.ReadFull(r, frame[frameFixedSize:]); err != nil {
		return nil, err
	}
	cmd := new(Command)
	if err := Decode(frame, cmd); err != nil {
		return nil, err
	}
	return cmd, nil
}

func (cc *clientConn) complete(resp *Command) {
	cc.mu.Lock()
	call := cc.takeLocked(resp.Opaque)
	cc.mu.Unlock()
	switch {
	case call.reply != nil:
		call.reply <- resp // capacity 1, one response per opaque
	case call.done != nil:
		call.done(resp, nil)
	}
}

// maxServedRequests bounds the peer-initiated requests one connection
// serves at once; past it a request is answered SYSTEM_BUSY (a oneway one is
// dropped) rather than given another goroutine.
const maxServedRequests = 64

// dispatchRequest serves a peer-initiated request on its own goroutine,
// owned by the client (Close waits for it), at most maxServedRequests at a
// time per connection.
func (cc *clientConn) dispatchRequest(req *Command) {
	select {
	case cc.serving <- struct{}{}:
	default:
		cc.client.opts.Logger.Warn("remoting: too many requests from the peer in flight", "addr", cc.addr,
			"request", RequestName(req.Code), "limit", maxServedRequests)
		if !req.IsOneway() {
			cc.reply(req, NewResponse(req, ResponseSystemBusy, "too many requests in flight on this connection"))
		}
		return
	}
	cc.client.loops.Add(1)
	go func() {
		defer cc.client.loops.Done()
		defer func() { <-cc.serving }()
		cc.serveRequest(req)
	}()
}

func (cc *clientConn) serveRequest(req *Command) {
	var resp *Command
	if h := cc.client.handler.Load(); h != nil {
		resp = (*h)(cc.addr, req)
	} else if !req.IsOneway() {
		resp = NewResponse(req, ResponseRequestCodeNotSupported,
			fmt.Sprintf(" request type %d not supported", req.Code))
	}
	if resp != nil {
		cc.reply(req, resp)
	}
}

func (cc *clientConn) reply(req, resp *Command) {
	resp.Opaque = req.Opaque
	resp.Flag |= FlagResponse
	if err := cc.send(resp); err != nil {
		cc.client.opts.Logger.Debug("remoting: reply dropped", "addr", cc.addr, "code", req.Code, "err", err)
	}
}
