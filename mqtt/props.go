package mqtt

import (
	"encoding/binary"
)

// Property identifiers (MQTT 5.0 §2.2.2.2). Part of the format: do not change.
const (
	propPayloadFormat       byte = 0x01
	propMessageExpiry       byte = 0x02
	propContentType         byte = 0x03
	propResponseTopic       byte = 0x08
	propCorrelationData     byte = 0x09
	propSubscriptionID      byte = 0x0B
	propSessionExpiry       byte = 0x11
	propAssignedClientID    byte = 0x12
	propServerKeepAlive     byte = 0x13
	propAuthMethod          byte = 0x15
	propAuthData            byte = 0x16
	propRequestProblemInfo  byte = 0x17
	propWillDelay           byte = 0x18
	propRequestResponseInfo byte = 0x19
	propResponseInfo        byte = 0x1A
	propServerReference     byte = 0x1C
	propReasonString        byte = 0x1F
	propReceiveMaximum      byte = 0x21
	propTopicAliasMaximum   byte = 0x22
	propTopicAlias          byte = 0x23
	propMaximumQoS          byte = 0x24
	propRetainAvailable     byte = 0x25
	propUserProperty        byte = 0x26
	propMaximumPacketSize   byte = 0x27
	propWildcardAvailable   byte = 0x28
	propSubIDAvailable      byte = 0x29
	propSharedSubAvailable  byte = 0x2A
	packetWill                   = 0 // pseudo packet type for the Will Properties
	maxVarInt                    = 268435455
	maxSubscriptionID            = 268435455
	maxUTF8Length                = 65535
	propertyKindByte             = 1
	propertyKindUint16           = 2
	propertyKindUint32           = 3
	propertyKindVarInt           = 4
	propertyKindString           = 5
	propertyKindBinary           = 6
	propertyKindStringPair       = 7
	maxPropertyID                = 0x2A
)

// propertyKinds gives the data type of each known property identifier.
var propertyKinds = [maxPropertyID + 1]byte{
	propPayloadFormat: propertyKindByte, propMessageExpiry: propertyKindUint32, propContentType: propertyKindString,
	propResponseTopic: propertyKindString, propCorrelationData: propertyKindBinary, propSubscriptionID: propertyKindVarInt,
	propSessionExpiry: propertyKindUint32, propAssignedClientID: propertyKindString, propServerKeepAlive: propertyKindUint16,
	propAuthMethod: propertyKindString, propAuthData: propertyKindBinary, propRequestProblemInfo: propertyKindByte,
	propWillDelay: propertyKindUint32, propRequestResponseInfo: propertyKindByte, propResponseInfo: propertyKindString,
	propServerReference: propertyKindString, propReasonString: propertyKindString, propReceiveMaximum: propertyKindUint16,
	propTopicAliasMaximum: propertyKindUint16, propTopicAlias: propertyKindUint16, propMaximumQoS: propertyKindByte,
	propRetainAvailable: propertyKindByte, propUserProperty: propertyKindStringPair, propMaximumPacketSize: propertyKindUint32,
	propWildcardAvailable: propertyKindByte, propSubIDAvailable: propertyKindByte, propSharedSubAvailable: propertyKindByte,
}

// propertyPackets lists, per property, the packet types that may carry it
// (bit per packet type; bit 0 is the Will Properties of CONNECT).
var propertyPackets = [maxPropertyID + 1]uint16{
	propPayloadFormat:       bits(typePublish, packetWill),
	propMessageExpiry:       bits(typePublish, packetWill),
	propContentType:         bits(typePublish, packetWill),
	propResponseTopic:       bits(typePublish, packetWill),
	propCorrelationData:     bits(typePublish, packetWill),
	propSubscriptionID:      bits(typePublish, typeSubscribe),
	propSessionExpiry:       bits(typeConnect, typeConnack, typeDisconnect),
	propAssignedClientID:    bits(typeConnack),
	propServerKeepAlive:     bits(typeConnack),
	propAuthMethod:          bits(typeConnect, typeConnack, typeAuth),
	propAuthData:            bits(typeConnect, typeConnack, typeAuth),
	propRequestProblemInfo:  bits(typeConnect),
	propWillDelay:           bits(packetWill),
	propRequestResponseInfo: bits(typeConnect),
	propResponseInfo:        bits(typeConnack),
	propServerReference:     bits(typeConnack, typeDisconnect),
	propReasonString: bits(typeConnack, typePuback, typePubrec, typePubrel, typePubcomp, typeSuback, typeUnsuback,
		typeDisconnect, typeAuth),
	propReceiveMaximum:    bits(typeConnect, typeConnack),
	propTopicAliasMaximum: bits(typeConnect, typeConnack),
	propTopicAlias:        bits(typePublish),
	propMaximumQoS:        bits(typeConnack),
	propRetainAvailable:   bits(typeConnack),
	propUserProperty: bits(packetWill, typeConnect, typeConnack, typePublish, typePuback, typePubrec, typePubrel, typePubcomp,
		typeSubscribe, typeSuback, typeUnsubscribe, typeUnsuback, typeDisconnect, typeAuth),
	propMaximumPacketSize:  bits(typeConnect, typeConnack),
	propWildcardAvailable:  bits(typeConnack),
	propSubIDAvailable:     bits(typeConnack),
	propSharedSubAvailable: bits(typeConnack),
}

