package mqtt

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func mustDecode(t *testing.T, pkt []byte, version byte) packet {
	t.Helper()
	n, err := splitPacket(pkt, 1<<20, version == version5)
	if err != nil || n != len(pkt) {
		t.Fatalf("split: n=%d len=%d err=%v", n, len(pkt), err)
	}
	p, err := decodePacket(pkt, version)
	if err != nil {
		t.Fatalf("decode % x: %v", pkt, err)
	}
	return p
}

func TestRoundTripEveryPacket(t *testing.T) {
	var props Properties
	props.SetUint32(propMessageExpiry, 60)
	props.SetString(propContentType, "text/plain")
	props.SetString(propResponseTopic, "reply/here")
	props.SetCorrelationData([]byte{1, 2, 3})
	props.AddUser("k", "v1")
	props.AddUser("k", "v2")
	props.SetByte(propPayloadFormat, 1)
	props.SetUint16(propTopicAlias, 3)
	var connProps Properties
	connProps.SetUint32(propSessionExpiry, 3600)
	connProps.SetUint16(propReceiveMaximum, 10)
	connProps.SetUint32(propMaximumPacketSize, 1<<20)
	var willProps Properties
	willProps.SetUint32(propWillDelay, 5)
	var ackProps Properties
	ackProps.SetString(propReasonString, "why")
	var subProps Properties
	subProps.AddSubscriptionID(42)
	cases := []struct {
		version byte
		p       packet
	}{
		{version311, &Connect{ProtocolName: "MQTT", Level: 4, CleanStart: true, KeepAlive: 30, ClientID: "c1",
			Will: &Will{Topic: "w/t", Payload: []byte("bye"), QoS: 1, Retain: true}, Username: "u", HasUsername: true,
			Password: []byte("p"), HasPassword: true}},
		{version5, &Connect{ProtocolName: "MQTT", Level: 5, KeepAlive: 10, ClientID: "", Props: connProps,
			Will: &Will{Topic: "w", Payload: []byte{}, QoS: 2, Props: willProps}, Password: []byte("only"), HasPassword: true}},
		{version311, &Connack{SessionPresent: true, Reason: 0}},
		{version5, &Connack{Reason: ReasonClientIDNotValid, Props: ackProps}},
		{version311, &Publish{QoS: 1, Dup: true, Topic: "a/b", PacketID: 7, Payload: []byte("x")}},
		{version311, &Publish{QoS: 0, Retain: true, Topic: "a", Payload: []byte{}}},
		{version5, &Publish{QoS: 2, Topic: "a/b/c", PacketID: 65535, Props: props, Payload: []byte("héllo")}},
		{version311, &Ack{Type: typePuback, PacketID: 1}},
		{version5, &Ack{Type: typePubrec, PacketID: 2, Reason: ReasonNoMatchingSubscribers}},
		{version5, &Ack{Type: typePubrel, PacketID: 3, Reason: ReasonPacketIDNotFound, Props: ackProps}},
		{version5, &Ack{Type: typePubcomp, PacketID: 4}},
		{version311, &Subscribe{PacketID: 9, Subs: []Subscription{{Filter: "a/+", QoS: 1}, {Filter: "#", QoS: 2}}}},
		{version5, &Subscribe{PacketID: 9, Props: subProps, Subs: []Subscription{{Filter: "$share/g/a/#", QoS: 1,
			NoLocal: true, RetainAsPublished: true, RetainHandling: 2}}}},
		{version311, &Unsubscribe{PacketID: 5, Filters: []string{"a", "b/#"}}},
		{version5, &Unsubscribe{PacketID: 5, Filters: []string{"a"}, Props: Properties{}}},
		{version311, &SubAck{Type: typeSuback, PacketID: 9, Reasons: []byte{1, 0x80}}},
		{version5, &SubAck{Type: typeUnsuback, PacketID: 9, Reasons: []byte{0, 0x11}, Props: ackProps}},
		{version311, &Ping{Type: typePingreq}},
		{version311, &Ping{Type: typePingresp}},
		{version311, &Disconnect{}},
		{version5, &Disconnect{Reason: ReasonDisconnectWithWill}},
		{version5, &Disconnect{Reason: ReasonSessionTakenOver, Props: ackProps}},
		{version5, &Auth{Reason: 0x18, Props: ackProps}},
	}
	for _, c := range cases {
		enc := encodePacket(nil, c.p, c.version)
		got := mustDecode(t, enc, c.version)
		normalize(got)
		normalize(c.p)
		if !reflect.DeepEqual(got, c.p) {
			t.Errorf("v%d %T:\n got %+v\nwant %+v", c.version, c.p, got, c.p)
		}
		if again := encodePacket(nil, got, c.version); !bytes.Equal(again, enc) {
			t.Errorf("v%d %T: re-encoding differs", c.version, c.p)
		}
	}
}

