package remoting

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testServer is a tiny remoting server on 127.0.0.1:0. Each request is
// answered by respond (nil: no answer) on its own goroutine, so answers
// can come back out of order.
type testServer struct {
	ln      net.Listener
	respond func(conn *testServerConn, req *Command) *Command
	mu      sync.Mutex
	conns   []*testServerConn
	wg      sync.WaitGroup
}

type testServerConn struct {
	conn    net.Conn
	writeMu sync.Mutex
	// replies receives responses to requests the server initiated.
	replies chan *Command
}

func (c *testServerConn) write(cmd *Command) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_, err := c.conn.Write(AppendFrame(nil, cmd))
	return err
}

func newTestServer(t *testing.T, respond func(*testServerConn, *Command) *Command) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{ln: ln, respond: respond}
	s.wg.Add(1)
	go s.acceptLoop()
	t.Cleanup(s.close)
	return s
}

func (s *testServer) addr() string { return s.ln.Addr().String() }

func (s *testServer) acceptLoop() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		sc := &testServerConn{conn: conn, replies: make(chan *Command, 16)}
		s.mu.Lock()
		s.conns = append(s.conns, sc)
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(sc)
	}
}

func (s *testServer) serve(sc *testServerConn) {
	defer s.wg.Done()
	for {
		var prefix [4]byte
		if _, err := io.ReadFull(sc.conn, prefix[:]); err != nil {
			return
		}
		length := int(prefix[0])<<24 | int(prefix[1])<<16 | int(prefix[2])<<8 | int(prefix[3])
		frame := make([]byte, 4+length)
		copy(frame, prefix[:])
		if _, err := io.ReadFull(sc.conn, frame[4:]); err != nil {
			return
		}
		cmd := new(Command)
		if err := Decode(frame, cmd); err != nil {
			return
		}
		if cmd.IsResponse() {
			sc.replies <- cmd
			continue
		}
		go func() {
			if resp := s.respond(sc, cmd); resp != nil {
				_ = sc.write(resp)
			}
		}()
	}
}

// dropConnections closes every accepted connection.
func (s *testServer) dropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.conn.Close()
	}
	s.conns = nil
}

func (s *testServer) connection(t *testing.T) *testServerConn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		if len(s.conns) > 0 {
			c := s.conns[len(s.conns)-1]
			s.mu.Unlock()
			return c
		}
		s.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	t.Fatal("no connection accepted")
	return nil
}

func (s *testServer) close() {
	s.ln.Close()
	s.dropConnections()
	s.wg.Wait()
}

