package netio

import (
	"sync/atomic"

	"github.com/cometmq/comet/netio/remoting"
)

// Gate is the access-control hook of a Server (Options.Gate): it decides,
// before a request reaches its handler, whether the request may be served.
// Admit runs on the event loop for every request and must not block; a
// non-nil error refuses the request. acl.Gate implements it.
type Gate interface {
	Admit(remoteAddr string, cmd *remoting.Command) error
}

// gateState counts and logs refusals.
type gateState struct {
	refused atomic.Uint64
	log     logLimiter
}

// admit asks the gate about req. A refused request is answered
// NO_PERMISSION with the gate's error as remark, counted and logged
// (rate-limited); the connection stays open. Loop-only.
func (s *Server) admit(req *Request) bool {
	err := s.opts.Gate.Admit(req.Conn.remoteAddr, &req.Cmd)
	if err == nil {
		return true
	}
	s.gate.refused.Add(1)
	s.logLimited(&s.gate.log, "request refused", "code", req.Cmd.Code, "conn", req.Conn.id,
		"remote", req.Conn.remoteAddr, "reason", err.Error())
	req.Reply(remoting.NewResponse(&req.Cmd, remoting.ResponseNoPermission, err.Error()))
	return false
}