func bits(types ...byte) uint16 {
	var b uint16
	for _, t := range types {
		b |= 1 << t
	}
	return b
}

// UserProperty is one MQTT 5 user property; order and duplicates matter.
type UserProperty struct {
	Key, Value string
}

// Properties are the MQTT 5 properties of one packet. A field is
// meaningful when its identifier's bit is set in Present (Has reports it);
// MQTT 3.1.1 packets carry none.
type Properties struct {
	Present uint64 // bit per property identifier

	PayloadFormat       byte
	MessageExpiry       uint32
	ContentType         string
	ResponseTopic       string
	CorrelationData     []byte
	SubscriptionIDs     []uint32
	SessionExpiry       uint32
	AssignedClientID    string
	ServerKeepAlive     uint16
	AuthMethod          string
	AuthData            []byte
	RequestProblemInfo  byte
	WillDelay           uint32
	RequestResponseInfo byte
	ResponseInfo        string
	ServerReference     string
	ReasonString        string
	ReceiveMaximum      uint16
	TopicAliasMaximum   uint16
	TopicAlias          uint16
	MaximumQoS          byte
	RetainAvailable     byte
	MaximumPacketSize   uint32
	WildcardAvailable   byte
	SubIDAvailable      byte
	SharedSubAvailable  byte
	User                []UserProperty
}

// Has reports whether property id is present.
func (p *Properties) Has(id byte) bool { return p.Present&(1<<id) != 0 }

func (p *Properties) set(id byte) { p.Present |= 1 << id }

// decodeProperties reads a property length and the properties that follow
// from b for packet type pkt and returns the bytes after them.
func decodeProperties(b []byte, pkt byte, p *Properties) ([]byte, error) {
	n, size, err := decodeVarInt(b, true)
	if err != nil {
		return nil, err
	}
	b = b[size:]
	if n > len(b) {
		return nil, malformed("property length %d beyond the packet's %d bytes", n, len(b))
	}
	props, rest := b[:n], b[n:]
	for len(props) > 0 {
		id := props[0]
		props = props[1:]
		if id > maxPropertyID || propertyKinds[id] == 0 {
			return nil, malformed("unknown property 0x%02X", id)
		}
		if propertyPackets[id]&(1<<pkt) == 0 {
			return nil, protocolErr("property 0x%02X not allowed in %s", id, packetName(pkt))
		}
		if p.Has(id) && id != propUserProperty && id != propSubscriptionID {
			return nil, protocolErr("property 0x%02X given twice", id)
		}
		if props, err = p.decodeOne(id, props); err != nil {
			return nil, err
		}
		p.set(id)
	}
	return rest, p.check(pkt)
}

func packetName(pkt byte) string {
	if pkt == packetWill {
		return "Will Properties"
	}
	return typeNames[pkt&0x0F]
}