// echo answers with the request's body and ext, delaying by the "delayMs"
// ext so that pipelined answers return out of order.
func echo(_ *testServerConn, req *Command) *Command {
	if ms, err := req.ExtInt64("delayMs"); err == nil {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	if _, silent := req.Ext.Get("silent"); silent || req.IsOneway() {
		return nil
	}
	resp := NewResponse(req, ResponseSuccess, "")
	resp.Ext.Fields = append(resp.Ext.Fields, req.Ext.Fields...)
	resp.Body = req.Body
	return resp
}

func TestClientPipelinedRequests(t *testing.T) {
	srv := newTestServer(t, echo)
	c := NewClient(ClientOptions{})
	defer c.Close()
	const calls = 64
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req := NewRequest(RequestSendMessage)
			req.SetExtInt64("i", int64(i))
			req.SetExtInt64("delayMs", int64((calls-i)%5))
			req.Body = []byte{byte(i)}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := c.Invoke(ctx, srv.addr(), req)
			if err != nil {
				errs <- err
				return
			}
			if got, _ := resp.ExtInt64("i"); got != int64(i) || len(resp.Body) != 1 || resp.Body[0] != byte(i) ||
				resp.Opaque != req.Opaque {
				errs <- errors.New("response matched to the wrong request")
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	srv.mu.Lock()
	n := len(srv.conns)
	srv.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d connections for one address", n)
	}
}

func TestClientContextTimeout(t *testing.T) {
	srv := newTestServer(t, echo)
	c := NewClient(ClientOptions{})
	defer c.Close()
	req := NewRequest(RequestHeartbeat)
	req.Ext.Set("silent", "")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Invoke(ctx, srv.addr(), req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("timeout not honoured")
	}
	// The connection is still usable afterwards.
	if _, err := c.Invoke(context.Background(), srv.addr(), NewRequest(RequestHeartbeat)); err != nil {
		t.Fatal(err)
	}
}

func TestClientServerInitiatedRequest(t *testing.T) {
	srv := newTestServer(t, echo)
	c := NewClient(ClientOptions{})
	defer c.Close()
	handled := make(chan string, 1)
	c.SetRequestHandler(func(addr string, req *Command) *Command {
		group, _ := req.Ext.Get(ExtConsumerGroup)
		handled <- addr + "/" + group
		resp := NewResponse(req, ResponseSuccess, "handled")
		return resp
	})
	if _, err := c.Invoke(context.Background(), srv.addr(), NewRequest(RequestHeartbeat)); err != nil {
		t.Fatal(err)
	}
	sc := srv.connection(t)
	push := NewRequest(RequestGetConsumerRunningInfo)
	push.Ext.Set(ExtConsumerGroup, "cg")
	if err := sc.write(push); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-handled:
		if got != srv.addr()+"/cg" {
			t.Fatalf("handler saw %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler not called")
	}
	select {
	case resp := <-sc.replies:
		if resp.Opaque != push.Opaque || resp.Remark != "handled" || !resp.IsResponse() {
			t.Fatalf("reply %+v", resp)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reply to the server's request")
	}
}

func TestClientNoHandlerAnswersNotSupported(t *testing.T) {
	srv := newTestServer(t, echo)
	c := NewClient(ClientOptions{})
	defer c.Close()
	if _, err := c.Invoke(context.Background(), srv.addr(), NewRequest(RequestHeartbeat)); err != nil {
		t.Fatal(err)
	}
	sc := srv.connection(t)
	push := NewRequest(RequestNotifyConsumerIDsChanged)
	_ = sc.write(push)
	select {
	case resp := <-sc.replies:
		if resp.Code != ResponseRequestCodeNotSupported || resp.Opaque != push.Opaque {
			t.Fatalf("reply %+v", resp)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reply")
	}
}

func TestClientReconnectsAfterBrokenConnection(t *testing.T) {
	srv := newTestServer(t, echo)
	c := NewClient(ClientOptions{})
	defer c.Close()
	if _, err := c.Invoke(context.Background(), srv.addr(), NewRequest(RequestHeartbeat)); err != nil {
		t.Fatal(err)
	}
	pending := NewRequest(RequestHeartbeat)
	pending.Ext.Set("silent", "")
	done := make(chan error, 1)
	go func() {
		_, err := c.Invoke(context.Background(), srv.addr(), pending)
		done <- err
	}()
	// Wait until the silent request reached the server, then break the link.
	deadline := time.Now().Add(5 * time.Second)
	for {
		srv.connection(t)
		c.mu.Lock()
		cc := c.mu.conns[srv.addr()]
		c.mu.Unlock()
		if cc != nil {
			cc.mu.Lock()
			inFlight := len(cc.mu.pending)
			cc.mu.Unlock()
			if inFlight > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("request never in flight")
		}
		time.Sleep(time.Millisecond)
	}
	srv.dropConnections()
	select {
	case err := <-done:
		if !errors.Is(err, ErrConnectionClosed) {
			t.Fatalf("in-flight call: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("in-flight call not failed")
	}
	if _, err := c.Invoke(context.Background(), srv.addr(), NewRequest(RequestHeartbeat)); err != nil {
		t.Fatalf("after reconnect: %v", err)
	}
}

func TestClientOnewayAndClose(t *testing.T) {
	got := make(chan *Command, 1)
	srv := newTestServer(t, func(_ *testServerConn, req *Command) *Command {
		got <- req
		return nil
	})
	c := NewClient(ClientOptions{})
	req := NewRequest(RequestUpdateConsumerOffset)
	req.SetExtInt64(ExtCommitOffset, 5)
	if err := c.InvokeOneway(context.Background(), srv.addr(), req); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if !r.IsOneway() || r.Opaque != req.Opaque {
			t.Fatalf("oneway request %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("oneway request not delivered")
	}
	c.Close()
	if _, err := c.Invoke(context.Background(), srv.addr(), NewRequest(RequestHeartbeat)); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func TestClientDialFailure(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c := NewClient(ClientOptions{DialTimeout: time.Second})
	defer c.Close()
	if _, err := c.Invoke(context.Background(), addr, NewRequest(RequestHeartbeat)); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
}

func TestClientBoundsPeerRequestsInFlight(t *testing.T) {
	srv := newTestServer(t, echo)
	c := NewClient(ClientOptions{})
	defer c.Close()
	release := make(chan struct{})
	var entered atomic.Int32
	c.SetRequestHandler(func(addr string, req *Command) *Command {
		entered.Add(1)
		<-release
		return NewResponse(req, ResponseSuccess, "handled")
	})
	if _, err := c.Invoke(context.Background(), srv.addr(), NewRequest(RequestHeartbeat)); err != nil {
		t.Fatal(err)
	}
	sc := srv.connection(t)
	for i := 0; i < maxServedRequests+10; i++ {
		if err := sc.write(NewRequest(RequestGetConsumerRunningInfo)); err != nil {
			t.Fatal(err)
		}
	}
	busy := 0
	deadline := time.After(5 * time.Second)
	for busy < 10 {
		select {
		case resp := <-sc.replies:
			if resp.Code != ResponseSystemBusy {
				t.Fatalf("reply before release: code %d %q", resp.Code, resp.Remark)
			}
			busy++
		case <-deadline:
			t.Fatalf("%d SYSTEM_BUSY replies, want 10", busy)
		}
	}
	if n := entered.Load(); n > maxServedRequests {
		t.Fatalf("%d requests served at once, limit %d", n, maxServedRequests)
	}
	close(release)
	for served := 0; served < maxServedRequests; served++ {
		select {
		case resp := <-sc.replies:
			if resp.Code != ResponseSuccess {
				t.Fatalf("reply after release: code %d", resp.Code)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d held requests answered", served, maxServedRequests)
		}
	}
}
