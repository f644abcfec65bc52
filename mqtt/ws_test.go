package mqtt

import (
	"bytes"
	"encoding/json"
	"testing"
)

// clientFrame is a masked client frame.
func clientFrame(opcode byte, fin bool, payload []byte, mask [4]byte) []byte {
	f := wsFrame(nil, opcode, payload)
	if !fin {
		f[0] &^= 0x80
	}
	hdr := 2
	switch f[1] {
	case 126:
		hdr = 4
	case 127:
		hdr = 10
	}
	out := append([]byte(nil), f[:hdr]...)
	out[1] |= 0x80
	out = append(out, mask[:]...)
	for i, b := range f[hdr:] {
		out = append(out, b^mask[i&3])
	}
	return out
}

func TestWSFrames(t *testing.T) {
	mask := [4]byte{1, 2, 3, 4}
	for _, n := range []int{0, 1, 125, 126, 65535, 65536} {
		payload := bytes.Repeat([]byte{0xAB}, n)
		f := clientFrame(wsOpBinary, true, payload, mask)
		for i := 0; i < len(f); i++ {
			if _, ok, err := parseWSFrame(f[:i], 1<<20); ok || err != nil {
				t.Fatalf("n=%d prefix %d: ok=%v err=%v", n, i, ok, err)
			}
		}
		h, ok, err := parseWSFrame(f, 1<<20)
		if !ok || err != nil || h.length != n || h.hdrSize+n != len(f) {
			t.Fatalf("n=%d: %+v ok=%v err=%v", n, h, ok, err)
		}
		if got := appendUnmasked(nil, &h, f[h.hdrSize:]); !bytes.Equal(got, payload) {
			t.Fatalf("n=%d: payload differs", n)
		}
	}
	unmasked := wsFrame(nil, wsOpBinary, []byte("x"))
	if _, _, err := parseWSFrame(unmasked, 1<<20); err == nil {
		t.Fatal("unmasked client frame accepted")
	}
	if _, _, err := parseWSFrame(clientFrame(wsOpPing, false, nil, mask), 1<<20); err == nil {
		t.Fatal("fragmented control frame accepted")
	}
	if _, _, err := parseWSFrame(clientFrame(wsOpBinary, true, make([]byte, 200), mask), 100); err == nil {
		t.Fatal("oversize frame accepted")
	}
}

// FuzzWebSocket: the upgrade parser and the frame parser never panic, and
// a parsed frame lies within its input.
func FuzzWebSocket(f *testing.F) {
	f.Add([]byte("GET /mqtt HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"))
	f.Add(clientFrame(wsOpBinary, true, []byte("hello"), [4]byte{9, 8, 7, 6}))
	f.Add(clientFrame(wsOpContinuation, false, make([]byte, 300), [4]byte{}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if n, up, err := parseUpgrade(data, "/mqtt"); err == nil && n > 0 {
			if n > len(data) || up.key == "" || (up.protocol != "mqtt" && up.protocol != "mqttv3.1") {
				t.Fatalf("accepted upgrade %+v of %d bytes", up, n)
			}
			_ = upgradeResponse(up)
		}
		h, ok, err := parseWSFrame(data, 1<<16)
		if err == nil && ok {
			if h.hdrSize+h.length > len(data) || h.length > 1<<16 {
				t.Fatalf("frame %+v beyond %d bytes", h, len(data))
			}
			_ = appendUnmasked(nil, &h, data[h.hdrSize:h.hdrSize+h.length])
		}
	})
}

// FuzzJournalRecord: replaying any journal record body never panics and
// leaves well-formed state.
func FuzzJournalRecord(f *testing.F) {
	for _, r := range []jrec{{Op: "sess", C: "a", Exp: expiryPtr(10)}, {Op: "sub", C: "a", S: []jsub{{F: "x/#", Q: 1}}},
		{Op: "unsub", C: "a", F: []string{"x/#"}}, {Op: "out", C: "a", P: 3, O: 100, E: 200}, {Op: "prog", C: "a", Cur: 150},
		{Op: "rel", C: "a", P: 3}, {Op: "end", C: "a"}, {Op: "off", C: "a", At: 5}} {
		b, _ := json.Marshal(r)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rc := &recovering{sessions: map[string]*jsession{}, online: map[string]bool{}, retained: map[string]*jretain{}}
		var r jrec
		if json.Unmarshal(body, &r) != nil {
			return
		}
		rc.apply(&r)
		rc.apply(&r) // twice: replay is idempotent
		for id, js := range rc.sessions {
			if id != js.C {
				t.Fatalf("session %q filed under %q", js.C, id)
			}
		}
	})
}
