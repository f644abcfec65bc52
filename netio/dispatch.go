package netio

import (
	"fmt"
	"runtime/debug"
	"strconv"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/valyala/bytebufferpool"
)

// dispatch decodes one frame (owned by buf) and routes it: responses complete
// an Invoke, requests go to their handler or get REQUEST_CODE_NOT_SUPPORTED.
// It returns the decode error, after which the connection is closed.
func (s *Server) dispatch(c *Conn, buf *bytebufferpool.ByteBuffer) error {
	req := requestPool.Get().(*Request)
	req.Conn = c
	req.frame = buf
	if err := remoting.Decode(buf.B, &req.Cmd); err != nil {
		req.Release()
		return err
	}
	if req.Cmd.IsResponse() {
		c.completeInvoke(&req.Cmd)
		req.Release()
		return nil
	}
	if s.opts.Gate != nil && !s.admit(req) {
		req.Release()
		return nil
	}
	handler, ok := s.handlers[req.Cmd.Code]
	if !ok {
		s.replyNotSupported(req)
		req.Release()
		return nil
	}
	c.handlerDetached = false
	if s.runHandler(handler, req) && !c.handlerDetached {
		req.Reply(remoting.NewResponse(&req.Cmd, remoting.ResponseSystemError, "internal error"))
	}
	if !c.handlerDetached {
		req.Release()
	}
	return nil
}

// runHandler calls h and turns a panic into a logged, counted event so one
// faulty handler cannot take the event loop (and every connection on it)
// down. It reports whether h panicked.
func (s *Server) runHandler(h Handler, req *Request) (panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			panicked = true
			s.stats.handlerPanics.Add(1)
			s.logLimited(&s.panicLog, "handler panicked",
				"code", req.Cmd.Code, "conn", req.Conn.id, "panic", fmt.Sprint(v),
				"stack", string(debug.Stack()))
		}
	}()
	h(req)
	return false
}

// replyNotSupported answers an unknown request code the way RocketMQ does.
func (s *Server) replyNotSupported(req *Request) {
	s.stats.unknownCodes.Add(1)
	s.logLimited(&s.unknownLog, "request code not supported",
		"conn", req.Conn.id, "remote", req.Conn.remoteAddr, "code", req.Cmd.Code)
	remark := " request type " + strconv.Itoa(int(req.Cmd.Code)) + " not supported"
	req.Reply(remoting.NewResponse(&req.Cmd, remoting.ResponseRequestCodeNotSupported, remark))
}
