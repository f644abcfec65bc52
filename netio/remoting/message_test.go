package remoting

import (
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func sampleMessage() *MessageExt {
	return &MessageExt{
		QueueID: 2, Flag: 7, QueueOffset: 41, CommitLogOffset: 123456789, SysFlag: 0,
		BornTimestamp: 1700000000000, BornHost: netip.MustParseAddrPort("10.0.0.9:54321"),
		StoreTimestamp: 1700000000100, StoreHost: netip.MustParseAddrPort("192.168.0.1:10911"),
		ReconsumeTimes: 1, PreparedTransactionOffset: 0, Body: []byte("hello"), Topic: "TopicA",
		Properties: map[string]string{PropertyTags: "tagA", PropertyKeys: "k1 k2"},
	}
}

func TestMessagesRoundTrip(t *testing.T) {
	plain := sampleMessage()
	withUniq := sampleMessage()
	withUniq.QueueOffset = 42
	withUniq.Properties = map[string]string{PropertyUniqKey: "C00002026F07000000006cb95bd80001"}
	ipv6 := sampleMessage()
	ipv6.BornHost = netip.MustParseAddrPort("[fe80::1]:5")
	ipv6.StoreHost = netip.MustParseAddrPort("[2001:db8::2]:10911")

	var body []byte
	for _, m := range []*MessageExt{plain, withUniq, ipv6} {
		var err error
		if body, err = AppendMessage(body, m); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := DecodeMessages(body)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("decoded %d messages, %v", len(msgs), err)
	}
	got := msgs[0]
	if got.Topic != "TopicA" || string(got.Body) != "hello" || got.QueueOffset != 41 || got.CommitLogOffset != 123456789 ||
		got.QueueID != 2 || got.Flag != 7 || got.ReconsumeTimes != 1 || got.BornHost != plain.BornHost ||
		got.StoreHost != plain.StoreHost || got.Tags() != "tagA" || got.Keys() != "k1 k2" ||
		got.MagicCode != MessageMagic || got.BodyCRC != BodyCRC([]byte("hello")) || got.StoreTimestamp != plain.StoreTimestamp {
		t.Fatalf("decoded %+v", got)
	}
	wantOffsetID := "C0A8000100002A9F00000000075BCD15"
	if got.OffsetMsgID != wantOffsetID || got.MsgID != wantOffsetID {
		t.Fatalf("ids %s %s", got.OffsetMsgID, got.MsgID)
	}
	if msgs[1].MsgID != "C00002026F07000000006cb95bd80001" || msgs[1].OffsetMsgID != wantOffsetID {
		t.Fatalf("uniq ids %s %s", msgs[1].MsgID, msgs[1].OffsetMsgID)
	}
	v6 := msgs[2]
	if v6.SysFlag&(SysFlagBornHostIPv6|SysFlagStoreHostIPv6) != SysFlagBornHostIPv6|SysFlagStoreHostIPv6 ||
		v6.StoreHost != ipv6.StoreHost || v6.BornHost != ipv6.BornHost || len(v6.OffsetMsgID) != OffsetMsgIDLenIPv6 {
		t.Fatalf("ipv6 record %+v", v6)
	}
}

func TestDecodeMessagesInflatesZlib(t *testing.T) {
	raw := bytes.Repeat([]byte("compress me "), 500)
	var z bytes.Buffer
	w, _ := zlib.NewWriterLevel(&z, 5)
	w.Write(raw)
	w.Close()
	m := sampleMessage()
	m.SysFlag = SysFlagCompressed
	m.Body = z.Bytes()
	notZlib := sampleMessage()
	notZlib.SysFlag = SysFlagCompressed
	notZlib.Body = []byte("not zlib at all")
	body, _ := AppendMessage(nil, m)
	body, _ = AppendMessage(body, notZlib)
	msgs, err := DecodeMessages(body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msgs[0].Body, raw) {
		t.Fatal("body not inflated")
	}
	if string(msgs[1].Body) != "not zlib at all" {
		t.Fatal("a body that does not inflate is kept as it is")
	}
}

func TestDecodeMessagesTruncated(t *testing.T) {
	body, _ := AppendMessage(nil, sampleMessage())
	for cut := 1; cut < len(body); cut++ {
		if _, err := DecodeMessages(body[:cut]); !errors.Is(err, ErrMalformedMessage) {
			t.Fatalf("cut %d: %v", cut, err)
		}
	}
	bad := append([]byte(nil), body...)
	bad[3]++ // TOTALSIZE disagrees
	if _, err := DecodeMessages(bad); !errors.Is(err, ErrMalformedMessage) {
		t.Fatalf("bad total size: %v", err)
	}
}

func TestAppendMessageLimits(t *testing.T) {
	m := sampleMessage()
	m.Topic = strings.Repeat("t", 128)
	if _, err := AppendMessage(nil, m); !errors.Is(err, ErrMalformedMessage) {
		t.Fatalf("long topic: %v", err)
	}
	m = sampleMessage()
	m.Properties = map[string]string{"K": strings.Repeat("v", 40000)}
	if _, err := AppendMessage(nil, m); !errors.Is(err, ErrMalformedMessage) {
		t.Fatalf("long properties: %v", err)
	}
}

// TestBatchGolden decodes and re-encodes a batch element as the Go client
// v2.1.2 encodes it:
// body "abc", TAGS=x.
func TestBatchGolden(t *testing.T) {
	golden, _ := hex.DecodeString("00000020" + "00000000" + "00000000" + "00000000" + "00000003" + "616263" + "0007" + "54414753" + "01" + "78" + "02")
	var got [][2]string
	err := DecodeBatch(golden, func(flag int32, body, props []byte) error {
		if flag != 0 {
			t.Fatalf("flag %d", flag)
		}
		got = append(got, [2]string{string(body), string(props)})
		return nil
	})
	if err != nil || len(got) != 1 || got[0][0] != "abc" || got[0][1] != "TAGS\x01x\x02" {
		t.Fatalf("decoded %q, %v", got, err)
	}
	if enc := AppendBatchElement(nil, 0, []byte("abc"), []byte("TAGS\x01x\x02")); !bytes.Equal(enc, golden) {
		t.Fatalf("encoded %x", enc)
	}
}

func TestDecodeBatchErrors(t *testing.T) {
	var body []byte
	body = AppendBatchElement(body, 1, []byte("one"), []byte("A\x011"))
	body = AppendBatchElement(body, 2, nil, nil)
	body = AppendBatchElement(body, 3, []byte("three"), []byte("B\x012\x02"))
	count := 0
	if err := DecodeBatch(body, func(flag int32, b, p []byte) error { count++; return nil }); err != nil || count != 3 {
		t.Fatalf("%d elements, %v", count, err)
	}
	for cut := 1; cut < len(body); cut++ {
		err := DecodeBatch(body[:cut], func(int32, []byte, []byte) error { return nil })
		if cut == 28 || cut == 50 { // element boundaries
			if err != nil {
				t.Fatalf("cut at boundary %d: %v", cut, err)
			}
			continue
		}
		if !errors.Is(err, ErrMalformedMessage) {
			t.Fatalf("cut %d: %v", cut, err)
		}
	}
	stop := errors.New("stop")
	if err := DecodeBatch(body, func(int32, []byte, []byte) error { return stop }); err != stop {
		t.Fatalf("callback error: %v", err)
	}
	bad := append([]byte(nil), body...)
	bad[3]++
	if err := DecodeBatch(bad, func(int32, []byte, []byte) error { return nil }); !errors.Is(err, ErrMalformedMessage) {
		t.Fatalf("bad total size: %v", err)
	}
}

func FuzzDecodeMessages(f *testing.F) {
	one, _ := AppendMessage(nil, sampleMessage())
	f.Add(one)
	m := sampleMessage()
	m.StoreHost = netip.MustParseAddrPort("[::1]:1")
	two, _ := AppendMessage(append([]byte(nil), one...), m)
	f.Add(two)
	f.Add([]byte{0, 0, 0, 4})
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, err := DecodeMessages(body)
		if err != nil {
			return
		}
		var again []byte
		for _, m := range msgs {
			if m.SysFlag&SysFlagCompressed != 0 {
				return // inflated bodies do not re-encode to the same bytes
			}
			if again, err = AppendMessage(again, m); err != nil {
				return // properties that do not survive ParseProperties
			}
		}
		back, err := DecodeMessages(again)
		if err != nil || len(back) != len(msgs) {
			t.Fatalf("re-decode: %d messages, %v", len(back), err)
		}
		for i := range msgs {
			if back[i].CommitLogOffset != msgs[i].CommitLogOffset || back[i].Topic != msgs[i].Topic ||
				!bytes.Equal(back[i].Body, msgs[i].Body) || back[i].MsgID != msgs[i].MsgID {
				t.Fatalf("message %d differs", i)
			}
		}
	})
}

func FuzzDecodeBatch(f *testing.F) {
	golden, _ := hex.DecodeString("000000200000000000000000000000000000000361626300075441475301780" + "2")
	f.Add(golden)
	f.Add(AppendBatchElement(AppendBatchElement(nil, 1, []byte("x"), nil), 2, nil, []byte("A\x01b")))
	f.Fuzz(func(t *testing.T, body []byte) {
		var again []byte
		err := DecodeBatch(body, func(flag int32, b, p []byte) error {
			again = AppendBatchElement(again, flag, b, p)
			return nil
		})
		if err != nil {
			return
		}
		// The magic and CRC words are not checked, so compare after them.
		var back []byte
		if err := DecodeBatch(again, func(flag int32, b, p []byte) error {
			back = AppendBatchElement(back, flag, b, p)
			return nil
		}); err != nil || !bytes.Equal(back, again) {
			t.Fatalf("re-decode: %v", err)
		}
		if len(again) != len(body) {
			t.Fatalf("re-encoded %d bytes from %d", len(again), len(body))
		}
	})
}
