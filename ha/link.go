package ha

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// link is one replica connection on the master: serve runs the handshake
// and then the sender on its goroutine, readLoop the acknowledgements on
// another. Either ending closes the connection, which ends the other.
type link struct {
	s         *Server
	conn      net.Conn
	id        int64
	sent      atomic.Int64 // end of what was sent: acks beyond it are bogus
	closeOnce sync.Once
	done      chan struct{}
}

func (l *link) close() {
	l.closeOnce.Do(func() {
		close(l.done)
		l.conn.Close()
	})
}

// serve handshakes with a replica and streams to it until either side
// ends the connection.
func (s *Server) serve(conn net.Conn) {
	l := &link{s: s, conn: conn, done: make(chan struct{})}
	defer l.close()
	dec := NewDecoder(conn)
	conn.SetDeadline(s.opts.Now().Add(s.opts.Timeout))
	f, err := dec.Next()
	hello, ok := f.(*Hello)
	if err != nil || !ok {
		s.refuse(l, CodeBadFrame, fmt.Sprintf("want HELLO first: %v", err))
		return
	}
	start, epochs, code, why := s.admit(l, hello)
	if code != 0 {
		s.refuse(l, code, why)
		return
	}
	defer s.dropLink(l)
	s.log.Info("ha: replica connected", "replica", hello.BrokerID, "addr", conn.RemoteAddr().String(),
		"offset", hello.Offset, "start", start, "syncFlush", hello.SyncFlush)
	s.mu.Lock()
	epoch := s.mu.epoch
	s.mu.Unlock()
	welcome := AppendWelcome(nil, Welcome{Epoch: epoch, Start: start,
		MasterEnd: s.opts.Source.WrittenOffset(), SegmentSize: s.opts.SegmentSize, Epochs: epochs})
	if _, err := conn.Write(welcome); err != nil {
		return
	}
	conn.SetDeadline(time.Time{})
	l.sent.Store(start)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer l.close()
		if err := l.readLoop(dec); !errors.Is(err, net.ErrClosed) {
			s.log.Warn("ha: replica connection ended", "replica", l.id, "err", err)
		}
	}()
	if err := l.sendLoop(start); err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Warn("ha: replica stream ended", "replica", l.id, "err", err)
	}
}

// admit checks a HELLO and registers the link as its member's; it
// returns where the stream starts and the master's epoch entries, or an
// error code and reason.
func (s *Server) admit(l *link, h *Hello) (start int64, epochs []EpochEntry, code uint16, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.mu.master:
		return 0, nil, CodeNotMaster, "this broker is not master"
	case h.BrokerName != s.opts.BrokerName:
		return 0, nil, CodeWrongGroup, fmt.Sprintf("replica of %q, master of %q", h.BrokerName, s.opts.BrokerName)
	case h.BrokerID == 0:
		return 0, nil, CodeBadFrame, "a replica's broker id is at least 1"
	case h.Epoch > s.mu.epoch:
		if s.opts.OnFenced != nil {
			go s.opts.OnFenced(h.Epoch)
		}
		return 0, nil, CodeStaleEpoch, fmt.Sprintf("master epoch %d, replica knows %d", s.mu.epoch, h.Epoch)
	}
	start, epochs, code, why = s.streamStart(h)
	if code != 0 {
		return 0, nil, code, why
	}
	m := s.mu.members[h.BrokerID]
	if m == nil {
		m = &member{id: h.BrokerID, lastCaughtUp: s.opts.Now()}
		s.mu.members[h.BrokerID] = m
	}
	if old := m.link; old != nil {
		s.log.Warn("ha: replica reconnected; closing its previous connection", "replica", h.BrokerID)
		go old.close()
	}
	l.id = h.BrokerID
	m.link, m.addr = l, l.conn.RemoteAddr().String()
	m.appended, m.synced = start, min(start, h.Offset)
	s.mu.links[l] = struct{}{}
	s.broadcastLocked()
	return start, epochs, 0, ""
}

// streamStart is where a replica's stream begins: its divergence point
// with this master's log (the shorter log without epochs), or the oldest
// offset kept for an empty replica.
func (s *Server) streamStart(h *Hello) (start int64, epochs []EpochEntry, code uint16, why string) {
	end, first := s.opts.Source.WrittenOffset(), s.opts.Source.MinPhysicalOffset()
	start = min(h.Offset, end)
	if s.opts.Epochs != nil {
		epochs = s.opts.Epochs()
		point, ok := DivergencePoint(epochs, end, h.Epochs, h.Offset)
		if !ok {
			return 0, nil, CodeDiverged, fmt.Sprintf("replica's log (end %d, newest epochs %v) shares no epoch range with the master's (newest %v)",
				h.Offset, lastEpochs(h.Epochs), lastEpochs(epochs))
		}
		start = point
	}
	if start < first {
		if h.Offset != 0 {
			return 0, nil, CodeBehindLog, fmt.Sprintf("replica ends at %d, master's log starts at %d", h.Offset, first)
		}
		start = first // an empty replica starts with the oldest segment kept
	}
	return start, epochs, 0, ""
}

