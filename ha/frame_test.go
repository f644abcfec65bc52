package ha

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestFramesRoundTrip(t *testing.T) {
	data := []byte("records")
	frames := [][]byte{
		AppendHello(nil, Hello{BrokerID: 2, Epoch: 7, Offset: 1 << 40, SyncFlush: true, BrokerName: "broker-a"}),
		AppendWelcome(nil, Welcome{Epoch: 7, Start: 5, MasterEnd: 9, SegmentSize: 1 << 30}),
		append(AppendDataHeader(nil, 100, 90, data), data...),
		AppendHeartbeat(nil, Heartbeat{MasterEnd: 3, Commit: 2}),
		AppendAck(nil, Ack{Appended: 8, Synced: 6}),
		AppendMeta(nil, Meta{Kind: 1, Body: []byte(`{"a":1}`)}),
		AppendError(nil, ErrorFrame{Code: CodeStaleEpoch, Message: "old"}),
	}
	want := []any{
		&Hello{BrokerID: 2, Epoch: 7, Offset: 1 << 40, SyncFlush: true, BrokerName: "broker-a"},
		&Welcome{Epoch: 7, Start: 5, MasterEnd: 9, SegmentSize: 1 << 30},
		&Data{Offset: 100, Commit: 90, Bytes: data},
		&Heartbeat{MasterEnd: 3, Commit: 2},
		&Ack{Appended: 8, Synced: 6},
		&Meta{Kind: 1, Body: []byte(`{"a":1}`)},
		&ErrorFrame{Code: CodeStaleEpoch, Message: "old"},
	}
	dec := NewDecoder(bytes.NewReader(bytes.Join(frames, nil)))
	for i, w := range want {
		got, err := dec.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("frame %d: got %+v, want %+v", i, got, w)
		}
	}
}

func TestDecoderRefusesBadFrames(t *testing.T) {
	data := []byte("records")
	corrupt := append(AppendDataHeader(nil, 100, 90, data), data...)
	corrupt[len(corrupt)-1] ^= 1
	cases := map[string][]byte{
		"zero length":     {0, 0, 0, 0, 3},
		"huge length":     {0x7f, 0xff, 0xff, 0xff, 3},
		"short ack":       {0, 0, 0, 5, FrameAck, 1, 2, 3, 4},
		"unknown type":    {0, 0, 0, 1, 99},
		"data checksum":   corrupt,
		"hello version":   append([]byte{0, 0, 0, 30, FrameHello, 0, 9}, make([]byte, 27)...),
		"hello name size": append([]byte{0, 0, 0, 30, FrameHello, 0, 1}, append(make([]byte, 26), 5)...),
	}
	for name, b := range cases {
		if _, err := NewDecoder(bytes.NewReader(b)).Next(); !errors.Is(err, ErrFrame) {
			t.Errorf("%s: %v, want ErrFrame", name, err)
		}
	}
}

// FuzzDecoder feeds arbitrary bytes to the frame decoder: it must never
// panic, never allocate past MaxFrameBytes, and whatever it decodes must
// encode back to a frame that decodes the same.
func FuzzDecoder(f *testing.F) {
	f.Add(AppendHello(nil, Hello{BrokerID: 1, Offset: 42, BrokerName: "b"}))
	f.Add(AppendHello(nil, Hello{BrokerID: 1, Offset: 42, BrokerName: "b", Epochs: []EpochEntry{{1, 0}, {2, 7}}}))
	f.Add(AppendWelcome(nil, Welcome{Epoch: 2, Start: 7, Epochs: []EpochEntry{{1, 0}, {2, 7}}}))
	f.Add(AppendAck(nil, Ack{Appended: 1, Synced: 1}))
	f.Add(append(AppendDataHeader(nil, 0, 0, []byte("x")), 'x'))
	f.Add(AppendMeta(nil, Meta{Kind: 2, Body: []byte("{}")}))
	f.Add(AppendError(nil, ErrorFrame{Code: 1, Message: "no"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		dec := NewDecoder(bytes.NewReader(b))
		for {
			fr, err := dec.Next()
			if err != nil {
				return
			}
			if cap(dec.buf) > MaxFrameBytes {
				t.Fatalf("decoder buffer grew to %d", cap(dec.buf))
			}
			again, err := NewDecoder(bytes.NewReader(reencode(fr))).Next()
			if err != nil || !reflect.DeepEqual(again, fr) {
				t.Fatalf("re-encoded %+v decodes as %+v, %v", fr, again, err)
			}
		}
	})
}

func reencode(f any) []byte {
	switch f := f.(type) {
	case *Hello:
		return AppendHello(nil, *f)
	case *Welcome:
		return AppendWelcome(nil, *f)
	case *Data:
		return append(AppendDataHeader(nil, f.Offset, f.Commit, f.Bytes), f.Bytes...)
	case *Heartbeat:
		return AppendHeartbeat(nil, *f)
	case *Ack:
		return AppendAck(nil, *f)
	case *Meta:
		return AppendMeta(nil, *f)
	case *ErrorFrame:
		return AppendError(nil, *f)
	}
	panic("unknown frame")
}
