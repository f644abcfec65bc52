package mqtt

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
)

// connectRaw dials and connects a raw client; it fails unless accepted.
func connectRaw(t *testing.T, tg *testGateway, version byte, cp *Connect) (*rawClient, *Connack) {
	t.Helper()
	r := dialRaw(t, tg.gw.Addr(), version)
	ack := r.connect(cp)
	if ack.Reason != 0 {
		t.Fatalf("CONNACK reason 0x%02X", ack.Reason)
	}
	return r, ack
}

// expectDisconnect reads until the close and checks the last packet was
// an MQTT 5 DISCONNECT with reason.
func expectDisconnect(t *testing.T, r *rawClient, reason byte) {
	t.Helper()
	seen := r.expectClosed(5 * time.Second)
	if len(seen) == 0 {
		t.Fatalf("closed without DISCONNECT, want reason 0x%02X", reason)
	}
	d, ok := seen[len(seen)-1].(*Disconnect)
	if !ok || d.Reason != reason {
		t.Fatalf("last packet %#v, want DISCONNECT 0x%02X", seen[len(seen)-1], reason)
	}
}

func subscribeRaw(t *testing.T, r *rawClient, id uint16, subs ...Subscription) *SubAck {
	t.Helper()
	r.send(&Subscribe{PacketID: id, Subs: subs})
	for {
		p := r.next(5 * time.Second)
		if a, ok := p.(*SubAck); ok && a.PacketID == id {
			return a
		}
		if p == nil {
			t.Fatal("closed waiting for SUBACK")
		}
	}
}

// nextPublish reads packets until a PUBLISH.
func nextPublish(t *testing.T, r *rawClient) *Publish {
	t.Helper()
	for {
		switch p := r.next(5 * time.Second).(type) {
		case *Publish:
			return p
		case nil:
			t.Fatal("closed waiting for PUBLISH")
		}
	}
}

// TestBadInputClosesOnlyThatClient: each kind of bad input closes its
// connection with the right reason while a neighbour keeps publishing and
// receiving.
func TestBadInputClosesOnlyThatClient(t *testing.T) {
	tg := startGateway(t, "", Options{MaxPacketSize: 4096}, nil)
	neighbour, _ := connectRaw(t, tg, version5, &Connect{ClientID: "neighbour", CleanStart: true})
	subscribeRaw(t, neighbour, 1, Subscription{Filter: "n/#", QoS: 1})
	check := func(i int) {
		t.Helper()
		neighbour.send(&Publish{Topic: "n/x", QoS: 1, PacketID: uint16(100 + i), Payload: []byte{byte(i)}})
		var gotAck, gotMsg bool
		for !gotAck || !gotMsg {
			switch p := neighbour.next(5 * time.Second).(type) {
			case *Ack:
				gotAck = gotAck || p.PacketID == uint16(100+i)
			case *Publish:
				gotMsg = gotMsg || bytes.Equal(p.Payload, []byte{byte(i)})
				neighbour.send(&Ack{Type: typePuback, PacketID: p.PacketID})
			case nil:
				t.Fatal("neighbour was closed")
			}
		}
	}
	cases := []struct {
		name   string
		bad    []byte
		reason byte
	}{
		{"malformed", []byte{0x82, 3, 0, 1, 0xFF}, ReasonMalformedPacket},
		{"wildcard in topic", encodePacket(nil, &Publish{Topic: "a/#"}, version5), ReasonTopicNameInvalid},
		{"oversize", encodePacket(nil, &Publish{Topic: "a", Payload: make([]byte, 5000)}, version5), ReasonPacketTooLarge},
		{"invalid utf8 topic", []byte{0x30, 5, 0, 2, 0xC3, 0x28, 0}, ReasonMalformedPacket},
		{"second connect", encodePacket(nil, &Connect{ProtocolName: "MQTT", Level: 5, ClientID: "x"}, version5), ReasonProtocolError},
		{"unknown alias", []byte{0x30, 6, 0, 0, 3, 0x23, 0, 9}, ReasonProtocolError},
		{"pubrel flags", []byte{0x60, 2, 0, 1}, ReasonMalformedPacket},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := connectRaw(t, tg, version5, &Connect{ClientID: "bad" + c.name, CleanStart: true})
			r.write(c.bad)
			expectDisconnect(t, r, c.reason)
			check(i)
		})
	}
	t.Run("packet before connect", func(t *testing.T) {
		r := dialRaw(t, tg.gw.Addr(), version311)
		r.send(&Ping{Type: typePingreq})
		if seen := r.expectClosed(5 * time.Second); len(seen) != 0 {
			t.Fatalf("got %v before the close", seen)
		}
		check(50)
	})
	t.Run("unsupported version", func(t *testing.T) {
		r := dialRaw(t, tg.gw.Addr(), version311)
		r.write(encodePacket(nil, &Connect{ProtocolName: "MQIsdp", Level: 3, ClientID: "old"}, version311))
		seen := r.expectClosed(5 * time.Second)
		if len(seen) != 1 || seen[0].(*Connack).Reason != connackV3BadVersion {
			t.Fatalf("got %#v", seen)
		}
		check(51)
	})
	t.Run("v3 malformed closes silently", func(t *testing.T) {
		r, _ := connectRaw(t, tg, version311, &Connect{ClientID: "v3bad", CleanStart: true})
		r.write([]byte{0x82, 3, 0, 1, 0xFF})
		if seen := r.expectClosed(5 * time.Second); len(seen) != 0 {
			t.Fatalf("got %v", seen)
		}
		check(52)
	})
	if tg.gw.metrics.protocolErrors.Load() < int64(len(cases)) {
		t.Fatalf("protocol errors counted: %d", tg.gw.metrics.protocolErrors.Load())
	}
}

