package netio

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
)

// TestIncompleteFrameClosedAfterReadTimeout holds partial frames open: a
// three-byte one and one trickled a byte at a time. Both are closed once
// FrameReadTimeout has passed since their first byte, while an idle
// connection, a frame completed in time and a neighbour are untouched.
func TestIncompleteFrameClosedAfterReadTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	logs := &testutil.LockedBuffer{}
	s := startServer(t, Options{FrameReadTimeout: timeout, Logger: slog.New(slog.NewTextHandler(logs, nil))},
		func(s *Server) { s.Handle(codeEcho, echo) })
	neighbour := dial(t, s.Addr())
	idle := dial(t, s.Addr())
	idle.roundTrip("before")

	start := time.Now()
	threeBytes := dial(t, s.Addr())
	if err := threeBytes.write([]byte{0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	trickle := dial(t, s.Addr())
	_, frame := trickle.request(codeEcho, bytes.Repeat([]byte("t"), 100))
	stopTrickle := make(chan struct{})
	defer close(stopTrickle)
	go func() {
		for _, b := range frame { // about two seconds for the whole frame
			select {
			case <-stopTrickle:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if trickle.write([]byte{b}) != nil {
				return
			}
		}
	}()
	inTime := dial(t, s.Addr())
	_, whole := inTime.request(codeEcho, []byte("in time"))
	if err := inTime.write(whole[:10]); err != nil {
		t.Fatal(err)
	}
	neighbour.roundTrip("while frames are incomplete")
	time.Sleep(timeout / 4) // a pause the frame is allowed: well under the timeout
	if err := inTime.write(whole[10:]); err != nil {
		t.Fatal(err)
	}
	if resp := inTime.mustRead(); string(resp.Body) != "in time" {
		t.Fatalf("reply body %q", resp.Body)
	}

	threeBytes.expectClosed()
	if elapsed := time.Since(start); elapsed < timeout {
		t.Fatalf("closed after %s, before the %s timeout", elapsed, timeout)
	}
	trickle.expectClosed()
	testutil.WaitFor(t, 5*time.Second, "frame timeouts counted", func() bool { return s.Stats().ClosedBy[CloseFrameTimeout] == 2 })
	neighbour.roundTrip("after the timeouts")
	idle.roundTrip("idle connections have no frame deadline")
	if !strings.Contains(logs.String(), "frame not completed in time") {
		t.Fatalf("timeouts not logged:\n%s", logs.String())
	}
	testutil.WaitFor(t, 5*time.Second, "buffered input released", func() bool { return s.Stats().BufferedInputBytes == 0 })
}

// TestBufferedInputBudget fills the server-wide input budget with two
// connections each holding all but the last byte of a large frame. A third
// connection starting a large frame is closed at once, a neighbour sending
// small frames in pieces is served, and the accounting returns to zero once
// the holders are gone.
func TestBufferedInputBudget(t *testing.T) {
	const (
		maxFrame = 2 << 20
		budget   = 4 << 20
		bodySize = maxFrame - 100<<10
	)
	logs := &testutil.LockedBuffer{}
	s := startServer(t, Options{
		MaxFrameSize: maxFrame, MaxBufferedInput: budget, MaxPendingBytes: maxFrame,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	}, func(s *Server) { s.Handle(codeEcho, echo) })
	neighbour := dial(t, s.Addr())
	body := bytes.Repeat([]byte("b"), bodySize)

	holders := make([]*testClient, 2)
	lastBytes := make([][]byte, 2)
	for i := range holders {
		holders[i] = dial(t, s.Addr())
		_, frame := holders[i].request(codeEcho, body)
		if err := holders[i].write(frame[:len(frame)-1]); err != nil {
			t.Fatal(err)
		}
		lastBytes[i] = frame[len(frame)-1:]
		want := int64(i+1) * int64(len(frame)-1)
		testutil.WaitFor(t, 5*time.Second, "holder's bytes buffered", func() bool { return s.Stats().BufferedInputBytes == want })
	}

	refused := dial(t, s.Addr())
	_, frame := refused.request(codeEcho, body)
	go func() {
		_ = refused.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_ = refused.write(frame) // fails once the server has closed the connection
	}()
	refused.expectClosed()
	testutil.WaitFor(t, 5*time.Second, "budget close counted", func() bool { return s.Stats().ClosedBy[CloseInputBudget] == 1 })
	if !strings.Contains(logs.String(), "buffered input over the server's budget") {
		t.Fatalf("budget close not logged:\n%s", logs.String())
	}

	_, small := neighbour.request(codeEcho, []byte("small, in pieces"))
	for _, piece := range [][]byte{small[:3], small[3:20], small[20:]} {
		if err := neighbour.write(piece); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // let each piece arrive as its own read
	}
	if resp := neighbour.mustRead(); string(resp.Body) != "small, in pieces" {
		t.Fatalf("neighbour reply %q", resp.Body)
	}

	if err := holders[0].write(lastBytes[0]); err != nil {
		t.Fatal(err)
	}
	if resp := holders[0].mustRead(); len(resp.Body) != bodySize {
		t.Fatalf("holder's echo has %d bytes, want %d", len(resp.Body), bodySize)
	}
	_ = holders[1].conn.Close()
	testutil.WaitFor(t, 5*time.Second, "buffered input back to zero", func() bool { return s.Stats().BufferedInputBytes == 0 })
	neighbour.roundTrip("after the holders")
}

func TestInputOptionsValidate(t *testing.T) {
	o := Options{Addr: "127.0.0.1:0"}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.FrameReadTimeout != DefaultFrameReadTimeout || o.MaxBufferedInput != DefaultMaxBufferedInput {
		t.Fatalf("defaults not applied: %+v", o)
	}
	for _, bad := range []Options{
		{Addr: "127.0.0.1:0", FrameReadTimeout: -time.Second},
		{Addr: "127.0.0.1:0", FrameReadTimeout: time.Millisecond},
		{Addr: "127.0.0.1:0", MaxBufferedInput: -1},
		{Addr: "127.0.0.1:0", MaxFrameSize: 1 << 20, MaxBufferedInput: 1<<20 - 1},
	} {
		if err := bad.Validate(); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidOptions", bad, err)
		}
	}
}
