package netio

import (
	"sync"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/valyala/bytebufferpool"
)

// Handler serves one request. It runs on the connection's event loop and
// must never block: no disk I/O, no locks held by slow paths, no channel
// sends that can wait. Work that cannot finish at once calls req.Detach,
// hands the Request off (for example to a ring), and answers later with
// req.Reply followed by req.Release.
type Handler func(req *Request)

// Request is one decoded request and the connection it came on.
//
// Unless Detach is called, the Request and its Cmd.Body are valid only until
// the handler returns.
type Request struct {
	Cmd  remoting.Command // decoded; Cmd.Body aliases a pooled copy of the frame owned by the Request
	Conn *Conn

	frame    *bytebufferpool.ByteBuffer
	detached bool // set by Detach on the loop before the Request is handed off
}

var requestPool = sync.Pool{New: func() any { return new(Request) }}

// Reply sends resp, a response built by remoting.NewResponse (opaque and
// response flag already set). resp is encoded in the request's serialize
// type.
//
// Called on the loop before the handler returns, and before Detach, the
// reply is buffered and written with the other replies of the same read pass
// in one Write. After Detach it may be called from any goroutine and goes
// through the connection's outbox. Send errors (closed connection, slow
// consumer) are counted in Stats and otherwise dropped: there is no one left
// to tell.
func (r *Request) Reply(resp *remoting.Command) {
	resp.SerializeType = r.Cmd.SerializeType
	if r.detached {
		_ = r.Conn.Send(resp)
		return
	}
	r.Conn.appendLoopReply(resp)
}

// Detach keeps the Request, and the frame its Cmd.Body aliases, alive past
// the handler's return. Call it on the loop, inside the handler. The owner
// must call Release exactly once when done.
func (r *Request) Detach() {
	r.detached = true
	// The loop reads the Conn's flag, not the Request's: once handed off,
	// the Request may already be released and reused.
	r.Conn.handlerDetached = true
}

// Detached reports whether Detach was called: a completion that may run
// either inside the handler (on the loop) or later uses it to decide
// whether it owns the Request and must Release it.
func (r *Request) Detached() bool { return r.detached }

// Release returns the frame buffer and the Request to their pools. Only
// after Detach; the Request must not be used afterwards.
func (r *Request) Release() {
	if r.frame != nil {
		inboundPool.Put(r.frame)
	}
	r.Cmd.Reset()
	r.Cmd.Ext.Fields = clearFields(r.Cmd.Ext.Fields)
	r.Conn = nil
	r.frame = nil
	r.detached = false
	requestPool.Put(r)
}

// clearFields drops references to header strings so pooled Requests do not
// pin them, keeping the slice's capacity.
func clearFields(fields []remoting.Field) []remoting.Field {
	clear(fields[:cap(fields)])
	return fields[:0]
}

// appendLoopReply encodes resp into the current read pass's reply buffer.
// Loop-only.
func (c *Conn) appendLoopReply(resp *remoting.Command) {
	if c.replyBuf == nil {
		c.replyBuf = outboundPool.Get()
	}
	before := len(c.replyBuf.B)
	c.replyBuf.B = remoting.AppendFrame(c.replyBuf.B, resp)
	c.server.stats.framesOut.Add(1)
	c.server.stats.bytesOut.Add(uint64(len(c.replyBuf.B) - before))
}