// normalize makes empty and nil slices compare equal.
func normalize(p packet) {
	switch p := p.(type) {
	case *Publish:
		if len(p.Payload) == 0 {
			p.Payload = nil
		}
	case *Connect:
		if p.Will != nil && len(p.Will.Payload) == 0 {
			p.Will.Payload = nil
		}
	}
}

func TestDecodeRefusals(t *testing.T) {
	cases := []struct {
		name    string
		pkt     []byte
		version byte
		class   error
		reason  byte
	}{
		{"reserved type 0", []byte{0x00, 0}, version311, ErrMalformed, ReasonMalformedPacket},
		{"subscribe flags", []byte{0x80, 5, 0, 1, 0, 1, 'a'}, version311, ErrMalformed, ReasonMalformedPacket},
		{"publish qos 3", []byte{0x36, 3, 0, 1, 'a'}, version311, ErrMalformed, ReasonMalformedPacket},
		{"publish wildcard", append([]byte{0x30, 5}, appendString(nil, "a/+")...), version311, ErrProtocol, ReasonTopicNameInvalid},
		{"publish empty topic v3", []byte{0x30, 2, 0, 0}, version311, ErrProtocol, ReasonTopicNameInvalid},
		{"packet id 0", []byte{0x32, 5, 0, 1, 'a', 0, 0}, version311, ErrProtocol, ReasonProtocolError},
		{"invalid utf8 topic", []byte{0x30, 4, 0, 2, 0xC3, 0x28}, version311, ErrMalformed, ReasonMalformedPacket},
		{"NUL in topic", []byte{0x30, 4, 0, 2, 'a', 0}, version311, ErrMalformed, ReasonMalformedPacket},
		{"surrogate in topic", []byte{0x30, 5, 0, 3, 0xED, 0xA0, 0x80}, version311, ErrMalformed, ReasonMalformedPacket},
		{"subscribe without filters", []byte{0x82, 2, 0, 1}, version311, ErrProtocol, ReasonProtocolError},
		{"subscribe qos 3", append(append([]byte{0x82, 6, 0, 1}, appendString(nil, "a")...), 3), version311, ErrMalformed, ReasonMalformedPacket},
		{"subscribe v3 reserved option", append(append([]byte{0x82, 6, 0, 1}, appendString(nil, "a")...), 4), version311, ErrMalformed, ReasonMalformedPacket},
		{"retain handling 3", append(append([]byte{0x82, 7, 0, 1, 0}, appendString(nil, "a")...), 0x30), version5, ErrProtocol, ReasonProtocolError},
		{"pingreq body", []byte{0xC0, 1, 0}, version311, ErrMalformed, ReasonMalformedPacket},
		{"disconnect body v3", []byte{0xE0, 1, 0}, version311, ErrMalformed, ReasonMalformedPacket},
		{"auth in v3", []byte{0xF0, 0}, version311, ErrMalformed, ReasonMalformedPacket},
		{"duplicate property", []byte{0x40, 11, 0, 1, 0, 7, 0x1F, 0, 1, 'a', 0x1F, 0, 0}, version5, ErrProtocol, ReasonProtocolError},
		{"property not allowed", []byte{0x40, 8, 0, 1, 0, 4, 0x11, 0, 0, 0}, version5, ErrProtocol, ReasonProtocolError},
		{"unknown property", []byte{0x40, 6, 0, 1, 0, 2, 0x7F, 0}, version5, ErrMalformed, ReasonMalformedPacket},
		{"topic alias 0", []byte{0x30, 6, 0, 1, 'a', 3, 0x23, 0, 0}, version5, ErrProtocol, ReasonTopicAliasInvalid},
		{"payload not utf8", []byte{0x30, 7, 0, 1, 'a', 2, 0x01, 1, 0xFF}, version5, ErrProtocol, ReasonPayloadFormatInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodePacket(c.pkt, c.version)
			if !errors.Is(err, c.class) {
				t.Fatalf("err %v, want class %v", err, c.class)
			}
			if got := reasonOf(err); got != c.reason {
				t.Fatalf("reason 0x%02X, want 0x%02X", got, c.reason)
			}
		})
	}
}

