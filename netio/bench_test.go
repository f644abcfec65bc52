package netio

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

// BenchmarkRoundTrip measures pipelined echo round trips over loopback: each
// connection writes chunks of frames within a window of outstanding chunks
// and a reader counts the replies.
func BenchmarkRoundTrip(b *testing.B) {
	for _, path := range []string{"loop", "outbox"} {
		for _, conns := range []int{1, 16} {
			b.Run(fmt.Sprintf("path=%s/conns=%d/body=128", path, conns), func(b *testing.B) {
				benchmarkRoundTrip(b, path, conns, 128)
			})
		}
	}
}

// registerBenchEcho installs the echo handler for path: "loop" replies inside
// the handler; "outbox" detaches and replies from a worker goroutine, as a
// handler that hands requests to a ring does.
func registerBenchEcho(b *testing.B, s *Server, path string) {
	if path == "loop" {
		s.Handle(codeEcho, echo)
		return
	}
	work := make(chan *Request, 8192)
	done := make(chan struct{})
	b.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case req := <-work:
				echo(req)
				req.Release()
			case <-done:
				return
			}
		}
	}()
	s.Handle(codeEcho, func(req *Request) {
		req.Detach()
		select {
		case work <- req:
		default: // full: answer busy rather than block the loop
			req.Reply(remoting.NewResponse(&req.Cmd, remoting.ResponseSystemBusy, "busy"))
			req.Release()
		}
	})
}

const (
	benchChunkFrames = 64
	benchWindow      = 16 // chunks in flight per connection
)

func benchmarkRoundTrip(b *testing.B, path string, conns, bodySize int) {
	s := startServer(b, Options{NumEventLoops: 2}, func(s *Server) { registerBenchEcho(b, s, path) })
	req := remoting.NewRequest(codeEcho)
	req.Body = make([]byte, bodySize)
	frame := remoting.AppendFrame(nil, req)
	reply := remoting.AppendFrame(nil, remoting.NewResponse(req, remoting.ResponseSuccess, ""))
	var chunk []byte
	for range benchChunkFrames {
		chunk = append(chunk, frame...)
	}
	clients := make([]net.Conn, conns)
	for i := range clients {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}
	chunksPerConn := max(1, b.N/(conns*benchChunkFrames))
	b.SetBytes(int64(len(frame) + len(reply)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 2*conns)
	for _, c := range clients {
		window := make(chan struct{}, benchWindow)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range chunksPerConn {
				window <- struct{}{}
				if _, err := c.Write(chunk); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			errs <- readReplies(c, chunksPerConn, window)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	frames := conns * chunksPerConn * benchChunkFrames
	if got := s.Stats().FramesOut; got != uint64(frames) {
		b.Fatalf("server answered %d frames, want %d", got, frames)
	}
	b.ReportMetric(float64(frames)/elapsed.Seconds(), "frames/s")
}

// readReplies reads chunks*benchChunkFrames reply frames, releasing one
// window slot per chunk.
func readReplies(c net.Conn, chunks int, window chan struct{}) error {
	r := bufio.NewReaderSize(c, 256<<10)
	var prefix [4]byte
	_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
	for range chunks {
		for range benchChunkFrames {
			if _, err := io.ReadFull(r, prefix[:]); err != nil {
				return err
			}
			if _, err := r.Discard(int(binary.BigEndian.Uint32(prefix[:]))); err != nil {
				return err
			}
		}
		<-window
	}
	return nil
}