func (s *Server) dropLink(l *link) {
	s.mu.Lock()
	delete(s.mu.links, l)
	if m := s.mu.members[l.id]; m != nil && m.link == l {
		m.link = nil
	}
	s.broadcastLocked()
	s.mu.Unlock()
}

func (s *Server) refuse(l *link, code uint16, why string) {
	s.stats.Refused.Add(1)
	s.log.Warn("ha: replica refused", "addr", l.conn.RemoteAddr().String(), "code", code, "reason", why)
	l.conn.SetWriteDeadline(s.opts.Now().Add(s.opts.Timeout))
	l.conn.Write(AppendError(nil, ErrorFrame{Code: code, Message: why}))
}

// readLoop takes the replica's acknowledgements until the connection ends.
func (l *link) readLoop(dec *Decoder) error {
	for {
		l.conn.SetReadDeadline(l.s.opts.Now().Add(l.s.opts.Timeout))
		f, err := dec.Next()
		if err != nil {
			return err
		}
		switch f := f.(type) {
		case *Ack:
			if err := l.s.noteAck(l, f); err != nil {
				return err
			}
		case *ErrorFrame:
			return f
		default:
			return fmt.Errorf("%w: %T from a replica", ErrFrame, f)
		}
	}
}

// sendLoop streams the log from next on, with heartbeats when idle and
// metadata blobs when they change.
func (l *link) sendLoop(next int64) error {
	s := l.s
	w := bufio.NewWriterSize(l.conn, 256<<10)
	hb := time.NewTicker(s.opts.Heartbeat)
	defer hb.Stop()
	meta := time.NewTicker(s.opts.MetaInterval)
	defer meta.Stop()
	sentMeta := map[byte]uint64{}
	hdr := make([]byte, 0, 32)
	if err := l.sendMeta(w, sentMeta); err != nil {
		return err
	}
	for {
		wake := s.wakeChan()
		data, err := s.opts.Source.ReadRaw(next, s.opts.ChunkBytes)
		if err != nil {
			return err
		}
		if len(data) > 0 {
			l.conn.SetWriteDeadline(s.opts.Now().Add(s.opts.Timeout))
			hdr = AppendDataHeader(hdr[:0], next, s.CommitPoint(), data)
			if _, err := w.Write(hdr); err != nil {
				return err
			}
			if _, err := w.Write(data); err != nil {
				return err
			}
			next += chunkAdvance(data)
			l.sent.Store(next)
			s.stats.DataFrames.Add(1)
			s.stats.BytesSent.Add(int64(len(data)))
			if next < s.opts.Source.WrittenOffset() {
				continue // more to send: let the buffer fill
			}
		}
		l.conn.SetWriteDeadline(s.opts.Now().Add(s.opts.Timeout))
		if err := w.Flush(); err != nil {
			return err
		}
		if len(data) > 0 {
			continue
		}
		select {
		case <-l.done:
			return net.ErrClosed
		case <-wake:
		case <-hb.C:
			err = l.write(w, AppendHeartbeat(hdr[:0], Heartbeat{MasterEnd: s.opts.Source.WrittenOffset(), Commit: s.CommitPoint()}))
		case <-meta.C:
			err = l.sendMeta(w, sentMeta)
		}
		if err != nil {
			return err
		}
	}
}

func (l *link) write(w *bufio.Writer, frame []byte) error {
	l.conn.SetWriteDeadline(l.s.opts.Now().Add(l.s.opts.Timeout))
	if _, err := w.Write(frame); err != nil {
		return err
	}
	return w.Flush()
}

var metaSeed = maphash.MakeSeed()

// sendMeta sends every metadata blob whose bytes changed since it was
// last sent on this link.
func (l *link) sendMeta(w *bufio.Writer, sent map[byte]uint64) error {
	if l.s.opts.Metadata == nil {
		return nil
	}
	for _, m := range l.s.opts.Metadata() {
		h := maphash.Bytes(metaSeed, m.Body)
		if old, ok := sent[m.Kind]; ok && old == h {
			continue
		}
		if len(m.Body)+frameHeaderLen+1 > MaxFrameBytes {
			l.s.log.Error("ha: metadata blob too large to replicate", "kind", m.Kind, "bytes", len(m.Body))
			continue
		}
		if err := l.write(w, AppendMeta(nil, m)); err != nil {
			return err
		}
		sent[m.Kind] = h
		l.s.stats.MetaFrames.Add(1)
	}
	return nil
}

// chunkAdvance is how far the log position moves past a chunk: its length,
// or for a lone blank record the rest of its segment.
func chunkAdvance(data []byte) int64 {
	if len(data) == 8 && binary.BigEndian.Uint32(data[4:]) == blankMagic {
		return int64(binary.BigEndian.Uint32(data))
	}
	return int64(len(data))
}

// blankMagic is the stored blank record's magic (persist.MagicBlank).
const blankMagic uint32 = 0xCBD43194

// lastEpochs is the newest few entries, for a log line.
func lastEpochs(e []EpochEntry) []EpochEntry { return e[max(0, len(e)-4):] }