// decodeOne decodes the value of property id from b.
func (p *Properties) decodeOne(id byte, b []byte) ([]byte, error) {
	switch propertyKinds[id] {
	case propertyKindByte:
		if len(b) < 1 {
			return nil, malformed("property 0x%02X truncated", id)
		}
		p.setByte(id, b[0])
		return b[1:], nil
	case propertyKindUint16:
		if len(b) < 2 {
			return nil, malformed("property 0x%02X truncated", id)
		}
		p.setUint16(id, binary.BigEndian.Uint16(b))
		return b[2:], nil
	case propertyKindUint32:
		if len(b) < 4 {
			return nil, malformed("property 0x%02X truncated", id)
		}
		p.setUint32(id, binary.BigEndian.Uint32(b))
		return b[4:], nil
	case propertyKindVarInt:
		v, n, err := decodeVarInt(b, true)
		if err != nil {
			return nil, err
		}
		if v == 0 {
			return nil, protocolErr("subscription identifier 0")
		}
		p.SubscriptionIDs = append(p.SubscriptionIDs, uint32(v))
		return b[n:], nil
	case propertyKindString:
		s, rest, err := decodeString(b)
		if err != nil {
			return nil, err
		}
		p.setString(id, s)
		return rest, nil
	case propertyKindBinary:
		v, rest, err := decodeBinary(b)
		if err != nil {
			return nil, err
		}
		if id == propCorrelationData {
			p.CorrelationData = v
		} else {
			p.AuthData = v
		}
		return rest, nil
	}
	k, rest, err := decodeString(b)
	if err != nil {
		return nil, err
	}
	v, rest, err := decodeString(rest)
	if err != nil {
		return nil, err
	}
	p.User = append(p.User, UserProperty{Key: k, Value: v})
	return rest, nil
}

func (p *Properties) setByte(id, v byte) {
	switch id {
	case propPayloadFormat:
		p.PayloadFormat = v
	case propRequestProblemInfo:
		p.RequestProblemInfo = v
	case propRequestResponseInfo:
		p.RequestResponseInfo = v
	case propMaximumQoS:
		p.MaximumQoS = v
	case propRetainAvailable:
		p.RetainAvailable = v
	case propWildcardAvailable:
		p.WildcardAvailable = v
	case propSubIDAvailable:
		p.SubIDAvailable = v
	case propSharedSubAvailable:
		p.SharedSubAvailable = v
	}
}

func (p *Properties) setUint16(id byte, v uint16) {
	switch id {
	case propServerKeepAlive:
		p.ServerKeepAlive = v
	case propReceiveMaximum:
		p.ReceiveMaximum = v
	case propTopicAliasMaximum:
		p.TopicAliasMaximum = v
	case propTopicAlias:
		p.TopicAlias = v
	}
}

func (p *Properties) setUint32(id byte, v uint32) {
	switch id {
	case propMessageExpiry:
		p.MessageExpiry = v
	case propSessionExpiry:
		p.SessionExpiry = v
	case propWillDelay:
		p.WillDelay = v
	case propMaximumPacketSize:
		p.MaximumPacketSize = v
	}
}

func (p *Properties) setString(id byte, v string) {
	switch id {
	case propContentType:
		p.ContentType = v
	case propResponseTopic:
		p.ResponseTopic = v
	case propAssignedClientID:
		p.AssignedClientID = v
	case propAuthMethod:
		p.AuthMethod = v
	case propResponseInfo:
		p.ResponseInfo = v
	case propServerReference:
		p.ServerReference = v
	case propReasonString:
		p.ReasonString = v
	}
}

// check enforces the value rules of §3 on decoded properties.
func (p *Properties) check(pkt byte) error {
	switch {
	case p.Has(propPayloadFormat) && p.PayloadFormat > 1:
		return protocolErr("payload format indicator %d", p.PayloadFormat)
	case p.Has(propRequestProblemInfo) && p.RequestProblemInfo > 1:
		return protocolErr("request problem information %d", p.RequestProblemInfo)
	case p.Has(propRequestResponseInfo) && p.RequestResponseInfo > 1:
		return protocolErr("request response information %d", p.RequestResponseInfo)
	case p.Has(propReceiveMaximum) && p.ReceiveMaximum == 0:
		return protocolErr("receive maximum 0")
	case p.Has(propMaximumPacketSize) && p.MaximumPacketSize == 0:
		return protocolErr("maximum packet size 0")
	case p.Has(propTopicAlias) && p.TopicAlias == 0:
		return protocolReason(ReasonTopicAliasInvalid, "topic alias 0")
	case p.Has(propResponseTopic) && validateTopicName(p.ResponseTopic) != nil:
		return protocolErr("response topic is not a valid topic name")
	case pkt == typeSubscribe && len(p.SubscriptionIDs) > 1:
		return protocolErr("several subscription identifiers in SUBSCRIBE")
	}
	return nil
}

// appendProperties appends the property length and the present
// properties of p.
func appendProperties(dst []byte, p *Properties) []byte {
	if p == nil {
		return append(dst, 0)
	}
	n := p.size()
	dst = appendVarInt(dst, n)
	return p.appendBody(dst)
}

