package netio

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"
)

// Conn is one client connection. Methods are safe from any goroutine unless
// noted otherwise.
type Conn struct {
	id         uint64
	server     *Server
	gc         gnet.Conn
	remoteAddr string
	localAddr  string
	attachment atomic.Pointer[any]
	closed     atomic.Bool // set once OnClose ran or a close was requested
	slowClosed atomic.Bool // closed as a slow consumer (counted once)
	// closeReason is the CloseReason recorded by the code that closed the
	// connection (markClose); CloseOther until then.
	closeReason atomic.Uint32

	// outboundBuffered mirrors gnet's OutboundBuffered, sampled on the loop.
	outboundBuffered atomic.Int64
	outbox           outbox

	// replyBuf collects replies made during one read pass. Loop-only.
	replyBuf *bytebufferpool.ByteBuffer
	// handlerDetached is set by Request.Detach while a handler runs. Loop-only.
	handlerDetached bool
	// framesDeferred is set when the last read pass stopped at its reply
	// budget with bytes still buffered. Loop-only.
	framesDeferred bool
	// resumeQueued is set from asking for a resume pass until it starts,
	// so a connection has at most one on its way; reads meanwhile only
	// buffer. Loop-only.
	resumeQueued bool
	// inputCharged is what this connection counts in the server's
	// buffered-input total. Loop-only.
	inputCharged int64
	// partialSince is when the first byte of the incomplete frame at the
	// front of the inbound buffer arrived (unix nanoseconds), 0 when there
	// is none. Written on the loop, read by the frame sweeper.
	partialSince atomic.Int64
	// expiryQueued is set while an expiry check is on its way to the loop.
	expiryQueued atomic.Bool

	invokes struct {
		sync.Mutex
		waiting map[int32]chan invokeResult
	}
}

type invokeResult struct {
	cmd *remoting.Command
	err error
}

// outbox queues frames written from outside the loop. At most one AsyncWritev
// is in flight per connection; frames queued meanwhile leave together in the
// next one, up to maxWriteIovecs frames per write.
type outbox struct {
	mu struct {
		sync.Mutex
		queued   frameQueue
		inFlight writeBatch
		writing  bool // inFlight was handed to AsyncWritev and its callback has not run
		closed   bool
	}
	pendingBytes atomic.Int64 // queued + in flight
}

// writeBatch is a list of pooled frame buffers and the iovec that writes them.
type writeBatch struct {
	bufs  []*bytebufferpool.ByteBuffer
	iov   [][]byte
	bytes int
}

func (b *writeBatch) add(buf *bytebufferpool.ByteBuffer) {
	b.bufs = append(b.bufs, buf)
	b.iov = append(b.iov, buf.B)
	b.bytes += len(buf.B)
}

// maxWriteIovecs caps the frames of one AsyncWritev. gnet hands its iovec
// to one writev(2), which fails with EINVAL past IOV_MAX (1,024 on Linux)
// and the connection is closed with every reply in it lost; frames beyond
// the cap stay queued for the next write.
const maxWriteIovecs = 1024

// frameQueue is the outbox's FIFO of frames waiting for a write. The front
// is bufs[head]; the slice keeps its capacity across writes.
type frameQueue struct {
	bufs  []*bytebufferpool.ByteBuffer
	head  int
	bytes int
}

func (q *frameQueue) push(buf *bytebufferpool.ByteBuffer) {
	q.bufs = append(q.bufs, buf)
	q.bytes += len(buf.B)
}

func (q *frameQueue) empty() bool { return q.head == len(q.bufs) }

// moveTo moves up to maxWriteIovecs frames from the front of q into the
// empty batch b.
func (q *frameQueue) moveTo(b *writeBatch) {
	n := min(len(q.bufs)-q.head, maxWriteIovecs)
	front := q.bufs[q.head : q.head+n]
	for _, buf := range front {
		b.add(buf)
	}
	clear(front)
	q.head += n
	q.bytes -= b.bytes
	switch {
	case q.head == len(q.bufs):
		q.bufs, q.head = q.bufs[:0], 0
	case q.head > len(q.bufs)/2:
		// Slide the rest down so a queue that never empties does not grow.
		rest := copy(q.bufs, q.bufs[q.head:])
		clear(q.bufs[rest:])
		q.bufs, q.head = q.bufs[:rest], 0
	}
}

