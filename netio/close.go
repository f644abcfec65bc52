package netio

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// CloseReason says why a connection closed. Every close is counted by
// reason (Stats.ClosedBy); every close the server decided or an error
// caused is logged with its reason, rate-limited.
type CloseReason uint32

// Close reasons. The String forms are the values of the metrics label.
const (
	CloseOther        CloseReason = iota // none of the below
	ClosePeer                            // the client closed or reset the connection
	CloseServerStop                      // Server.Stop
	CloseBadFrame                        // a frame that can never be valid (length, header word)
	CloseBadHeader                       // a header that does not decode
	CloseSlowConsumer                    // past MaxPendingBytes, outbound or unanswered requests
	CloseFrameTimeout                    // an incomplete frame not completed within FrameReadTimeout
	CloseInputBudget                     // a frame that would take buffered input past MaxBufferedInput
	CloseWriteError                      // writing to the socket failed
	CloseReadError                       // reading from the socket failed (other than a reset)
	CloseRequested                       // Conn.Close called by the application
	NumCloseReasons
)

var closeReasonNames = [NumCloseReasons]string{
	"other", "peer", "stop", "bad_frame", "bad_header", "slow_consumer",
	"frame_timeout", "input_budget", "write_error", "read_error", "requested",
}

func (r CloseReason) String() string {
	if r < NumCloseReasons {
		return closeReasonNames[r]
	}
	return "other"
}

// loggedAtClose reports whether OnClose logs a close for r: the reasons
// whose deciding code path does not log already, except the ordinary ones
// (the peer went away, the server stops).
func (r CloseReason) loggedAtClose() bool {
	switch r {
	case CloseOther, CloseWriteError, CloseReadError, CloseRequested:
		return true
	}
	return false
}

// markClose records why c is about to close; the first reason recorded
// wins. Safe from any goroutine.
func (c *Conn) markClose(r CloseReason) {
	c.closeReason.CompareAndSwap(uint32(CloseOther), uint32(r))
}

// closeReasonFor is the reason c closed: the one recorded by the code that
// closed it, else what the server's state or gnet's error tells.
func (s *Server) closeReasonFor(c *Conn, err error) CloseReason {
	if r := CloseReason(c.closeReason.Load()); r != CloseOther {
		return r
	}
	if s.stopping.Load() {
		return CloseServerStop
	}
	return classifyCloseError(err)
}

// classifyCloseError maps the error gnet closed a connection with to a
// reason. gnet wraps socket errors in an os.SyscallError naming the call.
func classifyCloseError(err error) CloseReason {
	switch {
	case err == nil:
		return CloseOther
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ClosePeer
	}
	var sysErr *os.SyscallError
	if errors.As(err, &sysErr) {
		switch sysErr.Syscall {
		case "read":
			return CloseReadError
		case "write", "writev":
			return CloseWriteError
		}
	}
	return CloseOther
}

// countClose counts c's close and logs it (rate-limited) when no code path
// logged it already. Loop-only, from OnClose.
func (s *Server) countClose(c *Conn, err error) {
	reason := s.closeReasonFor(c, err)
	s.stats.closedBy[reason].Add(1)
	if !reason.loggedAtClose() {
		return
	}
	args := []any{"reason", reason.String(), "conn", c.id, "remote", c.remoteAddr}
	if err != nil {
		args = append(args, "err", err)
	}
	s.logLimited(&s.closeLog, "connection closed", args...)
}
