package client

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

// fakeServer is a name server and broker in one small remoting server on
// 127.0.0.1:0: it routes every topic to itself with one queue and answers
// what the SDK sends with canned responses. handle may override any
// request (return nil to fall back to the default answer).
type fakeServer struct {
	t      testing.TB
	ln     net.Listener
	handle func(fc *fakeConn, req *remoting.Command) *remoting.Command
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []*fakeConn
	seen  []*remoting.Command
	next  int64 // next queue offset
}

type fakeConn struct {
	conn net.Conn
	wmu  sync.Mutex
	out  *bufio.Writer
}

func (fc *fakeConn) send(cmd *remoting.Command) error { return fc.write(cmd, true) }

// write queues cmd and flushes when asked: responses are flushed once the
// requests read so far are answered.
func (fc *fakeConn) write(cmd *remoting.Command, flush bool) error {
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	if _, err := fc.out.Write(remoting.AppendFrame(nil, cmd)); err != nil {
		return err
	}
	if !flush {
		return nil
	}
	return fc.out.Flush()
}

func newFakeServer(t testing.TB, handle func(*fakeConn, *remoting.Command) *remoting.Command) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, ln: ln, handle: handle}
	s.wg.Go(s.accept)
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) addr() string { return s.ln.Addr().String() }

func (s *fakeServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, fc := range s.conns {
		fc.conn.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *fakeServer) accept() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		fc := &fakeConn{conn: conn, out: bufio.NewWriterSize(conn, 64<<10)}
		s.mu.Lock()
		s.conns = append(s.conns, fc)
		s.mu.Unlock()
		s.wg.Go(func() { s.serve(fc) })
	}
}

func (s *fakeServer) serve(fc *fakeConn) {
	r := bufio.NewReaderSize(fc.conn, 64<<10)
	for {
		var prefix [4]byte
		if _, err := io.ReadFull(r, prefix[:]); err != nil {
			return
		}
		frame := make([]byte, 4+int(binary.BigEndian.Uint32(prefix[:])))
		copy(frame, prefix[:])
		if _, err := io.ReadFull(r, frame[4:]); err != nil {
			return
		}
		req := new(remoting.Command)
		if err := remoting.Decode(frame, req); err != nil {
			s.t.Errorf("fake server: bad frame: %v", err)
			return
		}
		if req.IsResponse() {
			continue
		}
		s.mu.Lock()
		s.seen = append(s.seen, req)
		s.mu.Unlock()
		var resp *remoting.Command
		if s.handle != nil {
			resp = s.handle(fc, req)
		}
		if resp == nil {
			resp = s.answer(req)
		}
		if resp == nil || req.Code == remoting.RequestEndTransaction {
			resp = nil
		}
		if resp != nil {
			resp.Opaque, resp.Flag = req.Opaque, remoting.FlagResponse
		}
		if err := fc.reply(resp, r.Buffered() == 0); err != nil {
			return
		}
	}
}

// reply writes resp (if any) and flushes when asked.
func (fc *fakeConn) reply(resp *remoting.Command, flush bool) error {
	if resp != nil {
		return fc.write(resp, flush)
	}
	if !flush {
		return nil
	}
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	return fc.out.Flush()
}

// requests returns the requests seen with code.
func (s *fakeServer) requests(code int16) []*remoting.Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*remoting.Command
	for _, r := range s.seen {
		if r.Code == code {
			out = append(out, r)
		}
	}
	return out
}

func (s *fakeServer) route(topic string) []byte {
	r := routing.TopicRouteData{
		BrokerDatas: []routing.BrokerData{{BrokerAddrs: routing.BrokerAddrs{0: s.addr()}, BrokerName: "fake", Cluster: "c"}},
		QueueDatas:  []routing.QueueData{{BrokerName: "fake", Perm: 6, ReadQueueNums: 1, WriteQueueNums: 1}},
	}
	body, err := r.Encode()
	if err != nil {
		s.t.Fatal(err)
	}
	return body
}

// answer is the default response to req.
func (s *fakeServer) answer(req *remoting.Command) *remoting.Command {
	resp := remoting.NewResponse(req, remoting.ResponseSuccess, "")
	switch req.Code {
	case remoting.RequestGetRouteInfoByTopic:
		topic, _ := req.Ext.Get(remoting.ExtTopic)
		resp.Body = s.route(topic)
	case remoting.RequestSendMessage, remoting.RequestSendMessageV2, remoting.RequestSendBatchMessage:
		s.mu.Lock()
		offset := s.next
		s.next++
		s.mu.Unlock()
		resp.SetExtInt64(remoting.ExtQueueOffset, offset)
		resp.SetExtInt64(remoting.ExtQueueID, 0)
		resp.Ext.Set(remoting.ExtMsgID, remoting.OffsetMsgID(net.IPv4(127, 0, 0, 1), 10911, 1000+offset))
	}
	return resp
}