// size is the encoded length of the properties (without their length).
func (p *Properties) size() int {
	n := 0
	for id := byte(1); id <= maxPropertyID; id++ {
		if !p.Has(id) {
			continue
		}
		switch propertyKinds[id] {
		case propertyKindByte:
			n += 2
		case propertyKindUint16:
			n += 3
		case propertyKindUint32:
			n += 5
		case propertyKindVarInt:
			for _, v := range p.SubscriptionIDs {
				n += 1 + varIntSize(int(v))
			}
		case propertyKindString:
			n += 3 + len(p.stringOf(id))
		case propertyKindBinary:
			n += 3 + len(p.binaryOf(id))
		case propertyKindStringPair:
			for _, u := range p.User {
				n += 5 + len(u.Key) + len(u.Value)
			}
		}
	}
	return n
}

func (p *Properties) appendBody(dst []byte) []byte {
	for id := byte(1); id <= maxPropertyID; id++ {
		if !p.Has(id) {
			continue
		}
		switch propertyKinds[id] {
		case propertyKindByte:
			dst = append(dst, id, p.byteOf(id))
		case propertyKindUint16:
			dst = binary.BigEndian.AppendUint16(append(dst, id), p.uint16Of(id))
		case propertyKindUint32:
			dst = binary.BigEndian.AppendUint32(append(dst, id), p.uint32Of(id))
		case propertyKindVarInt:
			for _, v := range p.SubscriptionIDs {
				dst = appendVarInt(append(dst, id), int(v))
			}
		case propertyKindString:
			dst = appendString(append(dst, id), p.stringOf(id))
		case propertyKindBinary:
			dst = appendBinary(append(dst, id), p.binaryOf(id))
		case propertyKindStringPair:
			for _, u := range p.User {
				dst = appendString(appendString(append(dst, id), u.Key), u.Value)
			}
		}
	}
	return dst
}

func (p *Properties) byteOf(id byte) byte {
	switch id {
	case propPayloadFormat:
		return p.PayloadFormat
	case propRequestProblemInfo:
		return p.RequestProblemInfo
	case propRequestResponseInfo:
		return p.RequestResponseInfo
	case propMaximumQoS:
		return p.MaximumQoS
	case propRetainAvailable:
		return p.RetainAvailable
	case propWildcardAvailable:
		return p.WildcardAvailable
	case propSubIDAvailable:
		return p.SubIDAvailable
	}
	return p.SharedSubAvailable
}

func (p *Properties) uint16Of(id byte) uint16 {
	switch id {
	case propServerKeepAlive:
		return p.ServerKeepAlive
	case propReceiveMaximum:
		return p.ReceiveMaximum
	case propTopicAliasMaximum:
		return p.TopicAliasMaximum
	}
	return p.TopicAlias
}

func (p *Properties) uint32Of(id byte) uint32 {
	switch id {
	case propMessageExpiry:
		return p.MessageExpiry
	case propSessionExpiry:
		return p.SessionExpiry
	case propWillDelay:
		return p.WillDelay
	}
	return p.MaximumPacketSize
}

func (p *Properties) stringOf(id byte) string {
	switch id {
	case propContentType:
		return p.ContentType
	case propResponseTopic:
		return p.ResponseTopic
	case propAssignedClientID:
		return p.AssignedClientID
	case propAuthMethod:
		return p.AuthMethod
	case propResponseInfo:
		return p.ResponseInfo
	case propServerReference:
		return p.ServerReference
	}
	return p.ReasonString
}

func (p *Properties) binaryOf(id byte) []byte {
	if id == propCorrelationData {
		return p.CorrelationData
	}
	return p.AuthData
}

// SetByte, SetUint16, SetUint32, SetString and SetBinary set a property
// and mark it present (encoders and tests).
func (p *Properties) SetByte(id, v byte)          { p.setByte(id, v); p.set(id) }
func (p *Properties) SetUint16(id byte, v uint16) { p.setUint16(id, v); p.set(id) }
func (p *Properties) SetUint32(id byte, v uint32) { p.setUint32(id, v); p.set(id) }
func (p *Properties) SetString(id byte, v string) { p.setString(id, v); p.set(id) }

// AddUser appends a user property.
func (p *Properties) AddUser(k, v string) {
	p.User = append(p.User, UserProperty{Key: k, Value: v})
	p.set(propUserProperty)
}

// SetCorrelationData sets the correlation data.
func (p *Properties) SetCorrelationData(v []byte) {
	p.CorrelationData = v
	p.set(propCorrelationData)
}

// AddSubscriptionID appends a subscription identifier.
func (p *Properties) AddSubscriptionID(id uint32) {
	p.SubscriptionIDs = append(p.SubscriptionIDs, id)
	p.set(propSubscriptionID)
}
