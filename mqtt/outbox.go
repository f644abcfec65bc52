package mqtt

import (
	"sync"

	"github.com/panjf2000/gnet/v2"
)

// outbox collects the packets for one connection from every goroutine
// (its event loop, the writer's completions, the fan-out, catch-up) and
// hands them to gnet as one write at a time: while a write is in flight
// new packets append to the queue, and the write's completion sends the
// queue. On the connection's own loop the queue is written directly
// (flushOnLoop) when no write is in flight, so replies made during a read
// pass leave as one write at its end. Order is the order of queueing.
//
// Bytes queued and in flight are counted against the gateway's
// MaxPendingBytes: above it QoS 0 messages are dropped (counted), and a
// connection whose mandatory packets (acks, QoS 1/2 messages inside the
// client's receive window) go on piling up past four times the limit is
// closed as a slow consumer.
type outbox struct {
	mu struct {
		sync.Mutex
		queue    []byte
		spare    []byte // the buffer of the last completed write, reused
		inFlight int    // bytes handed to gnet, not yet written
		ws       bool   // frame every write as one WebSocket binary message
		loopPass bool   // the connection's loop is in a read pass
		closed   bool
	}
}

// pending is the bytes queued and in flight.
func (o *outbox) pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.mu.queue) + o.mu.inFlight
}

// queue appends a packet built by build. It reports false once the
// outbox is closed.
func (o *outbox) queue(c *conn, build func([]byte) []byte) bool {
	o.mu.Lock()
	if o.mu.closed {
		o.mu.Unlock()
		return false
	}
	o.mu.queue = build(o.mu.queue)
	start := o.mu.inFlight == 0 && !o.mu.loopPass
	var buf []byte
	if start {
		buf = o.takeLocked()
	}
	over := len(o.mu.queue)+o.mu.inFlight > 4*c.gw.opts.MaxPendingBytes
	o.mu.Unlock()
	if start {
		o.write(c, buf)
	}
	if over {
		c.gw.metrics.slowConsumers.Add(1)
		c.closeNow("slow consumer: outbound bytes over four times the limit")
	}
	return true
}

// takeLocked detaches the queue for an asynchronous write, framed for
// WebSocket.
func (o *outbox) takeLocked() []byte {
	var buf []byte
	if o.mu.ws {
		buf = wsFrame(o.mu.spare[:0], wsOpBinary, o.mu.queue)
		o.mu.queue = o.mu.queue[:0]
	} else {
		buf = o.mu.queue
		o.mu.queue = o.mu.spare[:0]
	}
	o.mu.spare = nil
	o.mu.inFlight = len(buf)
	return buf
}

// write hands buf to gnet; the completion sends what queued meanwhile.
func (o *outbox) write(c *conn, buf []byte) {
	err := c.gc.AsyncWrite(buf, func(gnet.Conn, error) error {
		o.mu.Lock()
		o.mu.inFlight = 0
		if cap(buf) <= 64<<10 {
			o.mu.spare = buf[:0]
		}
		var next []byte
		if len(o.mu.queue) > 0 && !o.mu.closed && !o.mu.loopPass {
			next = o.takeLocked()
		}
		o.mu.Unlock()
		if next != nil {
			o.write(c, next)
		}
		return nil
	})
	if err != nil {
		o.mu.Lock()
		o.mu.inFlight = 0
		o.mu.Unlock()
	}
}

// beginPass marks a read pass of the connection's loop: packets queued
// meanwhile, from any goroutine, leave with endPass.
func (o *outbox) beginPass() {
	o.mu.Lock()
	o.mu.loopPass = true
	o.mu.Unlock()
}

// endPass ends a read pass and writes the queue directly when nothing is
// in flight (gnet keeps what the socket does not take). The caller is the
// connection's event loop.
func (o *outbox) endPass(c *conn) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.mu.loopPass = false
	if o.mu.inFlight > 0 || len(o.mu.queue) == 0 || o.mu.closed {
		return
	}
	if o.mu.ws {
		buf := wsFrame(o.mu.spare[:0], wsOpBinary, o.mu.queue)
		_, _ = c.gc.Write(buf)
		o.mu.spare = buf[:0]
	} else {
		_, _ = c.gc.Write(o.mu.queue)
	}
	o.mu.queue = o.mu.queue[:0]
	if cap(o.mu.queue) > 64<<10 {
		o.mu.queue = nil
	}
	if cap(o.mu.spare) > 64<<10 {
		o.mu.spare = nil
	}
}

func (o *outbox) close() {
	o.mu.Lock()
	o.mu.closed = true
	o.mu.queue, o.mu.spare = nil, nil
	o.mu.Unlock()
}
