package netio

import (
	"fmt"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

// TestOutboxBeyondIOVMaxAllAnswered queues far more detached replies on one
// connection than one writev can carry (IOV_MAX is 1,024 on Linux): every
// reply must arrive and the connection must stay open.
func TestOutboxBeyondIOVMaxAllAnswered(t *testing.T) {
	const detached = 5000
	parked := make(chan *Request, detached)
	loopBlocked := make(chan struct{})
	repliesQueued := make(chan struct{})
	s := startServer(t, Options{NumEventLoops: 1}, func(s *Server) {
		s.Handle(codeDetach, func(req *Request) {
			req.Detach()
			parked <- req // buffered for every request of the test: never blocks
		})
		// codeBlock holds the loop while the worker queues every reply, so
		// they pile up in the outbox behind the first write.
		s.Handle(codeBlock, func(req *Request) {
			close(loopBlocked)
			select {
			case <-repliesQueued:
			case <-time.After(10 * time.Second):
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
	go replyParked(parked, detached, loopBlocked, repliesQueued)
	testutil.WaitFor(t, 5*time.Second, "all detached requests parked", func() bool { return s.Stats().FramesIn == detached })
	if err := tc.write(blockFrame); err != nil {
		t.Fatal(err)
	}
	seen := make(map[int32]string, detached+1)
	for range detached + 1 {
		resp, err := tc.read(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d of %d replies: %v (stats %+v)", len(seen), detached+1, err, s.Stats())
		}
		seen[resp.Opaque] = string(resp.Body)
	}
	for i := range detached {
		if got, want := seen[int32(i+1)], fmt.Sprintf("d%d", i); got != want {
			t.Fatalf("reply to opaque %d: body %q, want %q", i+1, got, want)
		}
	}
	if st := s.Stats(); st.Closed != 0 || st.OutboxWrites < detached/maxWriteIovecs {
		t.Fatalf("stats %+v: want no close and the replies split over several writes", st)
	}
}

// replyParked answers the first request at once, then the rest while the
// loop is blocked, so they queue behind the first write.
func replyParked(parked chan *Request, n int, loopBlocked, done chan struct{}) {
	reply := func(req *Request) {
		resp := remoting.NewResponse(&req.Cmd, remoting.ResponseSuccess, "")
		resp.Body = append([]byte(nil), req.Cmd.Body...)
		req.Reply(resp)
		req.Release()
	}
	reply(<-parked)
	var reqs []*Request
	for range n - 1 {
		reqs = append(reqs, <-parked)
	}
	<-loopBlocked
	for _, req := range reqs {
		reply(req)
	}
	close(done)
}