func TestDecodeConnectRefusals(t *testing.T) {
	base := func(level, flags byte, rest ...byte) []byte {
		body := appendString(nil, "MQTT")
		body = append(body, level, flags, 0, 10)
		body = append(body, rest...)
		return append(appendFixedHeader(nil, typeConnect<<4, len(body)), body...)
	}
	id := appendString(nil, "c")
	if _, err := decodePacket(base(4, 0x01, id...), 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("reserved flag: %v", err)
	}
	if _, err := decodePacket(base(4, 0x08, id...), 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("will qos without will: %v", err)
	}
	if _, err := decodePacket(base(4, 0x40, append(id, 0, 1, 'p')...), 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("password without user name in 3.1.1: %v", err)
	}
	if _, err := decodePacket(base(5, 0x40, append(append([]byte{0}, id...), 0, 1, 'p')...), 0); err != nil {
		t.Errorf("password without user name in 5.0: %v", err)
	}
	p, err := decodePacket(base(3, 0, id...), 0)
	if !errors.Is(err, errUnsupportedVersion) || p.(*Connect).Level != 3 {
		t.Errorf("level 3: %v %+v", err, p)
	}
	if _, err := decodePacket(base(4, 0x02, append(id, 9)...), 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("trailing byte: %v", err)
	}
}

func TestSplitPacket(t *testing.T) {
	pub := encodePacket(nil, &Publish{Topic: "t", Payload: make([]byte, 200)}, version311)
	for i := 0; i < len(pub); i++ {
		if n, err := splitPacket(pub[:i], 1<<20, true); n != 0 || err != nil {
			t.Fatalf("prefix %d: n=%d err=%v", i, n, err)
		}
	}
	if n, err := splitPacket(pub, 1<<20, true); n != len(pub) || err != nil {
		t.Fatalf("whole: n=%d err=%v", n, err)
	}
	if _, err := splitPacket(pub[:3], 100, true); !errors.Is(err, ErrTooLarge) || reasonOf(err) != ReasonPacketTooLarge {
		t.Fatalf("oversize known from the header: %v", err)
	}
	if _, err := splitPacket([]byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, 1<<30, false); !errors.Is(err, ErrMalformed) {
		t.Fatalf("5-byte remaining length: %v", err)
	}
	if _, err := splitPacket([]byte{0x30, 0x80, 0x00}, 1<<20, true); !errors.Is(err, ErrMalformed) {
		t.Fatalf("non-minimal remaining length: %v", err)
	}
}

// FuzzDecodePacket: no input crashes the decoder, and whatever decodes
// encodes back to a packet that decodes to the same value.
func FuzzDecodePacket(f *testing.F) {
	seeds := []packet{
		&Connect{ProtocolName: "MQTT", Level: 5, ClientID: "x", Will: &Will{Topic: "w", QoS: 1}},
		&Publish{QoS: 1, Topic: "a/b", PacketID: 1, Payload: []byte("p")},
		&Subscribe{PacketID: 1, Subs: []Subscription{{Filter: "a/#", QoS: 2}}},
		&Ack{Type: typePubrel, PacketID: 1, Reason: 0x92},
		&Disconnect{Reason: 4},
	}
	for _, s := range seeds {
		f.Add(encodePacket(nil, s, version5), true)
		f.Add(encodePacket(nil, s, version311), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, v5 bool) {
		version := version311
		if v5 {
			version = version5
		}
		n, err := splitPacket(data, 1<<16, v5)
		if err != nil || n == 0 {
			return
		}
		p, err := decodePacket(data[:n], version)
		if err != nil {
			if reasonOf(err) < 0x80 {
				t.Fatalf("error %v without a failure reason code", err)
			}
			return
		}
		if c, ok := p.(*Connect); ok {
			version = c.Level
		}
		enc := encodePacket(nil, p, version)
		again, err := decodePacket(enc, version)
		if err != nil {
			t.Fatalf("re-encoded %T does not decode: %v", p, err)
		}
		normalize(p)
		normalize(again)
		if !reflect.DeepEqual(p, again) {
			t.Fatalf("round trip changed %T:\n%+v\n%+v", p, p, again)
		}
	})
}