func (q *frameQueue) release() {
	for i, buf := range q.bufs[q.head:] {
		outboundPool.Put(buf)
		q.bufs[q.head+i] = nil
	}
	q.bufs, q.head, q.bytes = q.bufs[:0], 0, 0
}

func (b *writeBatch) release() {
	for i, buf := range b.bufs {
		outboundPool.Put(buf)
		b.bufs[i] = nil
		b.iov[i] = nil
	}
	b.bufs = b.bufs[:0]
	b.iov = b.iov[:0]
	b.bytes = 0
}

// outboundPool holds encoded outbound frames; inboundPool holds copies of
// received frames. Kept apart so each calibrates to its own size profile.
var (
	outboundPool bytebufferpool.Pool
	inboundPool  bytebufferpool.Pool
)

// ID is the connection's server-unique id.
func (c *Conn) ID() uint64 { return c.id }

// RemoteAddr is the peer's "ip:port".
func (c *Conn) RemoteAddr() string { return c.remoteAddr }

// LocalAddr is the local "ip:port" the peer connected to.
func (c *Conn) LocalAddr() string { return c.localAddr }

// SetAttachment stores a caller-owned value on the connection.
func (c *Conn) SetAttachment(v any) { c.attachment.Store(&v) }

// Attachment returns the value stored by SetAttachment, or nil.
func (c *Conn) Attachment() any {
	if p := c.attachment.Load(); p != nil {
		return *p
	}
	return nil
}

// PendingBytes is the number of outbound bytes accepted but not yet written
// to the socket: the outbox queue, the write in flight, and gnet's outbound
// buffer as last sampled on the loop.
func (c *Conn) PendingBytes() int {
	return int(c.outbox.pendingBytes.Load() + c.outboundBuffered.Load())
}

// Close closes the connection. Outbound bytes already handed to the loop are
// written on a best-effort basis first. Close is idempotent.
func (c *Conn) Close() error {
	c.markClose(CloseRequested)
	if c.closed.Swap(true) {
		return nil
	}
	return c.gc.Close()
}

// Send encodes cmd and queues it on the connection's outbox. It never blocks.
// It fails with ErrClosed on a closed connection and with ErrSlowConsumer
// (closing the connection) when the frame would exceed MaxPendingBytes.
func (c *Conn) Send(cmd *remoting.Command) error {
	if c.closed.Load() {
		return ErrClosed
	}
	buf := outboundPool.Get()
	buf.B = remoting.AppendFrame(buf.B[:0], cmd)
	return c.enqueue(buf)
}

// enqueue hands buf to the outbox, starting a write if none is in flight.
func (c *Conn) enqueue(buf *bytebufferpool.ByteBuffer) error {
	size := len(buf.B)
	// Only the outbox count is exact here: gnet's outbound buffer is sampled
	// on the loop and may have drained since. The write callback checks the
	// full total with a fresh sample.
	if int(c.outbox.pendingBytes.Load())+size > c.server.opts.MaxPendingBytes {
		outboundPool.Put(buf)
		c.closeSlowConsumer("unwritten replies over the limit")
		return ErrSlowConsumer
	}
	ob := &c.outbox
	ob.mu.Lock()
	if ob.mu.closed {
		ob.mu.Unlock()
		outboundPool.Put(buf)
		return ErrClosed
	}
	ob.mu.queued.push(buf)
	ob.pendingBytes.Add(int64(size))
	startWrite := !ob.mu.writing
	if startWrite {
		ob.mu.writing = true
		ob.mu.queued.moveTo(&ob.mu.inFlight)
	}
	ob.mu.Unlock()
	c.server.stats.framesOut.Add(1)
	c.server.stats.bytesOut.Add(uint64(size))
	if startWrite {
		c.submitInFlight()
	}
	return nil
}

