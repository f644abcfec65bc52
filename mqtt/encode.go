package mqtt

import "encoding/binary"

// Encoders append one whole packet to dst. The gateway sends CONNACK,
// PUBLISH, the acks, SUBACK, UNSUBACK, PINGRESP and DISCONNECT; the
// client-side packets are encoded for tests and the round-trip fuzz
// target. version selects the protocol level's layout.

// appendFixedHeader appends the first byte and the Remaining Length.
func appendFixedHeader(dst []byte, first byte, remaining int) []byte {
	return appendVarInt(append(dst, first), remaining)
}

// encodePacket appends p encoded for version.
func encodePacket(dst []byte, p packet, version byte) []byte {
	v5 := version == version5
	switch p := p.(type) {
	case *Connect:
		return appendConnect(dst, p)
	case *Connack:
		return appendConnack(dst, p, v5)
	case *Publish:
		return appendPublish(dst, p, v5)
	case *Ack:
		return appendAck(dst, p, v5)
	case *Subscribe:
		return appendSubscribe(dst, p, v5)
	case *Unsubscribe:
		return appendUnsubscribe(dst, p, v5)
	case *SubAck:
		return appendSubAck(dst, p, v5)
	case *Disconnect:
		return appendReasonPacket(dst, typeDisconnect, p.Reason, &p.Props, v5)
	case *Auth:
		return appendReasonPacket(dst, typeAuth, p.Reason, &p.Props, true)
	case *Ping:
		return append(dst, p.Type<<4, 0)
	}
	return dst
}

func appendConnect(dst []byte, c *Connect) []byte {
	v5 := c.Level == version5
	var flags byte
	if c.CleanStart {
		flags |= 0x02
	}
	if c.Will != nil {
		flags |= 0x04 | c.Will.QoS<<3
		if c.Will.Retain {
			flags |= 0x20
		}
	}
	if c.HasUsername {
		flags |= 0x80
	}
	if c.HasPassword {
		flags |= 0x40
	}
	var body []byte
	body = appendString(body, c.ProtocolName)
	body = append(body, c.Level, flags)
	body = binary.BigEndian.AppendUint16(body, c.KeepAlive)
	if v5 {
		body = appendProperties(body, &c.Props)
	}
	body = appendString(body, c.ClientID)
	if c.Will != nil {
		if v5 {
			body = appendProperties(body, &c.Will.Props)
		}
		body = appendString(body, c.Will.Topic)
		body = appendBinary(body, c.Will.Payload)
	}
	if c.HasUsername {
		body = appendString(body, c.Username)
	}
	if c.HasPassword {
		body = appendBinary(body, c.Password)
	}
	return append(appendFixedHeader(dst, typeConnect<<4, len(body)), body...)
}

func appendConnack(dst []byte, c *Connack, v5 bool) []byte {
	var sp byte
	if c.SessionPresent {
		sp = 1
	}
	if !v5 {
		return append(dst, typeConnack<<4, 2, sp, c.Reason)
	}
	n := c.Props.size()
	dst = appendFixedHeader(dst, typeConnack<<4, 2+varIntSize(n)+n)
	dst = append(dst, sp, c.Reason)
	return c.Props.appendBody(appendVarInt(dst, n))
}

// publishFlags is the first byte of a PUBLISH.
func publishFlags(dup bool, qos byte, retain bool) byte {
	b := typePublish<<4 | qos<<1
	if dup {
		b |= 0x08
	}
	if retain {
		b |= 0x01
	}
	return b
}

func appendPublish(dst []byte, p *Publish, v5 bool) []byte {
	remaining := 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		remaining += 2
	}
	n := 0
	if v5 {
		n = p.Props.size()
		remaining += varIntSize(n) + n
	}
	dst = appendFixedHeader(dst, publishFlags(p.Dup, p.QoS, p.Retain), remaining)
	dst = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = binary.BigEndian.AppendUint16(dst, p.PacketID)
	}
	if v5 {
		dst = p.Props.appendBody(appendVarInt(dst, n))
	}
	return append(dst, p.Payload...)
}

func appendAck(dst []byte, a *Ack, v5 bool) []byte {
	first := a.Type << 4
	if a.Type == typePubrel {
		first |= 0x02
	}
	if !v5 || (a.Reason == 0 && a.Props.Present == 0) {
		dst = append(dst, first, 2)
		return binary.BigEndian.AppendUint16(dst, a.PacketID)
	}
	if a.Props.Present == 0 {
		dst = append(dst, first, 3)
		return append(binary.BigEndian.AppendUint16(dst, a.PacketID), a.Reason)
	}
	n := a.Props.size()
	dst = appendFixedHeader(dst, first, 3+varIntSize(n)+n)
	dst = append(binary.BigEndian.AppendUint16(dst, a.PacketID), a.Reason)
	return a.Props.appendBody(appendVarInt(dst, n))
}

func appendSubscribe(dst []byte, s *Subscribe, v5 bool) []byte {
	body := binary.BigEndian.AppendUint16(nil, s.PacketID)
	if v5 {
		body = appendProperties(body, &s.Props)
	}
	for _, sub := range s.Subs {
		o := sub.QoS
		if sub.NoLocal {
			o |= 0x04
		}
		if sub.RetainAsPublished {
			o |= 0x08
		}
		o |= sub.RetainHandling << 4
		body = append(appendString(body, sub.Filter), o)
	}
	return append(appendFixedHeader(dst, typeSubscribe<<4|0x02, len(body)), body...)
}

func appendUnsubscribe(dst []byte, u *Unsubscribe, v5 bool) []byte {
	body := binary.BigEndian.AppendUint16(nil, u.PacketID)
	if v5 {
		body = appendProperties(body, &u.Props)
	}
	for _, f := range u.Filters {
		body = appendString(body, f)
	}
	return append(appendFixedHeader(dst, typeUnsubscribe<<4|0x02, len(body)), body...)
}

func appendSubAck(dst []byte, s *SubAck, v5 bool) []byte {
	n := 0
	remaining := 2 + len(s.Reasons)
	if v5 {
		n = s.Props.size()
		remaining += varIntSize(n) + n
	}
	dst = appendFixedHeader(dst, s.Type<<4, remaining)
	dst = binary.BigEndian.AppendUint16(dst, s.PacketID)
	if v5 {
		dst = s.Props.appendBody(appendVarInt(dst, n))
	}
	return append(dst, s.Reasons...)
}

// appendReasonPacket appends a DISCONNECT or AUTH: empty in 3.1.1 and for
// a bare success in MQTT 5.
func appendReasonPacket(dst []byte, typ, reason byte, props *Properties, v5 bool) []byte {
	if !v5 || (reason == 0 && props.Present == 0 && typ == typeDisconnect) {
		return append(dst, typ<<4, 0)
	}
	if props.Present == 0 {
		return append(dst, typ<<4, 1, reason)
	}
	n := props.size()
	dst = appendFixedHeader(dst, typ<<4, 1+varIntSize(n)+n)
	dst = append(dst, reason)
	return props.appendBody(appendVarInt(dst, n))
}