// TestConnectRules: client id rules, assigned ids, CONNACK properties.
func TestConnectRules(t *testing.T) {
	tg := startGateway(t, "", Options{}, nil)
	r := dialRaw(t, tg.gw.Addr(), version311)
	if ack := r.connect(&Connect{ClientID: "", CleanStart: false}); ack.Reason != connackV3IDRejected {
		t.Fatalf("v3 empty id without clean session: 0x%02X", ack.Reason)
	}
	r = dialRaw(t, tg.gw.Addr(), version5)
	if ack := r.connect(&Connect{ClientID: "bad\x01id", CleanStart: true}); ack.Reason != ReasonClientIDNotValid {
		t.Fatalf("control character id: 0x%02X", ack.Reason)
	}
	var props Properties
	props.SetUint32(propSessionExpiry, 10)
	_, ack := connectRaw(t, tg, version5, &Connect{ClientID: "", CleanStart: true, KeepAlive: 60, Props: props})
	id := ack.Props.AssignedClientID
	if !strings.HasPrefix(id, "comet-") || ack.Props.ReceiveMaximum != 1024 || ack.Props.TopicAliasMaximum != 64 ||
		!ack.Props.Has(propMaximumPacketSize) {
		t.Fatalf("CONNACK properties %+v", ack.Props)
	}
	r = dialRaw(t, tg.gw.Addr(), version5)
	var authProps Properties
	authProps.SetString(propAuthMethod, "SCRAM")
	if ack := r.connect(&Connect{ClientID: "scram", Props: authProps}); ack.Reason != ReasonBadAuthenticationMethod {
		t.Fatalf("auth method: 0x%02X", ack.Reason)
	}
}

// TestQoS2ExactlyOnce: a QoS 2 publish repeated with DUP before PUBREL is
// stored once; the subscriber's QoS 2 handshake completes.
func TestQoS2ExactlyOnce(t *testing.T) {
	tg := startGateway(t, "", Options{}, nil)
	sub, _ := connectRaw(t, tg, version5, &Connect{ClientID: "sub", CleanStart: true})
	subscribeRaw(t, sub, 1, Subscription{Filter: "q2/#", QoS: 2})
	pub, _ := connectRaw(t, tg, version5, &Connect{ClientID: "pub", CleanStart: true})
	p := &Publish{Topic: "q2/a", QoS: 2, PacketID: 7, Payload: []byte("once")}
	pub.send(p)
	if a := pub.next(5 * time.Second).(*Ack); a.Type != typePubrec || a.PacketID != 7 {
		t.Fatalf("want PUBREC 7, got %+v", a)
	}
	p.Dup = true
	pub.send(p)
	if a := pub.next(5 * time.Second).(*Ack); a.Type != typePubrec || a.PacketID != 7 {
		t.Fatalf("repeat: want PUBREC 7, got %+v", a)
	}
	pub.send(&Ack{Type: typePubrel, PacketID: 7})
	if a := pub.next(5 * time.Second).(*Ack); a.Type != typePubcomp || a.PacketID != 7 || a.Reason != 0 {
		t.Fatalf("want PUBCOMP 7, got %+v", a)
	}
	pub.send(&Ack{Type: typePubrel, PacketID: 7})
	if a := pub.next(5 * time.Second).(*Ack); a.Type != typePubcomp || a.Reason != ReasonPacketIDNotFound {
		t.Fatalf("second PUBREL: got %+v", a)
	}
	m := nextPublish(t, sub)
	if m.QoS != 2 || string(m.Payload) != "once" {
		t.Fatalf("got %+v", m)
	}
	sub.send(&Ack{Type: typePubrec, PacketID: m.PacketID})
	if a := sub.next(5 * time.Second).(*Ack); a.Type != typePubrel || a.PacketID != m.PacketID {
		t.Fatalf("want PUBREL, got %+v", a)
	}
	sub.send(&Ack{Type: typePubcomp, PacketID: m.PacketID})
	pub.send(&Publish{Topic: "q2/a", QoS: 0, Payload: []byte("marker")})
	if m := nextPublish(t, sub); string(m.Payload) != "marker" {
		t.Fatalf("the QoS 2 message was delivered twice: %q", m.Payload)
	}
}

