package netio

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

// TestPipelinedSmallRequestsLargeRepliesCutOffEarly pipelines a thousand
// tiny requests, each answered on the loop with 256 KiB, from a client that
// never reads. The pending-bytes cap must stop the connection after a few
// replies, not after the read pass answered all of them into one buffer
// (a thousand replies would be 256 MiB for one connection).
func TestPipelinedSmallRequestsLargeRepliesCutOffEarly(t *testing.T) {
	const codeBig int16 = 110
	var answered atomic.Int64
	reply := make([]byte, 256<<10)
	s := startServer(t, Options{MaxPendingBytes: 1 << 20}, func(s *Server) {
		s.Handle(codeEcho, echo)
		s.Handle(codeBig, func(req *Request) {
			answered.Add(1)
			resp := remoting.NewResponse(&req.Cmd, remoting.ResponseSuccess, "")
			resp.Body = reply
			req.Reply(resp)
		})
	})
	tc := dial(t, s.Addr())
	if err := tc.conn.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	var frames []byte
	for range 1000 {
		_, frame := tc.request(codeBig, nil)
		frames = append(frames, frame...)
	}
	_ = tc.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_ = tc.write(frames) // may fail once the server has closed the connection
	testutil.WaitFor(t, 5*time.Second, "slow consumer close", func() bool { return s.Stats().SlowConsumerCloses == 1 })
	// The cap (1 MiB) plus the socket buffers hold a few dozen replies.
	if n := answered.Load(); n > 100 {
		t.Fatalf("%d requests answered before the slow consumer was cut off, want the cap to stop it early", n)
	}
	t.Logf("cut off after %d of 1000 replies", answered.Load())
	dial(t, s.Addr()).roundTrip("others still served")
}
