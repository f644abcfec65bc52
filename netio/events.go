package netio

import (
	"encoding/binary"
	"fmt"
	"net"
	"time"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/panjf2000/gnet/v2"
)

// loopEvents receives gnet's callbacks for one Server. Every method runs on
// an event loop (OnBoot on the starting goroutine) and must not block.
type loopEvents struct {
	gnet.BuiltinEventEngine
	server *Server
}

// OnBoot records the engine and the bound address. Called by gnet.
func (e *loopEvents) OnBoot(eng gnet.Engine) gnet.Action {
	s := e.server
	s.engine = eng
	s.boundTo = s.opts.Addr
	for _, a := range s.opts.ExtraAddrs {
		s.extraTo = append(s.extraTo, s.boundAddr(eng, a))
	}
	if s.front != nil {
		close(s.booted) // startFront binds and logs the public address
		return gnet.None
	}
	s.boundTo = s.boundAddr(eng, s.opts.Addr)
	s.log.Info("listening", "addr", s.boundTo, "extraAddrs", s.extraTo, "eventLoops", s.opts.NumEventLoops)
	close(s.booted)
	return gnet.None
}

// boundAddr is the address the listener configured as addr is bound to
// (the port a 0 picked), or addr itself when the socket cannot tell.
func (s *Server) boundAddr(eng gnet.Engine, addr string) string {
	bound, err := listenerAddr(eng, addr)
	if err != nil {
		s.log.Warn("netio: cannot read bound address", "addr", addr, "err", err)
		return addr
	}
	return bound
}

// OnOpen registers a new connection. Called by gnet on the loop.
func (e *loopEvents) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	s := e.server
	if s.stopping.Load() {
		return nil, gnet.Close
	}
	if s.front != nil && gc.Context() == nil {
		s.front.loopsServing() // the front's probe: every connection it hands over has a context
		return nil, gnet.Close
	}
	c := &Conn{
		id:         s.nextConnID.Add(1),
		server:     s,
		gc:         gc,
		remoteAddr: addrString(gc.RemoteAddr()),
	}
	// gnet reports the listener's configured address (port 0 included);
	// the socket knows the real one. A connection the TLS front handed
	// over carries its peer's addresses.
	if peer, ok := gc.Context().(*peerContext); ok {
		c.remoteAddr, c.localAddr = peer.remoteAddr, peer.localAddr
	} else if local, err := localSockAddr(gc.Fd()); err == nil {
		c.localAddr = local
	} else {
		c.localAddr = addrString(gc.LocalAddr())
	}
	gc.SetContext(c)
	s.conns.Lock()
	s.conns.byID[c.id] = c
	s.conns.Unlock()
	s.stats.accepted.Add(1)
	s.stats.connections.Add(1)
	if s.onOpen != nil {
		s.onOpen(c)
	}
	return nil, gnet.None
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// OnClose unregisters the connection, fails its Invokes and drops its
// outbox. Called by gnet on the loop.
func (e *loopEvents) OnClose(gc gnet.Conn, err error) gnet.Action {
	s := e.server
	c, ok := gc.Context().(*Conn)
	if !ok {
		return gnet.None
	}
	c.closed.Store(true)
	c.framesDeferred = false
	s.conns.Lock()
	delete(s.conns.byID, c.id)
	s.conns.Unlock()
	c.uncharge()
	c.failInvokes()
	c.abandonOutbox()
	if c.replyBuf != nil {
		outboundPool.Put(c.replyBuf)
		c.replyBuf = nil
	}
	s.stats.closed.Add(1)
	s.stats.connections.Add(-1)
	s.countClose(c, err)
	if s.onClose != nil {
		s.onClose(c)
	}
	return gnet.None
}

// OnTraffic serves the frames buffered on the connection with one budgeted
// read pass (servePass) and, when the pass left frames, asks the loop for a
// resume pass. Called by gnet on the loop after a read.
func (e *loopEvents) OnTraffic(gc gnet.Conn) gnet.Action {
	s := e.server
	c, ok := gc.Context().(*Conn)
	if !ok {
		return gnet.Close
	}
	if c.resumeQueued {
		// The resume pass on its way serves what this read added, in
		// order; serving it here as well would give the connection two
		// passes per turn of the loop.
		if c.capInboundBacklog(gc) || c.trackInput(gc, false) {
			return gnet.Close
		}
		return gnet.None
	}
	action := s.servePass(c, gc)
	if action == gnet.None && c.framesDeferred {
		c.scheduleResume()
	}
	return action
}

// servePass splits, decodes and dispatches the whole frames buffered on the
// connection until they run out or the pass has produced passReplyBudget
// bytes of replies, then writes the pass's replies with one Write. Frames
// left over stay in gnet's inbound buffer and c.framesDeferred is set: a
// resume pass serves them later, after other connections on the loop had
// their turn. Loop-only.
func (s *Server) servePass(c *Conn, gc gnet.Conn) gnet.Action {
	action, spent, served := s.readFrames(c, gc)
	if !c.flushLoopReplies(gc) {
		return gnet.Close
	}
	c.framesDeferred = false
	if action != gnet.None {
		return action
	}
	if spent && gc.InboundBuffered() > 0 {
		c.framesDeferred = true
		s.passes.deferred.Add(1)
		if c.capInboundBacklog(gc) {
			return gnet.Close
		}
	}
	if c.trackInput(gc, served > 0) {
		return gnet.Close
	}
	return gnet.None
}

// replyFlushBytes is how much a read pass's reply buffer may hold before it
// is written out mid-pass: a pass of many large replies (pipelined pulls)
// never builds one huge buffer, and the pending-bytes cap is checked after
// every such write.
const replyFlushBytes = 256 << 10