// TestMQTT5Properties: user properties (order, duplicates), content type,
// response topic, correlation data, payload format and message expiry
// reach an MQTT 5 subscriber; a topic alias resolves.
func TestMQTT5Properties(t *testing.T) {
	tg := startGateway(t, "", Options{}, nil)
	sub, _ := connectRaw(t, tg, version5, &Connect{ClientID: "sub", CleanStart: true})
	var subProps Properties
	subProps.AddSubscriptionID(9)
	sub.send(&Subscribe{PacketID: 1, Props: subProps, Subs: []Subscription{{Filter: "p/+", QoS: 1}}})
	sub.next(5 * time.Second)
	pub, _ := connectRaw(t, tg, version5, &Connect{ClientID: "pub", CleanStart: true})
	var props Properties
	props.AddUser("k", "1")
	props.AddUser("k", "2")
	props.AddUser("z", "last")
	props.SetString(propContentType, "application/json")
	props.SetString(propResponseTopic, "reply/to")
	props.SetCorrelationData([]byte{0, 1, 2, 255})
	props.SetByte(propPayloadFormat, 1)
	props.SetUint32(propMessageExpiry, 100)
	props.SetUint16(propTopicAlias, 5)
	pub.send(&Publish{Topic: "p/x", QoS: 1, PacketID: 1, Props: props, Payload: []byte(`{"a":1}`)})
	var aliased Properties
	aliased.SetUint16(propTopicAlias, 5)
	pub.send(&Publish{Topic: "", QoS: 1, PacketID: 2, Props: aliased, Payload: []byte("via alias")})
	m := nextPublish(t, sub)
	got := m.Props
	if m.Topic != "p/x" || !slices.Equal(got.User, props.User) || got.ContentType != "application/json" ||
		got.ResponseTopic != "reply/to" || !bytes.Equal(got.CorrelationData, []byte{0, 1, 2, 255}) ||
		got.PayloadFormat != 1 || got.MessageExpiry == 0 || got.MessageExpiry > 100 || !slices.Equal(got.SubscriptionIDs, []uint32{9}) ||
		got.Has(propTopicAlias) {
		t.Fatalf("got topic %q props %+v", m.Topic, got)
	}
	sub.send(&Ack{Type: typePuback, PacketID: m.PacketID})
	if m := nextPublish(t, sub); m.Topic != "p/x" || string(m.Payload) != "via alias" {
		t.Fatalf("aliased publish arrived as %q %q", m.Topic, m.Payload)
	}
}

// TestReceiveMaximumWindow: a client announcing Receive Maximum 2 has at
// most two unacknowledged messages; each PUBACK lets one more through.
func TestReceiveMaximumWindow(t *testing.T) {
	tg := startGateway(t, "", Options{}, nil)
	var props Properties
	props.SetUint16(propReceiveMaximum, 2)
	sub, _ := connectRaw(t, tg, version5, &Connect{ClientID: "slow", CleanStart: true, Props: props})
	subscribeRaw(t, sub, 1, Subscription{Filter: "w", QoS: 1})
	pub, _ := connectRaw(t, tg, version5, &Connect{ClientID: "pub", CleanStart: true})
	for i := 0; i < 6; i++ {
		pub.send(&Publish{Topic: "w", QoS: 1, PacketID: uint16(i + 1), Payload: []byte{byte('0' + i)}})
	}
	var got []string
	first, second := nextPublish(t, sub), nextPublish(t, sub)
	got = append(got, string(first.Payload), string(second.Payload))
	_ = sub.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var extra [1]byte
	if n, _ := sub.conn.Read(extra[:]); n > 0 {
		t.Fatal("a third message arrived before any PUBACK")
	}
	sub.send(&Ack{Type: typePuback, PacketID: first.PacketID})
	sub.send(&Ack{Type: typePuback, PacketID: second.PacketID})
	for len(got) < 6 {
		m := nextPublish(t, sub)
		got = append(got, string(m.Payload))
		sub.send(&Ack{Type: typePuback, PacketID: m.PacketID})
	}
	if !slices.Equal(got, []string{"0", "1", "2", "3", "4", "5"}) {
		t.Fatalf("order %v", got)
	}
}

