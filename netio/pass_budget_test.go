package netio

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"

	"github.com/cometmq/comet/netio/remoting"
)

// TestHeavyBurstYieldsLoopToNeighbour pipelines a burst of requests that
// are slow to answer on a connection sharing the only event loop with a
// neighbour: replies that are large (the reply budget stops the pass) or
// small (the time budget does). The burst arrives in one read, so a pass
// that served everything buffered would hold the loop for the whole burst;
// with the budgets the neighbour's round trips wait for a pass or two at
// most.
func TestHeavyBurstYieldsLoopToNeighbour(t *testing.T) {
	for _, size := range []int{256 << 10, 64} {
		t.Run(fmt.Sprintf("reply=%d", size), func(t *testing.T) { heavyBurstYieldsLoop(t, size) })
	}
}

func heavyBurstYieldsLoop(t *testing.T, replySize int) {
	const (
		codeHeavy  int16 = 120
		burst            = 300
		heavyDelay       = 2 * time.Millisecond // the cost of answering one request
	)
	body := make([]byte, replySize)
	s := startServer(t, Options{NumEventLoops: 1, MaxPendingBytes: 256 << 20}, func(s *Server) {
		s.Handle(codeEcho, echo)
		s.Handle(codeHeavy, func(req *Request) {
			time.Sleep(heavyDelay)
			resp := remoting.NewResponse(&req.Cmd, remoting.ResponseSuccess, "")
			resp.Body = body
			req.Reply(resp)
		})
	})
	neighbour := dial(t, s.Addr())
	neighbour.roundTrip("before the burst")
	heavy := dial(t, s.Addr())
	var frames []byte
	for range burst {
		_, frame := heavy.request(codeHeavy, nil)
		frames = append(frames, frame...)
	}

	burstDone := make(chan error, 1)
	start := time.Now()
	go func() {
		if err := heavy.write(frames); err != nil {
			burstDone <- err
			return
		}
		for i := range burst {
			resp, err := heavy.read(10 * time.Second)
			if err == nil && (resp.Opaque != int32(i+1) || len(resp.Body) != len(body)) {
				err = fmt.Errorf("heavy reply %d: opaque %d with %d body bytes", i, resp.Opaque, len(resp.Body))
			}
			if err != nil {
				burstDone <- err
				return
			}
		}
		burstDone <- nil
	}()

	var slowest time.Duration
	trips := 0
	for done := false; !done; {
		select {
		case err := <-burstDone:
			if err != nil {
				t.Fatalf("heavy connection: %v", err)
			}
			done = true
			continue
		default:
		}
		began := time.Now()
		neighbour.roundTrip("during the burst")
		slowest = max(slowest, time.Since(began))
		trips++
	}
	took := time.Since(start)
	t.Logf("burst of %d heavy requests served in %v; %d neighbour round trips meanwhile, slowest %v; %+v",
		burst, took, trips, slowest, s.PassStats())
	if min := burst * heavyDelay; took < min {
		t.Fatalf("burst served in %v, want at least %v of handler time", took, min)
	}
	if slowest > took/4 {
		t.Fatalf("a neighbour round trip took %v during a burst of %v, want it to wait for a few passes, not the burst", slowest, took)
	}
	if st := s.PassStats(); st.Deferred == 0 || st.Resumed == 0 {
		t.Fatalf("pass stats %+v, want deferred and resumed passes", st)
	}
}

// TestUnansweredRequestBacklogClosesConnection reads its replies but sends
// requests for large, slowly built replies far faster than passes answer
// them. gnet keeps reading while passes are deferred, so the buffered
// requests must be capped: the connection is closed as a slow consumer once
// they pass MaxPendingBytes, and others are still served.
func TestUnansweredRequestBacklogClosesConnection(t *testing.T) {
	const (
		codeBig    int16 = 121
		maxPending       = 2 << 20
	)
	var answered atomic.Int64
	reply := make([]byte, 256<<10) // a pass answers four, then yields
	logs := &testutil.LockedBuffer{}
	s := startServer(t, Options{
		NumEventLoops: 1, MaxPendingBytes: maxPending, MaxFrameSize: 64 << 10,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	}, func(s *Server) {
		s.Handle(codeEcho, echo)
		s.Handle(codeBig, func(req *Request) {
			// Slow to build, so the reader easily keeps the unwritten
			// replies under the cap: only the request backlog can trip.
			time.Sleep(3 * time.Millisecond)
			answered.Add(1)
			resp := remoting.NewResponse(&req.Cmd, remoting.ResponseSuccess, "")
			resp.Body = reply
			req.Reply(resp)
		})
	})
	tc := dial(t, s.Addr())
	var frames []byte
	requests := 0
	for len(frames) < 4*maxPending {
		_, frame := tc.request(codeBig, nil)
		frames = append(frames, frame...)
		requests++
	}
	go func() { _, _ = io.Copy(io.Discard, tc.conn) }() // a reader that keeps up
	_ = tc.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_ = tc.write(frames) // fails once the server has closed the connection
	// The close is counted before it is logged: wait for both.
	testutil.WaitFor(t, 5*time.Second, "slow consumer close", func() bool {
		return s.Stats().SlowConsumerCloses == 1 && strings.Contains(logs.String(), "closing slow consumer")
	})
	if !strings.Contains(logs.String(), "unanswered requests over the limit") {
		t.Fatalf("closed for another reason; log:\n%s", logs.String())
	}
	if n := answered.Load(); n >= int64(requests) {
		t.Fatalf("all %d requests answered, want the backlog cap to close the connection first", n)
	}
	t.Logf("closed after answering %d of %d requests", answered.Load(), requests)
	dial(t, s.Addr()).roundTrip("others still served")
}