// submitInFlight hands the in-flight batch to gnet. The batch is owned by the
// write until its callback runs; nothing else touches it while writing is set.
func (c *Conn) submitInFlight() {
	batch := &c.outbox.mu.inFlight
	c.server.stats.outboxWrites.Add(1)
	if err := c.gc.AsyncWritev(batch.iov, c.onAsyncWritten); err != nil {
		c.abandonOutbox()
	}
}

// onAsyncWritten runs on the loop once gnet wrote (or buffered) the in-flight
// batch. It returns the buffers to the pool, samples gnet's outbound buffer
// for the slow-consumer check, and submits whatever queued meanwhile.
func (c *Conn) onAsyncWritten(gc gnet.Conn, err error) error {
	ob := &c.outbox
	ob.mu.Lock()
	written := ob.mu.inFlight.bytes
	ob.mu.inFlight.release()
	ob.pendingBytes.Add(-int64(written))
	next := err == nil && !ob.mu.closed && !ob.mu.queued.empty()
	if next {
		ob.mu.queued.moveTo(&ob.mu.inFlight)
	} else {
		ob.mu.writing = false
	}
	ob.mu.Unlock()
	if err != nil {
		c.abandonOutbox()
		return nil
	}
	c.sampleOutbound(gc)
	if next {
		c.submitInFlight()
	}
	return nil
}

// abandonOutbox drops every queued frame after the connection failed or
// closed; later enqueues fail with ErrClosed.
func (c *Conn) abandonOutbox() {
	ob := &c.outbox
	ob.mu.Lock()
	ob.mu.closed = true
	dropped := ob.mu.queued.bytes
	ob.mu.queued.release()
	if !ob.mu.writing {
		dropped += ob.mu.inFlight.bytes
		ob.mu.inFlight.release()
	}
	ob.mu.Unlock()
	ob.pendingBytes.Add(-int64(dropped))
}

// outboxIdle reports whether nothing is queued or in flight.
func (c *Conn) outboxIdle() bool {
	ob := &c.outbox
	ob.mu.Lock()
	defer ob.mu.Unlock()
	return ob.mu.closed || (!ob.mu.writing && ob.mu.queued.empty())
}

// sampleOutbound records gnet's outbound buffer size and closes the
// connection if the total pending bytes exceed the cap. Loop-only.
func (c *Conn) sampleOutbound(gc gnet.Conn) (overLimit bool) {
	c.outboundBuffered.Store(int64(gc.OutboundBuffered()))
	if c.PendingBytes() <= c.server.opts.MaxPendingBytes {
		return false
	}
	c.closeSlowConsumer("unwritten replies over the limit")
	return true
}

// capInboundBacklog closes the connection as a slow consumer, and reports
// that it did, when the requests waiting for a read pass exceed
// MaxPendingBytes (or one largest frame, if that is more). gnet keeps
// reading from the socket while passes are deferred, so this cap is what
// bounds a client that pipelines requests for large replies faster than its
// passes answer them. Loop-only.
func (c *Conn) capInboundBacklog(gc gnet.Conn) bool {
	opts := &c.server.opts
	backlog := gc.InboundBuffered()
	if backlog <= max(opts.MaxPendingBytes, opts.MaxFrameSize) {
		return false
	}
	c.closeSlowConsumer("unanswered requests over the limit", "inboundBytes", backlog)
	return true
}

// closeSlowConsumer closes the connection once, logging why and counting it.
func (c *Conn) closeSlowConsumer(why string, args ...any) {
	if c.slowClosed.Swap(true) {
		return
	}
	c.server.stats.slowConsumerCloses.Add(1)
	c.markClose(CloseSlowConsumer)
	args = append(args, "reason", CloseSlowConsumer.String(), "conn", c.id, "remote", c.remoteAddr, "pendingBytes", c.PendingBytes(),
		"maxPendingBytes", c.server.opts.MaxPendingBytes)
	c.server.logLimited(&c.server.slowLog, "closing slow consumer: "+why, args...)
	_ = c.Close()
}

