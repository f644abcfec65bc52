package mqtt

import (
	"encoding/binary"
	"unicode/utf8"
)

// The packet codec: the fixed header, the variable-length integers and
// strings of §1.5, and each packet of both protocol levels. Every packet
// (part of the format: do not change — it is the MQTT wire format that
// unmodified clients speak):
//
//	+---------+-----------+------------------------------------------------+
//	| bytes   | field     | notes                                          |
//	+---------+-----------+------------------------------------------------+
//	| 1       | type<<4 | | flags: PUBLISH DUP(8) QoS(6) RETAIN(1); PUBREL, |
//	|         | flags     | SUBSCRIBE, UNSUBSCRIBE 0010; all others 0000   |
//	| 1-4     | remaining | Variable Byte Integer: 7 bits a byte, low      |
//	|         | length    | first, bit 7 "more" (MQTT 5: shortest form)    |
//	| n       | variable  | packet id (2, big endian), MQTT 5 properties   |
//	|         | header    | (Variable Byte Integer length, then id+value)  |
//	| rest    | payload   | strings and binary: 2-byte length + bytes      |
//	+---------+-----------+------------------------------------------------+ Decoders take
// one whole packet (splitPacket finds its end), check every rule of the
// specification that the bytes alone decide, and return the reason code
// the connection is closed with when one is broken (reasonOf). Strings
// are copied; payloads and binary fields alias the packet, which the
// caller owns.

// packet is one decoded control packet.
type packet interface{ kind() byte }

// Connect is a CONNECT packet.
type Connect struct {
	ProtocolName string
	Level        byte
	CleanStart   bool
	KeepAlive    uint16
	ClientID     string
	Props        Properties
	Will         *Will
	Username     string
	HasUsername  bool
	Password     []byte
	HasPassword  bool
}

// Will is the Will Message of a CONNECT.
type Will struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	Props   Properties
}

// Connack is a CONNACK packet.
type Connack struct {
	SessionPresent bool
	Reason         byte
	Props          Properties
}

// Publish is a PUBLISH packet.
type Publish struct {
	Dup      bool
	QoS      byte
	Retain   bool
	Topic    string
	PacketID uint16
	Props    Properties
	Payload  []byte
}

// Ack is a PUBACK, PUBREC, PUBREL or PUBCOMP packet.
type Ack struct {
	Type     byte
	PacketID uint16
	Reason   byte
	Props    Properties
}

// Subscription is one topic filter of a SUBSCRIBE with its options.
type Subscription struct {
	Filter            string
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
}

// Subscribe is a SUBSCRIBE packet.
type Subscribe struct {
	PacketID uint16
	Props    Properties
	Subs     []Subscription
}

// Unsubscribe is an UNSUBSCRIBE packet.
type Unsubscribe struct {
	PacketID uint16
	Props    Properties
	Filters  []string
}

// SubAck is a SUBACK or UNSUBACK packet.
type SubAck struct {
	Type     byte
	PacketID uint16
	Props    Properties
	Reasons  []byte
}

// Disconnect is a DISCONNECT packet.
type Disconnect struct {
	Reason byte
	Props  Properties
}

// Auth is an AUTH packet.
type Auth struct {
	Reason byte
	Props  Properties
}

// Ping is a PINGREQ or PINGRESP packet.
type Ping struct{ Type byte }

func (*Connect) kind() byte     { return typeConnect }
func (*Connack) kind() byte     { return typeConnack }
func (*Publish) kind() byte     { return typePublish }
func (a *Ack) kind() byte       { return a.Type }
func (*Subscribe) kind() byte   { return typeSubscribe }
func (*Unsubscribe) kind() byte { return typeUnsubscribe }
func (s *SubAck) kind() byte    { return s.Type }
func (*Disconnect) kind() byte  { return typeDisconnect }
func (*Auth) kind() byte        { return typeAuth }
func (p *Ping) kind() byte      { return p.Type }

