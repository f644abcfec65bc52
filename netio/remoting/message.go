package remoting

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/netip"
)

// MessageMagic marks a stored message record; MessageBlankMagic marks the
// blank end-of-file record that never appears in a pull body.
const (
	MessageMagic      uint32 = 0xDAA320A7
	MessageBlankMagic uint32 = 0xCBD43194
)

// maxInflatedBodySize bounds what a compressed body may inflate to, so a
// hostile pull body cannot exhaust memory. It is four times the largest
// message Java accepts.
const maxInflatedBodySize = 4 * DefaultMaxMessageBodySize

// MessageExt is one stored message as a consumer sees it.
// After DecodeMessages, Body aliases the decoded buffer unless the body was
// inflated; Topic, Properties and the ids are independent strings.
type MessageExt struct {
	StoreSize                 int32
	MagicCode                 uint32
	BodyCRC                   int32
	QueueID                   int32
	Flag                      int32
	QueueOffset               int64
	CommitLogOffset           int64
	SysFlag                   int32
	BornTimestamp             int64
	BornHost                  netip.AddrPort
	StoreTimestamp            int64
	StoreHost                 netip.AddrPort
	ReconsumeTimes            int32
	PreparedTransactionOffset int64
	Body                      []byte
	Topic                     string
	Properties                map[string]string
	// OffsetMsgID is computed from StoreHost and CommitLogOffset.
	OffsetMsgID string
	// MsgID is the UNIQ_KEY property when present, else OffsetMsgID, as the
	// Go client computes it.
	MsgID string
}

// Property returns one property value.
func (m *MessageExt) Property(key string) string { return m.Properties[key] }

// Tags returns the TAGS property.
func (m *MessageExt) Tags() string { return m.Properties[PropertyTags] }

// Keys returns the KEYS property.
func (m *MessageExt) Keys() string { return m.Properties[PropertyKeys] }

// DecodeMessages decodes a pull response body: stored records concatenated.
// Records must be exactly their fields (TOTALSIZE is checked against them).
// Errors wrap ErrMalformedMessage and give the record's byte offset.
func DecodeMessages(body []byte) ([]*MessageExt, error) {
	var msgs []*MessageExt
	for pos := 0; pos < len(body); {
		m := new(MessageExt)
		n, err := DecodeMessage(body[pos:], m)
		if err != nil {
			return msgs, fmt.Errorf("%w (record at byte %d)", err, pos)
		}
		msgs = append(msgs, m)
		pos += n
	}
	return msgs, nil
}

// messageReader walks the fields of one record.
type messageReader struct {
	b   []byte
	pos int
	err error
}

func (r *messageReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.pos {
		r.err = fmt.Errorf("%w: truncated at byte %d", ErrMalformedMessage, r.pos)
		return nil
	}
	s := r.b[r.pos : r.pos+n]
	r.pos += n
	return s
}

func (r *messageReader) u32() uint32 {
	if s := r.take(4); s != nil {
		return binary.BigEndian.Uint32(s)
	}
	return 0
}

func (r *messageReader) u64() uint64 {
	if s := r.take(8); s != nil {
		return binary.BigEndian.Uint64(s)
	}
	return 0
}

func (r *messageReader) host(ipv6 bool) netip.AddrPort {
	ipLen := 4
	if ipv6 {
		ipLen = 16
	}
	ip := r.take(ipLen)
	port := r.u32()
	if r.err != nil {
		return netip.AddrPort{}
	}
	addr, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(addr, uint16(port))
}

