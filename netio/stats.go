package netio

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a server's counters. Counters only grow, except
// Connections.
type Stats struct {
	Name               string
	Connections        int64  // open now
	Accepted           uint64 // opened since Start
	Closed             uint64 // closed since Start
	FramesIn           uint64 // whole frames read
	FramesOut          uint64 // frames encoded for writing
	BytesIn            uint64 // bytes of whole frames read
	BytesOut           uint64 // bytes of frames encoded for writing
	DecodeErrors       uint64 // connections closed for a bad frame or header
	SlowConsumerCloses uint64 // connections closed for exceeding MaxPendingBytes
	UnknownCodes       uint64 // requests answered with REQUEST_CODE_NOT_SUPPORTED
	OutboxWrites       uint64 // AsyncWritev batches submitted from outboxes
	HandlerPanics      uint64 // handler panics recovered (answered SYSTEM_ERROR)
	Refused            uint64 // requests the Gate refused (answered NO_PERMISSION)
	// ClosedBy counts closed connections by CloseReason; the entries sum
	// to Closed.
	ClosedBy [NumCloseReasons]uint64
	// BufferedInputBytes is the request bytes buffered now across all
	// connections: incomplete frames and frames waiting for a read pass.
	BufferedInputBytes int64
}

type serverStats struct {
	connections        atomic.Int64
	accepted           atomic.Uint64
	closed             atomic.Uint64
	framesIn           atomic.Uint64
	framesOut          atomic.Uint64
	bytesIn            atomic.Uint64
	bytesOut           atomic.Uint64
	decodeErrors       atomic.Uint64
	slowConsumerCloses atomic.Uint64
	unknownCodes       atomic.Uint64
	outboxWrites       atomic.Uint64
	handlerPanics      atomic.Uint64
	closedBy           [NumCloseReasons]atomic.Uint64
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	st := &s.stats
	out := Stats{
		Name:               s.opts.Name,
		Connections:        st.connections.Load(),
		Accepted:           st.accepted.Load(),
		Closed:             st.closed.Load(),
		FramesIn:           st.framesIn.Load(),
		FramesOut:          st.framesOut.Load(),
		BytesIn:            st.bytesIn.Load(),
		BytesOut:           st.bytesOut.Load(),
		DecodeErrors:       st.decodeErrors.Load(),
		SlowConsumerCloses: st.slowConsumerCloses.Load(),
		UnknownCodes:       st.unknownCodes.Load(),
		OutboxWrites:       st.outboxWrites.Load(),
		HandlerPanics:      st.handlerPanics.Load(),
		Refused:            s.gate.refused.Load(),
	}
	out.BufferedInputBytes = s.bufferedInput.Load()
	for r := range out.ClosedBy {
		out.ClosedBy[r] = st.closedBy[r].Load()
	}
	return out
}

// logLimiter lets through at most logBurstPerSecond lines per second for one
// kind of event and counts the rest, so a flood of bad clients cannot flood
// the log.
type logLimiter struct {
	second     atomic.Int64
	inSecond   atomic.Int64
	suppressed atomic.Int64
}

const logBurstPerSecond = 5

func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int64) {
	sec := now.Unix()
	if old := l.second.Load(); old != sec && l.second.CompareAndSwap(old, sec) {
		l.inSecond.Store(0)
	}
	if l.inSecond.Add(1) > logBurstPerSecond {
		l.suppressed.Add(1)
		return false, 0
	}
	return true, l.suppressed.Swap(0)
}

// logLimited writes one warning through l's rate limit.
func (s *Server) logLimited(l *logLimiter, msg string, args ...any) {
	ok, suppressed := l.allow(time.Now())
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressedSinceLast", suppressed)
	}
	s.log.Warn(msg, args...)
}

// gnetLogger routes gnet's own log lines into the server's slog.Logger.
// gnet's info lines (the event loops it launched) repeat what the server
// logs itself, so they go to debug.
type gnetLogger struct{ log *slog.Logger }

func (g gnetLogger) logf(level slog.Level, format string, args ...any) {
	if g.log.Enabled(context.Background(), level) {
		g.log.Log(context.Background(), level, "gnet: "+fmt.Sprintf(format, args...))
	}
}

func (g gnetLogger) Debugf(format string, args ...any) { g.logf(slog.LevelDebug, format, args...) }
func (g gnetLogger) Infof(format string, args ...any)  { g.logf(slog.LevelDebug, format, args...) }
func (g gnetLogger) Warnf(format string, args ...any)  { g.logf(slog.LevelWarn, format, args...) }
func (g gnetLogger) Errorf(format string, args ...any) { g.logf(slog.LevelError, format, args...) }
func (g gnetLogger) Fatalf(format string, args ...any) { g.logf(slog.LevelError, format, args...) }
