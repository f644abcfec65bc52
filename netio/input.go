package netio

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// inputBudgetExemptBytes is how much a connection may buffer, counting the
// frame it is receiving, without ever being closed for the server's input
// budget: ordinary requests arrive whole or in a few reads, and a
// neighbour sending them must not pay for the clients that hoard. Their
// bytes still count toward the total.
const inputBudgetExemptBytes = 64 << 10

// trackInput runs on c's loop after every read and every read pass. It
// charges the bytes c holds to the server's buffered-input total, starts or
// stops c's incomplete-frame clock, and reports whether c must close
// because what it holds, or the frame it is receiving once complete, would
// take the total past MaxBufferedInput. frameDone reports that the pass
// served at least one frame, so an incomplete frame at the front is a new
// one. Loop-only.
func (c *Conn) trackInput(gc gnet.Conn, frameDone bool) (closeConn bool) {
	s := c.server
	held := int64(gc.InboundBuffered())
	total := s.bufferedInput.Add(held - c.inputCharged)
	c.inputCharged = held
	// Whole frames waiting for a resume pass are not an incomplete frame:
	// the pass is on its way.
	waiting := c.framesDeferred || c.resumeQueued
	switch {
	case held == 0 || waiting:
		c.partialSince.Store(0)
	case frameDone || c.partialSince.Load() == 0:
		c.partialSince.Store(time.Now().UnixNano())
	}
	need := held
	if !waiting {
		need = max(held, int64(frontFrameSize(gc)))
	}
	if need <= inputBudgetExemptBytes || total-held+need <= int64(s.opts.MaxBufferedInput) {
		return false
	}
	c.markClose(CloseInputBudget)
	c.closed.Store(true)
	s.logLimited(&s.inputLog, "closing connection: buffered input over the server's budget",
		"reason", CloseInputBudget.String(), "conn", c.id, "remote", c.remoteAddr, "heldBytes", held,
		"frameBytes", need, "bufferedInputBytes", total, "maxBufferedInput", s.opts.MaxBufferedInput)
	return true
}

// uncharge removes c's bytes from the server's buffered-input total when it
// closes. Loop-only.
func (c *Conn) uncharge() {
	c.server.bufferedInput.Add(-c.inputCharged)
	c.inputCharged = 0
	c.partialSince.Store(0)
}

// frontFrameSize is the declared size of the frame at the front of the
// buffered bytes (validated against MaxFrameSize by peekFrame), or the
// buffered count while the length prefix is incomplete.
func frontFrameSize(gc frameSource) int {
	buffered := gc.InboundBuffered()
	if buffered < lengthPrefixSize {
		return buffered
	}
	prefix, err := gc.Peek(lengthPrefixSize)
	if err != nil || len(prefix) < lengthPrefixSize {
		return buffered
	}
	return int(binary.BigEndian.Uint32(prefix)) + lengthPrefixSize
}

// sweepInterval is how often the frame sweeper looks for expired
// incomplete frames: a connection is closed between FrameReadTimeout and
// FrameReadTimeout plus one interval after its frame's first byte.
func (s *Server) sweepInterval() time.Duration {
	return min(s.opts.FrameReadTimeout/4, time.Second)
}

// runFrameSweeper enforces FrameReadTimeout with one goroutine per server
// rather than a timer per connection. It ends with the event loops.
func (s *Server) runFrameSweeper() {
	ticker := time.NewTicker(s.sweepInterval())
	defer ticker.Stop()
	for {
		select {
		case now := <-ticker.C:
			s.sweepIncompleteFrames(now)
		case <-s.runDone:
			return
		}
	}
}

// sweepIncompleteFrames asks the loop of every connection whose incomplete
// frame started before now minus FrameReadTimeout to close it. The loop
// checks again, since the frame may have completed meanwhile.
func (s *Server) sweepIncompleteFrames(now time.Time) {
	deadline := now.Add(-s.opts.FrameReadTimeout).UnixNano()
	var expired []*Conn
	s.conns.Lock()
	for _, c := range s.conns.byID {
		if since := c.partialSince.Load(); since != 0 && since <= deadline && !c.expiryQueued.Load() {
			expired = append(expired, c)
		}
	}
	s.conns.Unlock()
	for _, c := range expired {
		c.expiryQueued.Store(true)
		if err := c.gc.EventLoop().Execute(context.Background(), gnet.RunnableFunc(c.expireIncompleteFrame)); err != nil {
			return // the engine is shutting down
		}
	}
}

// expireIncompleteFrame runs on c's loop: it closes c if its incomplete
// frame is still older than FrameReadTimeout.
func (c *Conn) expireIncompleteFrame(context.Context) error {
	c.expiryQueued.Store(false)
	since := c.partialSince.Load()
	if c.closed.Load() || since == 0 {
		return nil
	}
	age := time.Since(time.Unix(0, since))
	if age < c.server.opts.FrameReadTimeout {
		return nil
	}
	c.markClose(CloseFrameTimeout)
	c.closed.Store(true)
	c.server.logLimited(&c.server.inputLog, "closing connection: frame not completed in time",
		"reason", CloseFrameTimeout.String(), "conn", c.id, "remote", c.remoteAddr,
		"heldBytes", c.inputCharged, "age", age.Round(time.Millisecond), "frameReadTimeout", c.server.opts.FrameReadTimeout)
	// Loop-only, like the Close action OnTraffic would return.
	_ = c.gc.EventLoop().Close(c.gc)
	return nil
}
