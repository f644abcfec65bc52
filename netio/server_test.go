package netio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

func TestOptionsValidate(t *testing.T) {
	o := Options{Addr: "127.0.0.1:0"}
	if err := o.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if o.MaxFrameSize != remoting.DefaultMaxFrameSize || o.MaxPendingBytes != DefaultMaxPendingBytes ||
		o.NumEventLoops < 1 || o.Logger == nil {
		t.Fatalf("defaults not applied: %+v", o)
	}
	bad := []Options{
		{},
		{Addr: "no-port"},
		{Addr: "127.0.0.1:0", NumEventLoops: -1},
		{Addr: "127.0.0.1:0", MaxFrameSize: 4},
		{Addr: "127.0.0.1:0", MaxPendingBytes: -1},
	}
	for _, o := range bad {
		if err := o.Validate(); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidOptions", o, err)
		}
	}
}

func TestStartReportsBoundAddrAndListenError(t *testing.T) {
	s := startServer(t, Options{}, nil)
	if s.Addr() == "127.0.0.1:0" || s.Addr() == "" {
		t.Fatalf("Addr() = %q, want the bound port", s.Addr())
	}
	second, err := NewServer(Options{Addr: s.Addr(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Start(); err == nil {
		t.Fatalf("second Start on %s succeeded, want address-in-use error", s.Addr())
	}
}

func TestEchoPipelinedManyConnections(t *testing.T) {
	s := startServer(t, Options{}, func(s *Server) { s.Handle(codeEcho, echo) })
	const conns, perConn = 8, 500
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		tc := dial(t, s.Addr())
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- pipelineEcho(tc, i, perConn)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.FramesIn != conns*perConn || st.FramesOut != conns*perConn || st.Accepted != conns {
		t.Fatalf("stats %+v, want %d frames each way over %d connections", st, conns*perConn, conns)
	}
}

// pipelineEcho writes all requests in one go and then checks every reply,
// in order, by opaque and body.
func pipelineEcho(tc *testClient, connIndex, count int) error {
	var all []byte
	for i := range count {
		_, frame := tc.request(codeEcho, fmt.Appendf(nil, "conn %d req %d", connIndex, i))
		all = append(all, frame...)
	}
	writeErr := make(chan error, 1)
	go func() { writeErr <- tc.write(all) }()
	for i := range count {
		resp, err := tc.read(5 * time.Second)
		if err != nil {
			return fmt.Errorf("conn %d reply %d: %w", connIndex, i, err)
		}
		want := fmt.Sprintf("conn %d req %d", connIndex, i)
		if resp.Opaque != int32(i+1) || string(resp.Body) != want {
			return fmt.Errorf("conn %d reply %d: opaque %d body %q", connIndex, i, resp.Opaque, resp.Body)
		}
	}
	return <-writeErr
}

func TestDetachedRepliesArriveCoalesced(t *testing.T) {
	const detached = 100
	parked := make(chan *Request, detached)
	loopBlocked := make(chan struct{})
	repliesQueued := make(chan struct{})
	s := startServer(t, Options{NumEventLoops: 1}, func(s *Server) {
		s.Handle(codeDetach, func(req *Request) {
			req.Detach()
			parked <- req // buffered for every request of the test: never blocks
		})
		// codeBlock holds the loop until the worker has queued every reply,
		// so they must leave as one coalesced batch after the first write.
		s.Handle(codeBlock, func(req *Request) {
			close(loopBlocked)
			select {
			case <-repliesQueued:
			case <-time.After(5 * time.Second):
			}
			echo(req)
		})
	})
	tc := dial(t, s.Addr())
	var all []byte
	for i := range detached {
		_, frame := tc.request(codeDetach, fmt.Appendf(nil, "d%d", i))
		all = append(all, frame...)
	}
	_, blockFrame := tc.request(codeBlock, []byte("block"))
	if err := tc.write(all); err != nil {
		t.Fatal(err)
	}
	go func() {
		var reqs []*Request
		for range detached {
			reqs = append(reqs, <-parked)
		}
		<-loopBlocked
		for _, req := range reqs {
			resp := remoting.NewResponse(&req.Cmd, remoting.ResponseSuccess, "")
			resp.Body = bytes.Clone(req.Cmd.Body)
			req.Reply(resp)
			req.Release()
		}
		close(repliesQueued)
	}()
	testutil.WaitFor(t, 5*time.Second, "all detached requests parked", func() bool { return s.Stats().FramesIn == detached })
	if err := tc.write(blockFrame); err != nil {
		t.Fatal(err)
	}
	seen := make(map[int32]string)
	for range detached + 1 {
		resp := tc.mustRead()
		seen[resp.Opaque] = string(resp.Body)
	}
	for i := range detached {
		if got, want := seen[int32(i+1)], fmt.Sprintf("d%d", i); got != want {
			t.Fatalf("reply to opaque %d: body %q, want %q", i+1, got, want)
		}
	}
	if got := s.Stats().OutboxWrites; got != 2 {
		t.Fatalf("OutboxWrites = %d for %d detached replies, want 2 (first write plus one coalesced batch)", got, detached)
	}
}

func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	oversized := []byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 2, '{', '}'}
	nonJSON := remoting.AppendFrame(nil, &remoting.Command{Code: codeEcho})
	headerLen := int(nonJSON[7]) | int(nonJSON[6])<<8 | int(nonJSON[5])<<16
	for i := 8; i < 8+headerLen; i++ {
		nonJSON[i] = 'x'
	}
	cases := map[string][]byte{
		"garbage":   []byte("GET / HTTP/1.1\r\nHost: comet\r\n\r\n"),
		"tiny":      {0, 0, 0, 1, 0},
		"oversized": oversized,
		"nonJSON":   nonJSON,
	}
	s := startServer(t, Options{MaxFrameSize: 1 << 20}, func(s *Server) { s.Handle(codeEcho, echo) })
	good := dial(t, s.Addr())
	for name, input := range cases {
		t.Run("input="+name, func(t *testing.T) {
			before := s.Stats().DecodeErrors
			bad := dial(t, s.Addr())
			if err := bad.write(input); err != nil {
				t.Fatal(err)
			}
			bad.expectClosed()
			good.roundTrip("still here after " + name)
			if got := s.Stats().DecodeErrors; got != before+1 {
				t.Fatalf("DecodeErrors = %d, want %d", got, before+1)
			}
		})
	}
}

func TestUnknownCodeAnsweredNotSupported(t *testing.T) {
	s := startServer(t, Options{}, nil)
	tc := dial(t, s.Addr())
	opaque := tc.send(9999, nil)
	resp := tc.mustRead()
	if resp.Code != remoting.ResponseRequestCodeNotSupported || resp.Opaque != opaque || !resp.IsResponse() {
		t.Fatalf("reply code %d opaque %d flag %d, want code 3 opaque %d response", resp.Code, resp.Opaque, resp.Flag, opaque)
	}
	if want := " request type 9999 not supported"; resp.Remark != want {
		t.Fatalf("remark %q, want %q", resp.Remark, want)
	}
	if got := s.Stats().UnknownCodes; got != 1 {
		t.Fatalf("UnknownCodes = %d, want 1", got)
	}
}

func TestSlowConsumerClosedOthersServed(t *testing.T) {
	const maxPending = 1 << 20
	subscribed := make(chan *Conn, 1)
	closed := make(chan uint64, 4)
	s := startServer(t, Options{MaxPendingBytes: maxPending}, func(s *Server) {
		s.Handle(codeEcho, echo)
		s.Handle(codeDetach, func(req *Request) { subscribed <- req.Conn })
		s.OnClose(func(c *Conn) { closed <- c.ID() })
	})
	slow := dial(t, s.Addr())
	slow.send(codeDetach, nil)
	c := <-subscribed
	push := remoting.NewRequest(codeEcho)
	push.Body = make([]byte, 64<<10)
	deadline := time.Now().Add(10 * time.Second)
	var sendErr error
	for sendErr == nil && time.Now().Before(deadline) {
		sendErr = c.Send(push)
		if c.PendingBytes() > 2*maxPending {
			t.Fatalf("PendingBytes %d exceeds twice the cap", c.PendingBytes())
		}
	}
	if !errors.Is(sendErr, ErrSlowConsumer) && !errors.Is(sendErr, ErrClosed) {
		t.Fatalf("Send error %v, want ErrSlowConsumer or ErrClosed", sendErr)
	}
	select {
	case id := <-closed:
		if id != c.ID() {
			t.Fatalf("closed conn %d, want %d", id, c.ID())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("slow consumer not closed")
	}
	if got := s.Stats().SlowConsumerCloses; got != 1 {
		t.Fatalf("SlowConsumerCloses = %d, want 1", got)
	}
	if err := c.Send(push); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after close = %v, want ErrClosed", err)
	}
	dial(t, s.Addr()).roundTrip("others still served")
}

func TestOnOpenOnCloseFire(t *testing.T) {
	var opened, closedCount atomic.Int64
	var closedID atomic.Uint64
	s := startServer(t, Options{}, func(s *Server) {
		s.Handle(codeEcho, echo)
		s.OnOpen(func(c *Conn) {
			opened.Add(1)
			c.SetAttachment("session")
		})
		s.OnClose(func(c *Conn) {
			if c.Attachment() == "session" {
				closedID.Store(c.ID())
				closedCount.Add(1)
			}
		})
	})
	tc := dial(t, s.Addr())
	tc.roundTrip("hello")
	var id uint64
	s.RangeConns(func(c *Conn) bool {
		id = c.ID()
		if c.RemoteAddr() != tc.conn.LocalAddr().String() || c.LocalAddr() != s.Addr() {
			t.Errorf("addresses remote %s local %s, want %s and %s", c.RemoteAddr(), c.LocalAddr(),
				tc.conn.LocalAddr(), s.Addr())
		}
		return true
	})
	_ = tc.conn.Close()
	testutil.WaitFor(t, 5*time.Second, "OnClose", func() bool { return closedCount.Load() == 1 })
	if opened.Load() != 1 || closedID.Load() != id {
		t.Fatalf("opened %d, closed id %d, want 1 and %d", opened.Load(), closedID.Load(), id)
	}
	if st := s.Stats(); st.Connections != 0 || st.Closed != 1 {
		t.Fatalf("stats after close: %+v", st)
	}
}

func TestInvokeRoundTrip(t *testing.T) {
	s := startServer(t, Options{}, nil)
	tc := dial(t, s.Addr())
	var c *Conn
	testutil.WaitFor(t, 5*time.Second, "connection registered", func() bool {
		s.RangeConns(func(conn *Conn) bool { c = conn; return false })
		return c != nil
	})
	// The client answers the first request and ignores the second.
	go func() {
		req, err := tc.read(5 * time.Second)
		if err != nil {
			return
		}
		resp := remoting.NewResponse(req, remoting.ResponseSuccess, "")
		resp.Body = append([]byte("pong:"), req.Body...)
		_ = tc.write(remoting.AppendFrame(nil, resp))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := remoting.NewRequest(40)
	req.Body = []byte("ping")
	resp, err := c.Invoke(ctx, req)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if string(resp.Body) != "pong:ping" || resp.Opaque != req.Opaque {
		t.Fatalf("Invoke reply body %q opaque %d, want pong:ping opaque %d", resp.Body, resp.Opaque, req.Opaque)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if _, err := c.Invoke(short, remoting.NewRequest(40)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered Invoke: %v, want DeadlineExceeded", err)
	}
	pending := make(chan error, 1)
	go func() {
		_, err := c.Invoke(context.Background(), remoting.NewRequest(40))
		pending <- err
	}()
	_, _ = tc.read(5 * time.Second) // the second unanswered request
	_, _ = tc.read(5 * time.Second) // the third
	_ = tc.conn.Close()
	select {
	case err := <-pending:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Invoke on closing connection: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Invoke not failed by close")
	}
}

func TestStopWithOpenConnections(t *testing.T) {
	var closedCount atomic.Int64
	s := startServer(t, Options{}, func(s *Server) {
		s.Handle(codeEcho, echo)
		s.OnClose(func(*Conn) { closedCount.Add(1) })
	})
	const conns = 10
	clients := make([]*testClient, conns)
	for i := range clients {
		clients[i] = dial(t, s.Addr())
		clients[i].roundTrip("before stop")
	}
	// Queue an outbox frame on every connection: Stop must flush it.
	s.RangeConns(func(c *Conn) bool {
		push := remoting.NewRequest(codeEcho)
		push.Body = []byte("farewell")
		if err := c.Send(push); err != nil {
			t.Errorf("Send: %v", err)
		}
		return true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for _, tc := range clients {
		if got := tc.mustRead(); string(got.Body) != "farewell" {
			t.Fatalf("after Stop read %q, want farewell", got.Body)
		}
		tc.expectClosed()
	}
	if closedCount.Load() != conns || s.Stats().Connections != 0 {
		t.Fatalf("OnClose ran %d times, %d connections left; want %d and 0",
			closedCount.Load(), s.Stats().Connections, conns)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestHandlerPanicAnsweredSystemError(t *testing.T) {
	s := startServer(t, Options{}, func(s *Server) {
		s.Handle(codeEcho, echo)
		s.Handle(codeBlock, func(*Request) { panic("handler bug") })
	})
	tc := dial(t, s.Addr())
	opaque := tc.send(codeBlock, nil)
	if resp := tc.mustRead(); resp.Code != remoting.ResponseSystemError || resp.Opaque != opaque {
		t.Fatalf("after panic: code %d opaque %d, want SYSTEM_ERROR opaque %d", resp.Code, resp.Opaque, opaque)
	}
	tc.roundTrip("loop survived")
	if got := s.Stats().HandlerPanics; got != 1 {
		t.Fatalf("HandlerPanics = %d, want 1", got)
	}
}

func TestLargeFrameArrivingInPieces(t *testing.T) {
	s := startServer(t, Options{}, func(s *Server) { s.Handle(codeEcho, echo) })
	tc := dial(t, s.Addr())
	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	cmd, frame := tc.request(codeEcho, body)
	for off := 0; off < len(frame); off += 4000 {
		if err := tc.write(frame[off:min(off+4000, len(frame))]); err != nil {
			t.Fatal(err)
		}
	}
	resp := tc.mustRead()
	if resp.Opaque != cmd.Opaque || !bytes.Equal(resp.Body, body) {
		t.Fatalf("reply opaque %d with %d body bytes, want opaque %d and the 1 MiB body", resp.Opaque, len(resp.Body), cmd.Opaque)
	}
}

func TestPipeliningClientThatNeverReadsIsClosed(t *testing.T) {
	s := startServer(t, Options{MaxPendingBytes: 1 << 20}, func(s *Server) { s.Handle(codeEcho, echo) })
	tc := dial(t, s.Addr())
	if err := tc.conn.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	_, frame := tc.request(codeEcho, make([]byte, 64<<10))
	_ = tc.conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	for s.Stats().SlowConsumerCloses == 0 {
		if err := tc.write(frame); err != nil {
			break // the server closed the connection
		}
	}
	testutil.WaitFor(t, 5*time.Second, "slow consumer close", func() bool { return s.Stats().SlowConsumerCloses == 1 })
	dial(t, s.Addr()).roundTrip("others still served")
}

func TestExtraAddrsServeTheSameHandlersAndRegistry(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	extra := ln.Addr().String()
	ln.Close()
	s := startServer(t, Options{ExtraAddrs: []string{extra}}, func(s *Server) { s.Handle(codeEcho, echo) })
	if got := s.ExtraAddrs(); len(got) != 1 || got[0] != extra {
		t.Fatalf("ExtraAddrs() = %v, want [%s]", got, extra)
	}
	for _, addr := range []string{s.Addr(), extra} {
		c := dial(t, addr)
		c.send(codeEcho, []byte("via "+addr))
		if resp := c.mustRead(); string(resp.Body) != "via "+addr {
			t.Fatalf("echo via %s: %q", addr, resp.Body)
		}
	}
	ids := map[uint64]bool{}
	s.RangeConns(func(c *Conn) bool { ids[c.ID()] = true; return true })
	if len(ids) != 2 {
		t.Fatalf("registry holds %d distinct connections, want 2 (one per listener)", len(ids))
	}
	if _, err := NewServer(Options{Addr: extra, ExtraAddrs: []string{extra}}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("an extra address equal to Addr: %v, want ErrInvalidOptions", err)
	}
}