// scheduleResume asks c's loop for a resume pass over the frames a read
// pass left buffered at its reply budget: gnet calls OnTraffic only after a
// read, and the client may send nothing more. Asked from a read's pass, the
// resume runs among the loop's queued tasks, after every connection that
// was ready in the same poll. Loop-only.
func (c *Conn) scheduleResume() {
	c.resumeQueued = true
	if err := c.gc.EventLoop().Execute(context.Background(), gnet.RunnableFunc(c.resumePass)); err != nil {
		c.resumeQueued = false // the engine is shutting down
	}
}

// resumePass runs on c's loop: one budgeted read pass over the frames left
// buffered. When it leaves frames again, the next resume is asked through
// the resumer goroutine (Server.queueResume): gnet runs a task queued by a
// task in the same round, so a resume asked here directly would run before
// the loop polls again, and a burst of large requests would keep every
// other connection on the loop from being read until it was served.
func (c *Conn) resumePass(context.Context) error {
	c.resumeQueued = false
	if c.closed.Load() {
		return nil // closed, or its close is on the way
	}
	c.server.passes.resumed.Add(1)
	if c.server.servePass(c, c.gc) != gnet.None {
		// Loop-only, like the Close action OnTraffic would return.
		_ = c.gc.EventLoop().Close(c.gc)
		return nil
	}
	if !c.framesDeferred {
		return nil
	}
	c.resumeQueued = true
	if !c.server.queueResume(c) {
		c.scheduleResume()
	}
	return nil
}

// Invoke sends a server-initiated request and waits for the peer's response,
// matched by opaque. Invoke assigns req.Opaque and clears the response flag.
// The returned command owns its Body.
func (c *Conn) Invoke(ctx context.Context, req *remoting.Command) (*remoting.Command, error) {
	req.Opaque = c.server.nextOpaque()
	req.Flag &^= remoting.FlagResponse
	done := make(chan invokeResult, 1)
	c.invokes.Lock()
	if c.closed.Load() {
		c.invokes.Unlock()
		return nil, ErrClosed
	}
	if c.invokes.waiting == nil {
		c.invokes.waiting = make(map[int32]chan invokeResult)
	}
	c.invokes.waiting[req.Opaque] = done
	c.invokes.Unlock()
	if err := c.Send(req); err != nil {
		c.forgetInvoke(req.Opaque)
		return nil, err
	}
	select {
	case res := <-done:
		return res.cmd, res.err
	case <-ctx.Done():
		c.forgetInvoke(req.Opaque)
		return nil, fmt.Errorf("netio: invoke code %d opaque %d: %w", req.Code, req.Opaque, ctx.Err())
	}
}

func (c *Conn) forgetInvoke(opaque int32) {
	c.invokes.Lock()
	delete(c.invokes.waiting, opaque)
	c.invokes.Unlock()
}

// completeInvoke delivers a response frame to its waiting Invoke and reports
// whether one was waiting. The body is copied: frame goes back to its pool.
func (c *Conn) completeInvoke(resp *remoting.Command) bool {
	c.invokes.Lock()
	done, ok := c.invokes.waiting[resp.Opaque]
	if ok {
		delete(c.invokes.waiting, resp.Opaque)
	}
	c.invokes.Unlock()
	if !ok {
		return false
	}
	owned := *resp
	owned.Ext.Fields = append([]remoting.Field(nil), resp.Ext.Fields...)
	owned.Body = bytes.Clone(resp.Body)
	done <- invokeResult{cmd: &owned}
	return true
}

// failInvokes ends every waiting Invoke with ErrClosed.
func (c *Conn) failInvokes() {
	c.invokes.Lock()
	waiting := c.invokes.waiting
	c.invokes.waiting = nil
	c.invokes.Unlock()
	for _, done := range waiting {
		done <- invokeResult{err: ErrClosed}
	}
}
