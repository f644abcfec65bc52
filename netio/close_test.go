package netio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
)

func TestClassifyCloseError(t *testing.T) {
	cases := []struct {
		err  error
		want CloseReason
	}{
		{nil, CloseOther},
		{os.NewSyscallError("read", io.EOF), ClosePeer},
		{os.NewSyscallError("read", syscall.ECONNRESET), ClosePeer},
		{os.NewSyscallError("write", syscall.EPIPE), ClosePeer},
		{os.NewSyscallError("writev", syscall.EINVAL), CloseWriteError},
		{os.NewSyscallError("write", syscall.EIO), CloseWriteError},
		{os.NewSyscallError("read", syscall.EIO), CloseReadError},
		{errors.New("something else"), CloseOther},
	}
	for _, tc := range cases {
		if got := classifyCloseError(tc.err); got != tc.want {
			t.Errorf("classifyCloseError(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
	for r := range NumCloseReasons {
		if r.String() == "" || (r != CloseOther && r.String() == "other") {
			t.Errorf("reason %d has no name", r)
		}
	}
}

// TestEveryCloseCountedByReason closes connections in each way a test can
// provoke and checks each lands under its reason, the ones the server
// decided or an error caused in the log, and the counts sum to Closed.
func TestEveryCloseCountedByReason(t *testing.T) {
	logs := &testutil.LockedBuffer{}
	opened := make(chan *Conn, 8)
	s := startServer(t, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))}, func(s *Server) {
		s.Handle(codeEcho, echo)
		s.OnOpen(func(c *Conn) { opened <- c })
	})
	closedBy := func(r CloseReason) func() bool {
		return func() bool { return s.Stats().ClosedBy[r] == 1 }
	}

	peer := dial(t, s.Addr())
	peer.roundTrip("hello")
	<-opened
	_ = peer.conn.Close()
	testutil.WaitFor(t, 5*time.Second, "peer close counted", closedBy(ClosePeer))

	bad := dial(t, s.Addr())
	<-opened
	if err := bad.write([]byte{0, 0, 0, 1, 0}); err != nil {
		t.Fatal(err)
	}
	bad.expectClosed()
	testutil.WaitFor(t, 5*time.Second, "bad frame counted", closedBy(CloseBadFrame))

	requested := dial(t, s.Addr())
	requested.roundTrip("hello")
	c := <-opened
	_ = c.Close()
	requested.expectClosed()
	testutil.WaitFor(t, 5*time.Second, "requested close counted", closedBy(CloseRequested))
	testutil.WaitFor(t, 5*time.Second, "requested close logged", func() bool {
		return strings.Contains(logs.String(), "reason="+CloseRequested.String())
	})

	dial(t, s.Addr()).roundTrip("open at stop")
	<-opened
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.ClosedBy[CloseServerStop] != 1 {
		t.Fatalf("ClosedBy %v, want one close by stop", closedByString(st))
	}
	var sum uint64
	for _, n := range st.ClosedBy {
		sum += n
	}
	if sum != st.Closed || st.ClosedBy[CloseOther] != 0 {
		t.Fatalf("ClosedBy %s sums to %d, Closed %d; want equal and nothing unexplained", closedByString(st), sum, st.Closed)
	}
	if strings.Contains(logs.String(), "reason="+ClosePeer.String()) {
		t.Fatalf("a peer's close was logged:\n%s", logs.String())
	}
}

func closedByString(st Stats) string {
	var b strings.Builder
	for r, n := range st.ClosedBy {
		if n > 0 {
			fmt.Fprintf(&b, "%s=%d ", CloseReason(r), n)
		}
	}
	return b.String()
}
