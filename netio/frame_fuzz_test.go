package netio

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/cometmq/comet/netio/remoting"
)

// streamSource imitates a gnet connection's inbound buffer: bytes arrive in
// chunks, Peek shows what has arrived, Discard consumes.
type streamSource struct {
	arrived []byte
}

func (s *streamSource) InboundBuffered() int { return len(s.arrived) }

func (s *streamSource) Peek(n int) ([]byte, error) {
	if n > len(s.arrived) {
		return nil, io.ErrShortBuffer
	}
	return s.arrived[:n], nil
}

func (s *streamSource) discard(n int) { s.arrived = s.arrived[n:] }

// splitStream feeds input in chunks of chunkSize bytes and returns every
// frame peekFrame splits off, and the first error.
func splitStream(input []byte, chunkSize, maxFrame int) (frames [][]byte, err error) {
	src := &streamSource{}
	for off := 0; off < len(input); off += chunkSize {
		src.arrived = append(src.arrived, input[off:min(off+chunkSize, len(input))]...)
		for {
			frame, err := peekFrame(src, maxFrame)
			if err != nil {
				return frames, err
			}
			if frame == nil {
				break
			}
			frames = append(frames, bytes.Clone(frame))
			src.discard(len(frame))
		}
	}
	return frames, nil
}

func FuzzSplitFrames(f *testing.F) {
	one := remoting.AppendFrame(nil, &remoting.Command{Code: 10, Opaque: 7, Body: []byte("body")})
	f.Add(one, uint8(1))
	f.Add(append(append([]byte(nil), one...), one...), uint8(5))
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0}, uint8(3))
	f.Add([]byte{0, 0, 0, 1, 0}, uint8(8))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"), uint8(2))
	f.Add([]byte{0, 0, 0, 6, 2, 0, 0, 0, 'x', 'y'}, uint8(4))
	const maxFrame = 1 << 16
	f.Fuzz(func(t *testing.T, input []byte, chunk uint8) {
		frames, err := splitStream(input, int(chunk)+1, maxFrame)
		consumed := 0
		for _, frame := range frames {
			if len(frame) < 8 || len(frame) > maxFrame {
				t.Fatalf("frame of %d bytes outside [8, %d]", len(frame), maxFrame)
			}
			if want := int(binary.BigEndian.Uint32(frame)) + 4; want != len(frame) {
				t.Fatalf("frame of %d bytes, length prefix says %d", len(frame), want)
			}
			if !bytes.Equal(frame, input[consumed:consumed+len(frame)]) {
				t.Fatalf("frame at %d is not the input bytes", consumed)
			}
			consumed += len(frame)
			var cmd remoting.Command
			_ = remoting.Decode(frame, &cmd) // must not panic on any split frame
		}
		if err == nil && consumed < len(input) {
			// What is left must be an incomplete frame.
			if n, ferr := remoting.FrameSize(input[consumed:], maxFrame); n != 0 || ferr != nil {
				t.Fatalf("leftover %d bytes hold a frame (n=%d err=%v) that was not split",
					len(input)-consumed, n, ferr)
			}
			// The input budget's claim for the incomplete frame covers what
			// arrived and never exceeds one largest frame.
			left := len(input) - consumed
			claim := frontFrameSize(&streamSource{arrived: input[consumed:]})
			if claim < left || claim > maxFrame && left >= lengthPrefixSize {
				t.Fatalf("frontFrameSize %d for %d leftover bytes (max frame %d)", claim, left, maxFrame)
			}
		}
	})
}

func TestSplitFramesAcrossChunks(t *testing.T) {
	var stream []byte
	for i := range 20 {
		stream = remoting.AppendFrame(stream, &remoting.Command{Code: 10, Opaque: int32(i), Body: bytes.Repeat([]byte{byte(i)}, i*97)})
	}
	for _, chunk := range []int{1, 3, 64, len(stream)} {
		frames, err := splitStream(stream, chunk, 1<<20)
		if err != nil || len(frames) != 20 {
			t.Fatalf("chunk %d: %d frames, err %v; want 20 frames", chunk, len(frames), err)
		}
		for i, frame := range frames {
			var cmd remoting.Command
			if err := remoting.Decode(frame, &cmd); err != nil || cmd.Opaque != int32(i) || len(cmd.Body) != i*97 {
				t.Fatalf("chunk %d frame %d: opaque %d body %d err %v", chunk, i, cmd.Opaque, len(cmd.Body), err)
			}
		}
	}
}