// passReplyBudget is how many reply bytes one read pass may produce before
// it yields the loop. Replies are what costs: a pull answered with
// megabytes of messages reads, encodes and copies every byte on the loop,
// and a client pipelining a burst of them (reading its replies or not)
// would otherwise hold the loop, and every neighbour on it, until the whole
// burst is answered or the pending-bytes cap cuts it off. Small replies
// (sends, heartbeats, offsets) never reach the budget, so for them a pass
// still handles everything buffered.
const passReplyBudget = 1 << 20

// passTimeBudget is how long one read pass may run before it yields the
// loop: requests with small replies can still be costly (a pull whose SQL
// filter scans thousands of entries to find a few), and a burst of them
// must not hold the neighbours either. A pass of ordinary sends stays well
// under it.
const passTimeBudget = 2 * time.Millisecond

// flushLoopReplies writes the replies buffered during the read pass and
// checks the connection against MaxPendingBytes. It reports false when the
// connection must close: the write failed or it is a slow consumer.
// Loop-only.
func (c *Conn) flushLoopReplies(gc gnet.Conn) bool {
	if c.replyBuf != nil {
		buf := c.replyBuf
		c.replyBuf = nil
		_, err := gc.Write(buf.B)
		outboundPool.Put(buf)
		if err != nil {
			return false
		}
	}
	return !c.sampleOutbound(gc)
}

// readFrames handles whole frames until the buffered bytes run out or the
// pass has produced passReplyBudget bytes of replies or run for
// passTimeBudget; spent reports the latter, in which case frames may be
// left buffered. frames is how many it handled.
func (s *Server) readFrames(c *Conn, gc gnet.Conn) (action gnet.Action, spent bool, frames uint64) {
	var bytesIn uint64
	replied := 0
	start := time.Now()
	defer func() {
		s.stats.framesIn.Add(frames)
		s.stats.bytesIn.Add(bytesIn)
	}()
	for {
		frame, err := s.peekFrame(gc)
		if err != nil {
			s.rejectConn(c, CloseBadFrame, err)
			return gnet.Close, false, frames
		}
		if frame == nil {
			return gnet.None, false, frames
		}
		buf := inboundPool.Get()
		buf.B = append(buf.B[:0], frame...)
		_, _ = gc.Discard(len(frame))
		frames++
		bytesIn += uint64(len(frame))
		before := c.loopReplyBytes()
		if err := s.dispatch(c, buf); err != nil {
			s.rejectConn(c, CloseBadHeader, err)
			return gnet.Close, false, frames
		}
		replied += c.loopReplyBytes() - before
		if c.loopReplyBytes() >= replyFlushBytes && !c.flushLoopReplies(gc) {
			return gnet.Close, false, frames
		}
		if replied >= passReplyBudget || time.Since(start) >= passTimeBudget {
			return gnet.None, true, frames
		}
	}
}

// loopReplyBytes is the size of the read pass's reply buffer. Loop-only.
func (c *Conn) loopReplyBytes() int {
	if c.replyBuf == nil {
		return 0
	}
	return len(c.replyBuf.B)
}

// peekFrame returns the next whole buffered frame (valid until Discard), nil
// if more bytes are needed, or an error for a frame that can never be valid.
// It peeks only the first 8 bytes until the whole frame has arrived,
// so a large frame arriving in pieces is not reassembled on every read.
func (s *Server) peekFrame(gc frameSource) ([]byte, error) {
	return peekFrame(gc, s.opts.MaxFrameSize)
}

// frameSource is the part of gnet.Conn that frame splitting reads.
type frameSource interface {
	InboundBuffered() int
	Peek(n int) ([]byte, error)
}

func peekFrame(gc frameSource, maxFrameSize int) ([]byte, error) {
	buffered := gc.InboundBuffered()
	if buffered < lengthPrefixSize {
		return nil, nil
	}
	// Validate what the first bytes can tell (length, serialize type,
	// header length) before waiting for the rest of the frame.
	prefix, err := gc.Peek(min(buffered, frameWordsSize))
	if err != nil {
		return nil, nil
	}
	if _, err := remoting.FrameSize(prefix, maxFrameSize); err != nil {
		return nil, err
	}
	declared := int64(binary.BigEndian.Uint32(prefix)) + lengthPrefixSize
	if declared > int64(maxFrameSize) {
		return nil, fmt.Errorf("%w: %d bytes", remoting.ErrFrameTooLarge, declared)
	}
	if int64(buffered) < declared {
		return nil, nil
	}
	frame, err := gc.Peek(int(declared))
	if err != nil {
		return nil, nil
	}
	n, err := remoting.FrameSize(frame, maxFrameSize)
	if err != nil {
		return nil, err
	}
	if n != int(declared) {
		return nil, fmt.Errorf("netio: frame size %d disagrees with length prefix %d", n, declared)
	}
	return frame, nil
}

// lengthPrefixSize is the frame's length word; frameWordsSize adds the
// serialize-type/header-length word.
const (
	lengthPrefixSize = 4
	frameWordsSize   = 8
)

// rejectConn counts and logs (rate-limited) a protocol violation; the
// caller closes the connection.
func (s *Server) rejectConn(c *Conn, reason CloseReason, err error) {
	s.stats.decodeErrors.Add(1)
	c.markClose(reason)
	c.closed.Store(true)
	what := "bad frame"
	if reason == CloseBadHeader {
		what = "bad header"
	}
	s.logLimited(&s.decodeLog, "closing connection: "+what,
		"reason", reason.String(), "conn", c.id, "remote", c.remoteAddr, "err", err)
}