// DecodeMessage decodes the record at the start of b into m and returns its
// size.
func DecodeMessage(b []byte, m *MessageExt) (int, error) {
	r := messageReader{b: b}
	m.StoreSize = int32(r.u32())
	m.MagicCode = r.u32()
	m.BodyCRC = int32(r.u32())
	m.QueueID = int32(r.u32())
	m.Flag = int32(r.u32())
	m.QueueOffset = int64(r.u64())
	m.CommitLogOffset = int64(r.u64())
	m.SysFlag = int32(r.u32())
	m.BornTimestamp = int64(r.u64())
	m.BornHost = r.host(m.SysFlag&SysFlagBornHostIPv6 != 0)
	m.StoreTimestamp = int64(r.u64())
	m.StoreHost = r.host(m.SysFlag&SysFlagStoreHostIPv6 != 0)
	m.ReconsumeTimes = int32(r.u32())
	m.PreparedTransactionOffset = int64(r.u64())
	body := r.take(int(int32(r.u32())))
	topicLen := r.take(1)
	var topic []byte
	if topicLen != nil {
		topic = r.take(int(topicLen[0]))
	}
	var props []byte
	if propsLen := r.take(2); propsLen != nil {
		props = r.take(int(int16(binary.BigEndian.Uint16(propsLen))))
	}
	if r.err != nil {
		return 0, r.err
	}
	if int(m.StoreSize) != r.pos {
		return 0, fmt.Errorf("%w: TOTALSIZE %d, fields take %d bytes", ErrMalformedMessage, m.StoreSize, r.pos)
	}
	m.Body = body
	if m.SysFlag&SysFlagCompressed != 0 {
		m.Body = inflateBody(body, m.SysFlag)
	}
	m.Topic = string(topic)
	m.Properties = ParseProperties(string(props))
	m.OffsetMsgID = offsetMsgIDOf(m.StoreHost, m.CommitLogOffset)
	m.MsgID = m.OffsetMsgID
	if uniq, ok := m.Properties[PropertyUniqKey]; ok && uniq != "" {
		m.MsgID = uniq
	}
	return r.pos, nil
}

func offsetMsgIDOf(host netip.AddrPort, commitLogOffset int64) string {
	ip := net.IP(host.Addr().AsSlice())
	return OffsetMsgID(ip, int32(host.Port()), commitLogOffset)
}

// inflateBody inflates a zlib body. Like the Go client, a body that does not
// inflate (or uses a codec other than zlib) is returned as it is.
func inflateBody(body []byte, sysFlag int32) []byte {
	codec := sysFlag & SysFlagCompressionMask
	if codec != 0 && codec != 0x300 {
		return body
	}
	zr, err := zlib.NewReader(bytes.NewReader(body))
	if err != nil {
		return body
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, maxInflatedBodySize+1))
	if err != nil || len(out) > maxInflatedBodySize {
		return body
	}
	return out
}

// BodyCRC is the stored BODYCRC of a body: CRC32-IEEE & 0x7FFFFFFF.
func BodyCRC(body []byte) int32 { return int32(crc32.ChecksumIEEE(body) & 0x7FFFFFFF) }

// AppendMessage appends m in stored-record format (TOTALSIZE, MAGICCODE
// and BODYCRC computed; IPv6 host bits of SysFlag set from the hosts;
// properties written sorted). Body is written as is: compress it first when
// SysFlag says so. It fails when the topic or properties do not fit.
func AppendMessage(dst []byte, m *MessageExt) ([]byte, error) {
	if len(m.Topic) > MaxTopicNameLength {
		return dst, fmt.Errorf("%w: topic of %d bytes", ErrMalformedMessage, len(m.Topic))
	}
	props := AppendProperties(nil, m.Properties)
	if len(props) > MaxPropertiesLength {
		return dst, fmt.Errorf("%w: properties of %d bytes", ErrMalformedMessage, len(props))
	}
	sysFlag := m.SysFlag &^ (SysFlagBornHostIPv6 | SysFlagStoreHostIPv6)
	if isIPv6(m.BornHost) {
		sysFlag |= SysFlagBornHostIPv6
	}
	if isIPv6(m.StoreHost) {
		sysFlag |= SysFlagStoreHostIPv6
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, MessageMagic)
	dst = binary.BigEndian.AppendUint32(dst, uint32(BodyCRC(m.Body)))
	dst = binary.BigEndian.AppendUint32(dst, uint32(m.QueueID))
	dst = binary.BigEndian.AppendUint32(dst, uint32(m.Flag))
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.QueueOffset))
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.CommitLogOffset))
	dst = binary.BigEndian.AppendUint32(dst, uint32(sysFlag))
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.BornTimestamp))
	dst = appendHost(dst, m.BornHost)
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.StoreTimestamp))
	dst = appendHost(dst, m.StoreHost)
	dst = binary.BigEndian.AppendUint32(dst, uint32(m.ReconsumeTimes))
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.PreparedTransactionOffset))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(m.Body)))
	dst = append(dst, m.Body...)
	dst = append(dst, byte(len(m.Topic)))
	dst = append(dst, m.Topic...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(props)))
	dst = append(dst, props...)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start))
	return dst, nil
}