// splitPacket returns the length of the whole packet at the head of buf,
// or 0 while its fixed header or body is incomplete. A packet declaring
// more than maxSize bytes is ErrTooLarge as soon as its header is read;
// strict refuses Remaining Lengths not in their shortest form (MQTT 5).
func splitPacket(buf []byte, maxSize int, strict bool) (int, error) {
	if len(buf) < 2 {
		return 0, nil
	}
	n, size, err := decodeVarInt(buf[1:], strict)
	if err == errVarIntShort {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	total := 1 + size + n
	if total > maxSize {
		return 0, &reasonError{class: ErrTooLarge, reason: ReasonPacketTooLarge,
			msg: "packet of " + itoa(total) + " bytes, the maximum is " + itoa(maxSize)}
	}
	if len(buf) < total {
		return 0, nil
	}
	return total, nil
}

// decodePacket decodes one whole packet (as splitPacket delimits it) of a
// connection at protocol level version (0 before CONNECT).
func decodePacket(pkt []byte, version byte) (packet, error) {
	typ, flags := pkt[0]>>4, pkt[0]&0x0F
	_, size, err := decodeVarInt(pkt[1:], false)
	if err != nil {
		return nil, err
	}
	body := pkt[1+size:]
	if err := checkFlags(typ, flags); err != nil {
		return nil, err
	}
	v5 := version == version5
	switch typ {
	case typeConnect:
		return decodeConnect(body)
	case typeConnack:
		return decodeConnack(body, v5)
	case typePublish:
		return decodePublish(body, flags, v5)
	case typePuback, typePubrec, typePubrel, typePubcomp:
		return decodeAck(typ, body, v5)
	case typeSubscribe:
		return decodeSubscribe(body, v5)
	case typeUnsubscribe:
		return decodeUnsubscribe(body, v5)
	case typeSuback, typeUnsuback:
		return decodeSubAck(typ, body, v5)
	case typePingreq, typePingresp:
		if len(body) != 0 {
			return nil, malformed("%s with a body", typeNames[typ])
		}
		return &Ping{Type: typ}, nil
	case typeDisconnect:
		return decodeDisconnect(body, v5)
	case typeAuth:
		if !v5 {
			return nil, malformed("AUTH is not an MQTT 3.1.1 packet")
		}
		a := &Auth{}
		return a, decodeReasonAndProps(body, typeAuth, &a.Reason, &a.Props)
	}
	return nil, malformed("reserved packet type 0")
}

// checkFlags enforces the fixed header's reserved flag bits (§2.2.2).
func checkFlags(typ, flags byte) error {
	switch typ {
	case typePublish:
		if flags&0x06 == 0x06 {
			return malformed("PUBLISH with QoS 3")
		}
		return nil
	case typePubrel, typeSubscribe, typeUnsubscribe:
		if flags != 0x02 {
			return malformed("%s flags 0x%X, want 0x2", typeNames[typ], flags)
		}
		return nil
	}
	if flags != 0 {
		return malformed("%s flags 0x%X, want 0", typeNames[typ], flags)
	}
	return nil
}

func decodeConnect(b []byte) (*Connect, error) {
	c := &Connect{}
	var err error
	if c.ProtocolName, b, err = decodeString(b); err != nil {
		return nil, err
	}
	if len(b) < 1 {
		return nil, malformed("CONNECT without a protocol level")
	}
	c.Level, b = b[0], b[1:]
	if c.Level != version311 && c.Level != version5 {
		return c, errUnsupportedVersion
	}
	if c.ProtocolName != "MQTT" {
		return nil, protocolReason(ReasonUnsupportedProtocolVersion, "protocol name %q", c.ProtocolName)
	}
	if len(b) < 3 {
		return nil, malformed("CONNECT variable header truncated")
	}
	flags := b[0]
	c.KeepAlive = binary.BigEndian.Uint16(b[1:])
	b = b[3:]
	if err := checkConnectFlags(flags, c.Level); err != nil {
		return nil, err
	}
	c.CleanStart = flags&0x02 != 0
	v5 := c.Level == version5
	if v5 {
		if b, err = decodeProperties(b, typeConnect, &c.Props); err != nil {
			return nil, err
		}
	}
	if c.ClientID, b, err = decodeString(b); err != nil {
		return nil, err
	}
	if flags&0x04 != 0 {
		c.Will = &Will{QoS: flags >> 3 & 0x03, Retain: flags&0x20 != 0}
		if b, err = decodeWill(b, c.Will, v5); err != nil {
			return nil, err
		}
	}
	if b, err = decodeCredentials(b, flags, c); err != nil {
		return nil, err
	}
	if len(b) != 0 {
		return nil, malformed("%d bytes after the CONNECT payload", len(b))
	}
	return c, nil
}

// errUnsupportedVersion: a CONNECT of a protocol level the gateway does
// not speak; answered with CONNACK 0x01 (3.1.1 layout) and closed.
var errUnsupportedVersion = protocolReason(ReasonUnsupportedProtocolVersion, "unsupported protocol level")

func checkConnectFlags(flags, level byte) error {
	switch {
	case flags&0x01 != 0:
		return malformed("CONNECT reserved flag set")
	case flags&0x04 == 0 && flags&0x38 != 0:
		return malformed("will QoS or retain set without the will flag")
	case flags>>3&0x03 == 3:
		return malformed("will QoS 3")
	case level == version311 && flags&0x80 == 0 && flags&0x40 != 0:
		return malformed("password without user name")
	}
	return nil
}

func decodeWill(b []byte, w *Will, v5 bool) ([]byte, error) {
	var err error
	if v5 {
		if b, err = decodeProperties(b, packetWill, &w.Props); err != nil {
			return nil, err
		}
	}
	if w.Topic, b, err = decodeString(b); err != nil {
		return nil, err
	}
	if err := validateTopicName(w.Topic); err != nil {
		return nil, protocolReason(ReasonTopicNameInvalid, "will topic: %v", err)
	}
	if w.Payload, b, err = decodeBinary(b); err != nil {
		return nil, err
	}
	if v5 && w.Props.Has(propPayloadFormat) && w.Props.PayloadFormat == 1 && !validUTF8(w.Payload) {
		return nil, protocolReason(ReasonPayloadFormatInvalid, "will payload is not UTF-8")
	}
	return b, nil
}

func decodeCredentials(b []byte, flags byte, c *Connect) ([]byte, error) {
	var err error
	if flags&0x80 != 0 {
		if c.Username, b, err = decodeString(b); err != nil {
			return nil, err
		}
		c.HasUsername = true
	}
	if flags&0x40 != 0 {
		if c.Password, b, err = decodeBinary(b); err != nil {
			return nil, err
		}
		c.HasPassword = true
	}
	return b, nil
}

func decodeConnack(b []byte, v5 bool) (*Connack, error) {
	if len(b) < 2 {
		return nil, malformed("CONNACK truncated")
	}
	if b[0]&0xFE != 0 {
		return nil, malformed("CONNACK reserved flags")
	}
	c := &Connack{SessionPresent: b[0] == 1, Reason: b[1]}
	rest := b[2:]
	var err error
	if v5 {
		if rest, err = decodeProperties(rest, typeConnack, &c.Props); err != nil {
			return nil, err
		}
	}
	if len(rest) != 0 {
		return nil, malformed("bytes after CONNACK")
	}
	return c, nil
}

func decodePublish(b []byte, flags byte, v5 bool) (*Publish, error) {
	p := &Publish{Dup: flags&0x08 != 0, QoS: flags >> 1 & 0x03, Retain: flags&0x01 != 0}
	var err error
	if p.Topic, b, err = decodeString(b); err != nil {
		return nil, err
	}
	if p.QoS == 0 && p.Dup {
		return nil, malformed("DUP set on a QoS 0 PUBLISH")
	}
	if p.QoS > 0 {
		if p.PacketID, b, err = decodePacketID(b); err != nil {
			return nil, err
		}
	}
	if v5 {
		if b, err = decodeProperties(b, typePublish, &p.Props); err != nil {
			return nil, err
		}
		if p.Props.Has(propPayloadFormat) && p.Props.PayloadFormat == 1 && !validUTF8(b) {
			return nil, protocolReason(ReasonPayloadFormatInvalid, "payload is not UTF-8 as its format indicator says")
		}
	}
	if p.Topic != "" || !v5 {
		if err := validateTopicName(p.Topic); err != nil {
			return nil, protocolReason(ReasonTopicNameInvalid, "%v", err)
		}
	}
	p.Payload = b
	return p, nil
}

func decodePacketID(b []byte) (uint16, []byte, error) {
	if len(b) < 2 {
		return 0, nil, malformed("packet identifier truncated")
	}
	id := binary.BigEndian.Uint16(b)
	if id == 0 {
		return 0, nil, protocolErr("packet identifier 0")
	}
	return id, b[2:], nil
}

func decodeAck(typ byte, b []byte, v5 bool) (*Ack, error) {
	a := &Ack{Type: typ}
	var err error
	if a.PacketID, b, err = decodePacketID(b); err != nil {
		return nil, err
	}
	if !v5 {
		if len(b) != 0 {
			return nil, malformed("%s longer than 2 bytes", typeNames[typ])
		}
		return a, nil
	}
	return a, decodeReasonAndProps(b, typ, &a.Reason, &a.Props)
}

// decodeReasonAndProps reads the optional reason code and properties that
// end MQTT 5 acks, DISCONNECT and AUTH (absent reason: success).
func decodeReasonAndProps(b []byte, typ byte, reason *byte, props *Properties) error {
	if len(b) == 0 {
		return nil
	}
	*reason = b[0]
	if len(b) == 1 {
		return nil
	}
	rest, err := decodeProperties(b[1:], typ, props)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return malformed("%d bytes after the %s properties", len(rest), typeNames[typ])
	}
	return nil
}

