package netio

import (
	"encoding/binary"
	"fmt"
	"net"

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
	if addr, err := listenerAddr(eng); err == nil {
		s.boundTo = addr
	} else {
		s.log.Warn("netio: cannot read bound address", "err", err)
	}
	s.log.Info("listening", "addr", s.boundTo, "eventLoops", s.opts.NumEventLoops)
	close(s.booted)
	return gnet.None
}

// OnOpen registers a new connection. Called by gnet on the loop.
func (e *loopEvents) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	s := e.server
	if s.stopping.Load() {
		return nil, gnet.Close
	}
	c := &Conn{
		id:         s.nextConnID.Add(1),
		server:     s,
		gc:         gc,
		remoteAddr: addrString(gc.RemoteAddr()),
	}
	// gnet reports the listener's configured address (port 0 included);
	// the socket knows the real one.
	if local, err := localSockAddr(gc.Fd()); err == nil {
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
func (e *loopEvents) OnClose(gc gnet.Conn, _ error) gnet.Action {
	s := e.server
	c, ok := gc.Context().(*Conn)
	if !ok {
		return gnet.None
	}
	c.closed.Store(true)
	s.conns.Lock()
	delete(s.conns.byID, c.id)
	s.conns.Unlock()
	c.failInvokes()
	c.abandonOutbox()
	if c.replyBuf != nil {
		outboundPool.Put(c.replyBuf)
		c.replyBuf = nil
	}
	s.stats.closed.Add(1)
	s.stats.connections.Add(-1)
	if s.onClose != nil {
		s.onClose(c)
	}
	return gnet.None
}

// OnTraffic splits, decodes and dispatches every whole frame buffered on the
// connection, then writes the pass's replies with one Write. Called by gnet
// on the loop.
func (e *loopEvents) OnTraffic(gc gnet.Conn) gnet.Action {
	s := e.server
	c, ok := gc.Context().(*Conn)
	if !ok {
		return gnet.Close
	}
	action := s.readFrames(c, gc)
	if !c.flushLoopReplies(gc) {
		return gnet.Close
	}
	return action
}

// replyFlushBytes is how much a read pass's reply buffer may hold before it
// is written out mid-pass: a pass of many large replies (pipelined pulls)
// never builds one huge buffer, and the pending-bytes cap is checked after
// every such write.
const replyFlushBytes = 256 << 10

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

// readFrames handles whole frames until the buffered bytes run out.
func (s *Server) readFrames(c *Conn, gc gnet.Conn) gnet.Action {
	var frames, bytesIn uint64
	defer func() {
		s.stats.framesIn.Add(frames)
		s.stats.bytesIn.Add(bytesIn)
	}()
	for {
		frame, err := s.peekFrame(gc)
		if err != nil {
			s.rejectConn(c, "bad frame", err)
			return gnet.Close
		}
		if frame == nil {
			return gnet.None
		}
		buf := inboundPool.Get()
		buf.B = append(buf.B[:0], frame...)
		_, _ = gc.Discard(len(frame))
		frames++
		bytesIn += uint64(len(frame))
		if err := s.dispatch(c, buf); err != nil {
			s.rejectConn(c, "bad header", err)
			return gnet.Close
		}
		if c.replyBuf != nil && len(c.replyBuf.B) >= replyFlushBytes && !c.flushLoopReplies(gc) {
			return gnet.Close
		}
	}
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

// rejectConn counts and logs (rate-limited) a protocol violation.
func (s *Server) rejectConn(c *Conn, what string, err error) {
	s.stats.decodeErrors.Add(1)
	c.closed.Store(true)
	s.logLimited(&s.decodeLog, "closing connection: "+what,
		"conn", c.id, "remote", c.remoteAddr, "err", err)
}