// TestRetained: a retained message reaches later subscribers with RETAIN
// set (and live subscribers without it); an empty retained publish clears
// it; '#' does not see '$' topics.
func TestRetained(t *testing.T) {
	tg := startGateway(t, "", Options{}, nil)
	pub, _ := connectRaw(t, tg, version311, &Connect{ClientID: "pub", CleanStart: true})
	pub.send(&Publish{Topic: "r/a", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("ra")})
	pub.send(&Publish{Topic: "r/b", QoS: 0, Retain: true, Payload: []byte("rb")})
	pub.send(&Publish{Topic: "$sys/x", QoS: 1, PacketID: 2, Retain: true, Payload: []byte("dollar")})
	pub.next(5 * time.Second)
	pub.next(5 * time.Second)
	testutil.WaitFor(t, 5*time.Second, "3 retained", func() bool { return tg.gw.retained.count() == 3 })
	sub, _ := connectRaw(t, tg, version311, &Connect{ClientID: "sub", CleanStart: true})
	subscribeRaw(t, sub, 1, Subscription{Filter: "#", QoS: 1})
	var got []string
	for i := 0; i < 2; i++ {
		m := nextPublish(t, sub)
		if !m.Retain {
			t.Fatalf("retained delivery without RETAIN: %+v", m)
		}
		got = append(got, string(m.Payload))
		if m.QoS > 0 {
			sub.send(&Ack{Type: typePuback, PacketID: m.PacketID})
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"ra", "rb"}) {
		t.Fatalf("retained %v", got)
	}
	pub.send(&Publish{Topic: "r/a", QoS: 1, PacketID: 3, Retain: true})
	pub.next(5 * time.Second)
	if m := nextPublish(t, sub); m.Retain || len(m.Payload) != 0 {
		t.Fatalf("live forward of the clearing publish: %+v", m)
	}
	testutil.WaitFor(t, 5*time.Second, "retained cleared", func() bool { return tg.gw.retained.count() == 2 })
	late, _ := connectRaw(t, tg, version311, &Connect{ClientID: "late", CleanStart: true})
	subscribeRaw(t, late, 1, Subscription{Filter: "r/+", QoS: 0})
	if m := nextPublish(t, late); string(m.Payload) != "rb" {
		t.Fatalf("after clearing got %q", m.Payload)
	}
}

// TestWillOnAbruptClose: a Will is published when the connection drops
// without DISCONNECT, and not after a normal DISCONNECT.
func TestWillOnAbruptClose(t *testing.T) {
	tg := startGateway(t, "", Options{}, nil)
	watcher, _ := connectRaw(t, tg, version311, &Connect{ClientID: "w", CleanStart: true})
	subscribeRaw(t, watcher, 1, Subscription{Filter: "status/#", QoS: 1})
	polite, _ := connectRaw(t, tg, version311, &Connect{ClientID: "polite", CleanStart: true,
		Will: &Will{Topic: "status/polite", Payload: []byte("gone"), QoS: 1}})
	polite.send(&Disconnect{})
	polite.expectClosed(5 * time.Second)
	rude, _ := connectRaw(t, tg, version311, &Connect{ClientID: "rude", CleanStart: true,
		Will: &Will{Topic: "status/rude", Payload: []byte("died"), QoS: 1}})
	rude.conn.Close()
	m := nextPublish(t, watcher)
	if m.Topic != "status/rude" || string(m.Payload) != "died" {
		t.Fatalf("got %s %q", m.Topic, m.Payload)
	}
}

// TestKeepAliveExpiry: a client silent for 1.5 times its keep-alive is
// closed (MQTT 5: DISCONNECT 0x8D) and its Will fires.
func TestKeepAliveExpiry(t *testing.T) {
	tg := startGateway(t, "", Options{}, nil)
	watcher, _ := connectRaw(t, tg, version311, &Connect{ClientID: "w", CleanStart: true})
	subscribeRaw(t, watcher, 1, Subscription{Filter: "ka", QoS: 0})
	start := time.Now()
	silent, _ := connectRaw(t, tg, version5, &Connect{ClientID: "silent", CleanStart: true, KeepAlive: 1,
		Will: &Will{Topic: "ka", Payload: []byte("expired")}})
	expectDisconnect(t, silent, ReasonKeepAliveTimeout)
	if d := time.Since(start); d < 1400*time.Millisecond {
		t.Fatalf("closed after %v, before 1.5 x keep-alive", d)
	}
	if m := nextPublish(t, watcher); string(m.Payload) != "expired" {
		t.Fatalf("will %q", m.Payload)
	}
}