func decodeSubscribe(b []byte, v5 bool) (*Subscribe, error) {
	s := &Subscribe{}
	var err error
	if s.PacketID, b, err = decodePacketID(b); err != nil {
		return nil, err
	}
	if v5 {
		if b, err = decodeProperties(b, typeSubscribe, &s.Props); err != nil {
			return nil, err
		}
	}
	for len(b) > 0 {
		var sub Subscription
		if sub.Filter, b, err = decodeString(b); err != nil {
			return nil, err
		}
		if len(b) < 1 {
			return nil, malformed("subscription options missing")
		}
		if err := decodeSubOptions(b[0], &sub, v5); err != nil {
			return nil, err
		}
		b = b[1:]
		s.Subs = append(s.Subs, sub)
	}
	if len(s.Subs) == 0 {
		return nil, protocolErr("SUBSCRIBE without a topic filter")
	}
	return s, nil
}

func decodeSubOptions(o byte, sub *Subscription, v5 bool) error {
	sub.QoS = o & 0x03
	if sub.QoS == 3 {
		return malformed("subscription QoS 3")
	}
	if !v5 {
		if o&0xFC != 0 {
			return malformed("reserved subscription option bits set")
		}
		return nil
	}
	if o&0xC0 != 0 {
		return malformed("reserved subscription option bits set")
	}
	sub.NoLocal = o&0x04 != 0
	sub.RetainAsPublished = o&0x08 != 0
	sub.RetainHandling = o >> 4 & 0x03
	if sub.RetainHandling == 3 {
		return protocolErr("retain handling 3")
	}
	return nil
}