func isIPv6(h netip.AddrPort) bool { return h.Addr().Is6() && !h.Addr().Is4In6() }

func appendHost(dst []byte, h netip.AddrPort) []byte {
	addr := h.Addr().Unmap()
	switch {
	case addr.Is6():
		a := addr.As16()
		dst = append(dst, a[:]...)
	case addr.Is4():
		a := addr.As4()
		dst = append(dst, a[:]...)
	default:
		dst = append(dst, 0, 0, 0, 0)
	}
	return binary.BigEndian.AppendUint32(dst, uint32(h.Port()))
}

// Batch element of a SEND_BATCH_MESSAGE body:
//
//	+--------+------------+----------------------------------+
//	| size   | field      | notes                            |
//	+--------+------------+----------------------------------+
//	| 4      | TOTALSIZE  | whole element, this field too    |
//	| 4      | MAGICCODE  | 0 from the Go client, not checked|
//	| 4      | BODYCRC    | 0 from the Go client, not checked|
//	| 4      | FLAG       | user flag                        |
//	| 4 + n  | BODYLEN    | body, never compressed           |
//	| 2 + n  | PROPLEN    | properties, key\x01value\x02 ... |
//	+--------+------------+----------------------------------+
//
// Part of the format: do not change.
const batchElementFixedSize = 4 + 4 + 4 + 4 + 4 + 2

// DecodeBatch calls fn for every element of a batch body. msgBody and props
// alias body. It stops at the first error from fn, and fails with
// ErrMalformedMessage on truncation or a TOTALSIZE that disagrees with the
// element's fields.
func DecodeBatch(body []byte, fn func(flag int32, msgBody, props []byte) error) error {
	for pos := 0; pos < len(body); {
		rest := body[pos:]
		if len(rest) < batchElementFixedSize {
			return fmt.Errorf("%w: batch element at byte %d truncated", ErrMalformedMessage, pos)
		}
		totalSize := int64(int32(binary.BigEndian.Uint32(rest)))
		flag := int32(binary.BigEndian.Uint32(rest[12:]))
		bodyLen := int64(int32(binary.BigEndian.Uint32(rest[16:])))
		if bodyLen < 0 || bodyLen > int64(len(rest)-batchElementFixedSize) {
			return fmt.Errorf("%w: batch element at byte %d: body length %d", ErrMalformedMessage, pos, bodyLen)
		}
		propsAt := 20 + int(bodyLen)
		propsLen := int(int16(binary.BigEndian.Uint16(rest[propsAt:])))
		end := propsAt + 2 + propsLen
		if propsLen < 0 || end > len(rest) {
			return fmt.Errorf("%w: batch element at byte %d: properties length %d", ErrMalformedMessage, pos, propsLen)
		}
		if totalSize != int64(end) {
			return fmt.Errorf("%w: batch element at byte %d: TOTALSIZE %d, fields take %d", ErrMalformedMessage, pos, totalSize, end)
		}
		if err := fn(flag, rest[20:propsAt:propsAt], rest[propsAt+2:end:end]); err != nil {
			return err
		}
		pos += end
	}
	return nil
}

// AppendBatchElement appends one batch element. props longer than 32767
// bytes cannot be represented and panic.
func AppendBatchElement(dst []byte, flag int32, body, props []byte) []byte {
	if len(props) > MaxPropertiesLength {
		panic("remoting: batch element properties longer than 32767 bytes")
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(batchElementFixedSize+len(body)+len(props)))
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(flag))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	dst = append(dst, body...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(props)))
	return append(dst, props...)
}
