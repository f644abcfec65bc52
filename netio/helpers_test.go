package netio

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

const (
	codeEcho   int16 = 100
	codeDetach int16 = 101
	codeBlock  int16 = 102
)

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// startServer starts a server on 127.0.0.1:0 after setup registered its
// handlers, and stops it when the test ends.
func startServer(t testing.TB, opts Options, setup func(s *Server)) *Server {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	if opts.NumEventLoops == 0 {
		opts.NumEventLoops = 2
	}
	s, err := NewServer(opts)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if setup != nil {
		setup(s)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
	return s
}

// echo answers with the request's body and ext fields.
func echo(req *Request) {
	resp := remoting.NewResponse(&req.Cmd, remoting.ResponseSuccess, "")
	resp.Body = req.Cmd.Body
	req.Reply(resp)
}

// testClient is a raw TCP client speaking frames made by remoting.AppendFrame.
type testClient struct {
	t      testing.TB
	conn   net.Conn
	reader *bufio.Reader
	opaque int32
	mu     sync.Mutex // guards writes
}

func dial(t testing.TB, addr string) *testClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &testClient{t: t, conn: conn, reader: bufio.NewReaderSize(conn, 64<<10)}
}

// request builds a request frame with the next opaque.
func (tc *testClient) request(code int16, body []byte) (*remoting.Command, []byte) {
	tc.opaque++
	cmd := remoting.NewRequest(code)
	cmd.Opaque = tc.opaque
	cmd.Body = body
	return cmd, remoting.AppendFrame(nil, cmd)
}

func (tc *testClient) write(b []byte) error {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	_, err := tc.conn.Write(b)
	return err
}

func (tc *testClient) send(code int16, body []byte) int32 {
	tc.t.Helper()
	cmd, frame := tc.request(code, body)
	if err := tc.write(frame); err != nil {
		tc.t.Fatalf("write: %v", err)
	}
	return cmd.Opaque
}

// read reads one frame within timeout and decodes it.
func (tc *testClient) read(timeout time.Duration) (*remoting.Command, error) {
	_ = tc.conn.SetReadDeadline(time.Now().Add(timeout))
	var prefix [4]byte
	if _, err := io.ReadFull(tc.reader, prefix[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(prefix[:])
	if n > 64<<20 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	frame := make([]byte, 4+int(n))
	copy(frame, prefix[:])
	if _, err := io.ReadFull(tc.reader, frame[4:]); err != nil {
		return nil, err
	}
	cmd := new(remoting.Command)
	if err := remoting.Decode(frame, cmd); err != nil {
		return nil, err
	}
	return cmd, nil
}

func (tc *testClient) mustRead() *remoting.Command {
	tc.t.Helper()
	cmd, err := tc.read(5 * time.Second)
	if err != nil {
		tc.t.Fatalf("read: %v", err)
	}
	return cmd
}

// roundTrip sends one echo request and checks the answer.
func (tc *testClient) roundTrip(body string) {
	tc.t.Helper()
	opaque := tc.send(codeEcho, []byte(body))
	resp := tc.mustRead()
	if resp.Opaque != opaque || string(resp.Body) != body || !resp.IsResponse() {
		tc.t.Fatalf("echo reply: opaque %d body %q flag %d, want opaque %d body %q response",
			resp.Opaque, resp.Body, resp.Flag, opaque, body)
	}
}

// expectClosed waits until the server closes the connection.
func (tc *testClient) expectClosed() {
	tc.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		_, err := tc.read(time.Until(deadline))
		if err == nil {
			continue // drain whatever was in flight
		}
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			return
		}
		tc.t.Fatalf("waiting for close: %v", err)
	}
	tc.t.Fatalf("connection not closed within deadline")
}

func isReset(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && !opErr.Timeout()
}

// waitFor polls cond until it holds or the deadline passes.