func decodeUnsubscribe(b []byte, v5 bool) (*Unsubscribe, error) {
	u := &Unsubscribe{}
	var err error
	if u.PacketID, b, err = decodePacketID(b); err != nil {
		return nil, err
	}
	if v5 {
		if b, err = decodeProperties(b, typeUnsubscribe, &u.Props); err != nil {
			return nil, err
		}
	}
	for len(b) > 0 {
		var f string
		if f, b, err = decodeString(b); err != nil {
			return nil, err
		}
		u.Filters = append(u.Filters, f)
	}
	if len(u.Filters) == 0 {
		return nil, protocolErr("UNSUBSCRIBE without a topic filter")
	}
	return u, nil
}

func decodeSubAck(typ byte, b []byte, v5 bool) (*SubAck, error) {
	s := &SubAck{Type: typ}
	var err error
	if s.PacketID, b, err = decodePacketID(b); err != nil {
		return nil, err
	}
	if v5 {
		if b, err = decodeProperties(b, typ, &s.Props); err != nil {
			return nil, err
		}
	}
	if len(b) == 0 && (typ == typeSuback || v5) {
		return nil, protocolErr("%s without reason codes", typeNames[typ])
	}
	s.Reasons = append([]byte(nil), b...)
	return s, nil
}

func decodeDisconnect(b []byte, v5 bool) (*Disconnect, error) {
	d := &Disconnect{}
	if !v5 {
		if len(b) != 0 {
			return nil, malformed("MQTT 3.1.1 DISCONNECT with a body")
		}
		return d, nil
	}
	return d, decodeReasonAndProps(b, typeDisconnect, &d.Reason, &d.Props)
}