// TestSessionTakeover: a second connection with the same client id takes
// the session over; the first is told 0x8E and closed.
func TestSessionTakeover(t *testing.T) {
	tg := startGateway(t, "", Options{}, nil)
	var props Properties
	props.SetUint32(propSessionExpiry, 60)
	first, _ := connectRaw(t, tg, version5, &Connect{ClientID: "same", Props: props})
	subscribeRaw(t, first, 1, Subscription{Filter: "t", QoS: 1})
	second, ack := connectRaw(t, tg, version5, &Connect{ClientID: "same", Props: props})
	if !ack.SessionPresent {
		t.Fatal("resumed session not present")
	}
	expectDisconnect(t, first, ReasonSessionTakenOver)
	pub, _ := connectRaw(t, tg, version5, &Connect{ClientID: "pub", CleanStart: true})
	pub.send(&Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("to second")})
	if m := nextPublish(t, second); string(m.Payload) != "to second" {
		t.Fatalf("got %q", m.Payload)
	}
}

// TestSharedSubscriptionSplit: members of one share group split the
// messages between them, every message once; a plain subscriber gets all.
func TestSharedSubscriptionSplit(t *testing.T) {
	tg := startGateway(t, "", Options{}, nil)
	a, _ := connectRaw(t, tg, version5, &Connect{ClientID: "a", CleanStart: true})
	b, _ := connectRaw(t, tg, version5, &Connect{ClientID: "b", CleanStart: true})
	subscribeRaw(t, a, 1, Subscription{Filter: "$share/g/jobs/+", QoS: 1})
	subscribeRaw(t, b, 1, Subscription{Filter: "$share/g/jobs/+", QoS: 1})
	pub, _ := connectRaw(t, tg, version5, &Connect{ClientID: "p", CleanStart: true})
	const n = 40
	for i := 0; i < n; i++ {
		pub.send(&Publish{Topic: "jobs/x", QoS: 1, PacketID: uint16(i + 1), Payload: []byte{byte(i)}})
	}
	seen := map[byte]int{}
	counts := map[string]int{}
	deadline := time.Now().Add(15 * time.Second)
	total := 0
	for total < n && time.Now().Before(deadline) {
		for name, r := range map[string]*rawClient{"a": a, "b": b} {
			m, ok := r.poll(20 * time.Millisecond).(*Publish)
			if !ok {
				continue
			}
			seen[m.Payload[0]]++
			counts[name]++
			total++
			r.send(&Ack{Type: typePuback, PacketID: m.PacketID})
		}
	}
	if total != n {
		t.Fatalf("%d of %d messages arrived", total, n)
	}
	for k, v := range seen {
		if v != 1 {
			t.Fatalf("message %d delivered %d times", k, v)
		}
	}
	if counts["a"] == 0 || counts["b"] == 0 {
		t.Fatalf("no split: %v", counts)
	}
}

// TestPacketsSplitAcrossReads: packets arriving a byte at a time, and
// several packets in one write, are decoded the same.
func TestPacketsSplitAcrossReads(t *testing.T) {
	tg := startGateway(t, "", Options{}, nil)
	sub, _ := connectRaw(t, tg, version311, &Connect{ClientID: "sub", CleanStart: true})
	subscribeRaw(t, sub, 1, Subscription{Filter: "s", QoS: 0})
	pub, _ := connectRaw(t, tg, version311, &Connect{ClientID: "pub", CleanStart: true})
	one := encodePacket(nil, &Publish{Topic: "s", Payload: bytes.Repeat([]byte("a"), 300)}, version311)
	for _, b := range one {
		pub.write([]byte{b})
		time.Sleep(time.Millisecond)
	}
	var many []byte
	for i := 0; i < 5; i++ {
		many = encodePacket(many, &Publish{Topic: "s", Payload: []byte{byte('0' + i)}}, version311)
	}
	pub.write(many)
	if m := nextPublish(t, sub); len(m.Payload) != 300 {
		t.Fatalf("byte-by-byte packet arrived as %d bytes", len(m.Payload))
	}
	for i := 0; i < 5; i++ {
		if m := nextPublish(t, sub); string(m.Payload) != string(rune('0'+i)) {
			t.Fatalf("packet %d: %q", i, m.Payload)
		}
	}
}