// Primitives (§1.5).

var errVarIntShort = malformed("variable byte integer truncated")

// decodeVarInt reads a Variable Byte Integer; strict refuses encodings
// longer than needed ([MQTT-1.5.5-1]).
func decodeVarInt(b []byte, strict bool) (value, size int, err error) {
	mult := 1
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, errVarIntShort
		}
		c := b[i]
		value += int(c&0x7F) * mult
		if c&0x80 == 0 {
			if strict && i > 0 && c == 0 {
				return 0, 0, malformed("variable byte integer not in its shortest form")
			}
			return value, i + 1, nil
		}
		mult *= 128
	}
	return 0, 0, malformed("variable byte integer longer than 4 bytes")
}

func varIntSize(v int) int {
	switch {
	case v < 128:
		return 1
	case v < 16384:
		return 2
	case v < 2097152:
		return 3
	}
	return 4
}

func appendVarInt(dst []byte, v int) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v > 0 {
			c |= 0x80
		}
		dst = append(dst, c)
		if v == 0 {
			return dst
		}
	}
}

// decodeString reads a UTF-8 Encoded String and checks it is well formed,
// without U+0000 ([MQTT-1.5.3-1..2], [MQTT-1.5.4-1..2]).
func decodeString(b []byte) (string, []byte, error) {
	raw, rest, err := decodeBinary(b)
	if err != nil {
		return "", nil, err
	}
	if !validUTF8(raw) {
		return "", nil, malformed("string is not well-formed UTF-8 or contains U+0000")
	}
	return string(raw), rest, nil
}

func validUTF8(b []byte) bool {
	for _, c := range b {
		if c == 0 {
			return false
		}
	}
	return utf8.Valid(b) // refuses surrogates and overlong forms
}

// decodeBinary reads Binary Data (two-byte length and bytes), aliasing b.
func decodeBinary(b []byte) ([]byte, []byte, error) {
	if len(b) < 2 {
		return nil, nil, malformed("length prefix truncated")
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return nil, nil, malformed("field of %d bytes truncated at %d", n, len(b)-2)
	}
	return b[2 : 2+n : 2+n], b[2+n:], nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

func appendBinary(dst, b []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(b)))
	return append(dst, b...)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}
