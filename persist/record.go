package persist

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Stored message record (RocketMQ 4.x v1 layout). This is both the
// commit-log format and the wire format of a pull response body, so a pull
// sends these bytes as they are. Big-endian. Part of the format: do not
// change.
//
//	+--------+------------------+------------------------------------------+
//	| size   | field            | notes                                    |
//	+--------+------------------+------------------------------------------+
//	| 4      | TOTALSIZE        | whole record, this field included        |
//	| 4      | MAGICCODE        | 0xDAA320A7 (blank record: 0xCBD43194)    |
//	| 4      | BODYCRC          | CRC32-IEEE(body) & 0x7FFFFFFF            |
//	| 4      | QUEUEID          |                                          |
//	| 4      | FLAG             | user flag                                |
//	| 8      | QUEUEOFFSET      | offset in the consume queue              |
//	| 8      | PHYSICALOFFSET   | offset of this record in the commit log  |
//	| 4      | SYSFLAG          | bit 4: born host IPv6, bit 5: store IPv6 |
//	| 8      | BORNTIMESTAMP    | ms                                       |
//	| 8 / 20 | BORNHOST         | IPv4(4)+port(4) or IPv6(16)+port(4)      |
//	| 8      | STORETIMESTAMP   | ms                                       |
//	| 8 / 20 | STOREHOST        | IPv4(4)+port(4) or IPv6(16)+port(4)      |
//	| 4      | RECONSUMETIMES   |                                          |
//	| 8      | PREPAREDTXOFFSET |                                          |
//	| 4 + n  | BODYLEN, BODY    |                                          |
//	| 1 + n  | TOPICLEN, TOPIC  | topic <= 127 bytes                       |
//	| 2 + n  | PROPLEN, PROPS   | key\x01value\x02..., <= 32767 bytes      |
//	+--------+------------------+------------------------------------------+
//
// The blank end-of-segment record is TOTALSIZE (= the bytes left in the
// segment) and MAGICCODE 0xCBD43194; nothing else of it is meaningful.
const (
	MagicMessage uint32 = 0xDAA320A7
	MagicBlank   uint32 = 0xCBD43194

	blankRecordSize = 8
	// MaxTopicLength is the longest topic the 1-byte length field carries.
	MaxTopicLength = 127
	// MaxPropertiesLength is the longest property string (signed int16).
	MaxPropertiesLength = 32767

	sysFlagBornHostV6  = 1 << 4
	sysFlagStoreHostV6 = 1 << 5

	// Field offsets used by readers that patch or inspect records.
	offQueueID     = 12
	offQueueOffset = 20
	offPhysOffset  = 28
	offSysFlag     = 36
	offBornTS      = 40
	offBornHost    = 48

	// maxQueueOffset bounds a queue offset field: beyond it the entry's
	// byte position in the consume queue (offset x 20) would overflow.
	maxQueueOffset = 1 << 58
)

// Host is an IPv4 or IPv6 address and a port as stored in a record.
type Host struct {
	IP   []byte // 4 or 16 bytes
	Port int32
}

func (h Host) v6() bool    { return len(h.IP) == 16 }
func (h Host) encLen() int { return len(h.ipBytes()) + 4 }
func (h Host) ipBytes() []byte {
	if len(h.IP) == 16 || len(h.IP) == 4 {
		return h.IP
	}
	return []byte{0, 0, 0, 0}
}

// Message is what a producer hands the store; the store fills the queue
// offset, the physical offset, the store timestamp and the store host.
type Message struct {
	Topic            string
	QueueID          int32
	Flag             int32
	SysFlag          int32
	BornTimestamp    int64
	BornHost         Host
	ReconsumeTimes   int32
	PreparedTxOffset int64
	Body             []byte
	Properties       []byte
	// TagsCode overrides the consume-queue tag code when HasTagsCode is set
	// (delayed messages store their due time there); otherwise the store
	// computes the Java hash code of the TAGS property.
	TagsCode    int64
	HasTagsCode bool
}

// RecordSize is the stored size of m with the given store host.
func RecordSize(m *Message, storeHost Host) int {
	return 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + m.BornHost.encLen() + 8 + storeHost.encLen() +
		4 + 8 + 4 + len(m.Body) + 1 + len(m.Topic) + 2 + len(m.Properties)
}

// ValidateMessage checks the limits of the record format.
func ValidateMessage(m *Message) error {
	if len(m.Topic) == 0 || len(m.Topic) > MaxTopicLength {
		return fmt.Errorf("persist: topic length %d outside 1..%d: %w", len(m.Topic), MaxTopicLength, ErrMessageTooLarge)
	}
	if len(m.Properties) > MaxPropertiesLength {
		return fmt.Errorf("persist: properties length %d over %d: %w", len(m.Properties), MaxPropertiesLength, ErrMessageTooLarge)
	}
	return nil
}

// encodeRecord writes m into dst (exactly RecordSize bytes).
func encodeRecord(dst []byte, m *Message, storeHost Host, queueOffset, physOffset, storeTS int64) {
	be := binary.BigEndian
	sysFlag := m.SysFlag &^ (sysFlagBornHostV6 | sysFlagStoreHostV6)
	if m.BornHost.v6() {
		sysFlag |= sysFlagBornHostV6
	}
	if storeHost.v6() {
		sysFlag |= sysFlagStoreHostV6
	}
	be.PutUint32(dst[0:], uint32(len(dst)))
	be.PutUint32(dst[4:], MagicMessage)
	be.PutUint32(dst[8:], crc32.ChecksumIEEE(m.Body)&0x7FFFFFFF)
	be.PutUint32(dst[12:], uint32(m.QueueID))
	be.PutUint32(dst[16:], uint32(m.Flag))
	be.PutUint64(dst[20:], uint64(queueOffset))
	be.PutUint64(dst[28:], uint64(physOffset))
	be.PutUint32(dst[36:], uint32(sysFlag))
	be.PutUint64(dst[40:], uint64(m.BornTimestamp))
	p := 48
	p += putHost(dst[p:], m.BornHost)
	be.PutUint64(dst[p:], uint64(storeTS))
	p += 8
	p += putHost(dst[p:], storeHost)
	be.PutUint32(dst[p:], uint32(m.ReconsumeTimes))
	be.PutUint64(dst[p+4:], uint64(m.PreparedTxOffset))
	be.PutUint32(dst[p+12:], uint32(len(m.Body)))
	p += 16
	p += copy(dst[p:], m.Body)
	dst[p] = byte(len(m.Topic))
	p++
	p += copy(dst[p:], m.Topic)
	be.PutUint16(dst[p:], uint16(len(m.Properties)))
	copy(dst[p+2:], m.Properties)
}

func putHost(dst []byte, h Host) int {
	ip := h.ipBytes()
	n := copy(dst, ip)
	binary.BigEndian.PutUint32(dst[n:], uint32(h.Port))
	return n + 4
}

// RecordView gives field access to one stored record without copying.
type RecordView struct {
	raw []byte
	// offsets of the variable-position fields inside raw
	storeTSAt, reconsumeAt, bodyAt, bodyLen, topicAt, topicLen, propsAt, propsLen int
}

// Raw is the whole record.
func (r *RecordView) Raw() []byte    { return r.raw }
func (r *RecordView) Size() int      { return len(r.raw) }
func (r *RecordView) QueueID() int32 { return int32(binary.BigEndian.Uint32(r.raw[offQueueID:])) }
func (r *RecordView) Flag() int32    { return int32(binary.BigEndian.Uint32(r.raw[16:])) }
func (r *RecordView) QueueOffset() int64 {
	return int64(binary.BigEndian.Uint64(r.raw[offQueueOffset:]))
}
func (r *RecordView) PhysicalOffset() int64 {
	return int64(binary.BigEndian.Uint64(r.raw[offPhysOffset:]))
}
func (r *RecordView) SysFlag() int32       { return int32(binary.BigEndian.Uint32(r.raw[offSysFlag:])) }
func (r *RecordView) BornTimestamp() int64 { return int64(binary.BigEndian.Uint64(r.raw[offBornTS:])) }
func (r *RecordView) StoreTimestamp() int64 {
	return int64(binary.BigEndian.Uint64(r.raw[r.storeTSAt:]))
}
func (r *RecordView) ReconsumeTimes() int32 {
	return int32(binary.BigEndian.Uint32(r.raw[r.reconsumeAt:]))
}
func (r *RecordView) PreparedTxOffset() int64 {
	return int64(binary.BigEndian.Uint64(r.raw[r.reconsumeAt+4:]))
}
func (r *RecordView) Body() []byte       { return r.raw[r.bodyAt : r.bodyAt+r.bodyLen] }
func (r *RecordView) Topic() []byte      { return r.raw[r.topicAt : r.topicAt+r.topicLen] }
func (r *RecordView) Properties() []byte { return r.raw[r.propsAt : r.propsAt+r.propsLen] }

// BornHost returns the born host as stored.
func (r *RecordView) BornHost() Host { return r.host(offBornHost, r.SysFlag()&sysFlagBornHostV6 != 0) }

// StoreHost returns the store host as stored.
func (r *RecordView) StoreHost() Host {
	return r.host(r.storeTSAt+8, r.SysFlag()&sysFlagStoreHostV6 != 0)
}

func (r *RecordView) host(at int, v6 bool) Host {
	n := 4
	if v6 {
		n = 16
	}
	return Host{IP: r.raw[at : at+n], Port: int32(binary.BigEndian.Uint32(r.raw[at+n:]))}
}

// recordStatus classifies the bytes at a position of the log.
type recordStatus int

const (
	recordOK recordStatus = iota
	recordBlank
	recordZero    // zeroed (preallocated, never written) bytes
	recordInvalid // bad structure or checksum
)

const minRecordSize = 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + 8 + 8 + 8 + 4 + 8 + 4 + 1 + 2

// parseRecord validates the record at the start of b, which is stored at
// commit-log offset physOffset. checkCRC verifies the body checksum.
func parseRecord(b []byte, physOffset int64, checkCRC bool) (RecordView, recordStatus, string) {
	if len(b) < 8 {
		if isZero(b) {
			return RecordView{}, recordZero, ""
		}
		return RecordView{}, recordInvalid, "fewer than 8 bytes left"
	}
	be := binary.BigEndian
	size := int(be.Uint32(b))
	magic := be.Uint32(b[4:])
	switch {
	case size == 0 && magic == 0:
		return RecordView{}, recordZero, ""
	case magic == MagicBlank:
		if size == len(b) {
			return RecordView{raw: b}, recordBlank, ""
		}
		return RecordView{}, recordInvalid, fmt.Sprintf("blank record of %d bytes with %d left in segment", size, len(b))
	case magic != MagicMessage:
		return RecordView{}, recordInvalid, fmt.Sprintf("bad magic %#08x", magic)
	case size < minRecordSize || size > len(b):
		return RecordView{}, recordInvalid, fmt.Sprintf("record size %d outside %d..%d", size, minRecordSize, len(b))
	}
	return parseFields(b[:size], physOffset, checkCRC)
}

func parseFields(raw []byte, physOffset int64, checkCRC bool) (RecordView, recordStatus, string) {
	be := binary.BigEndian
	r := RecordView{raw: raw}
	if got := r.PhysicalOffset(); got != physOffset {
		return RecordView{}, recordInvalid, fmt.Sprintf("physical offset field %d, stored at %d", got, physOffset)
	}
	if q := r.QueueOffset(); q < 0 || q > maxQueueOffset {
		return RecordView{}, recordInvalid, fmt.Sprintf("queue offset field %d outside 0..%d", q, int64(maxQueueOffset))
	}
	sys := r.SysFlag()
	p := offBornHost + 8
	if sys&sysFlagBornHostV6 != 0 {
		p += 12
	}
	r.storeTSAt = p
	p += 8 + 8
	if sys&sysFlagStoreHostV6 != 0 {
		p += 12
	}
	r.reconsumeAt = p
	p += 12
	if p+4 > len(raw) {
		return RecordView{}, recordInvalid, "truncated before body length"
	}
	r.bodyLen = int(be.Uint32(raw[p:]))
	r.bodyAt = p + 4
	p = r.bodyAt + r.bodyLen
	if r.bodyLen < 0 || p+1 > len(raw) {
		return RecordView{}, recordInvalid, fmt.Sprintf("body length %d overruns record", r.bodyLen)
	}
	r.topicLen = int(raw[p])
	r.topicAt = p + 1
	p = r.topicAt + r.topicLen
	if p+2 > len(raw) {
		return RecordView{}, recordInvalid, "topic overruns record"
	}
	r.propsLen = int(be.Uint16(raw[p:]))
	r.propsAt = p + 2
	if r.propsAt+r.propsLen != len(raw) {
		return RecordView{}, recordInvalid, fmt.Sprintf("fields end at %d, total size %d", r.propsAt+r.propsLen, len(raw))
	}
	if checkCRC {
		want := be.Uint32(raw[8:])
		if got := crc32.ChecksumIEEE(r.Body()) & 0x7FFFFFFF; got != want {
			return RecordView{}, recordInvalid, fmt.Sprintf("body crc %#08x, stored %#08x", got, want)
		}
	}
	return r, recordOK, ""
}

// ParseRecord validates and returns a view of one whole record stored at
// physOffset (size must equal the record's TOTALSIZE).
func ParseRecord(raw []byte, physOffset int64) (RecordView, error) {
	r, st, why := parseRecord(raw, physOffset, true)
	if st != recordOK || r.Size() != len(raw) {
		if why == "" {
			why = "not a message record"
		}
		return RecordView{}, fmt.Errorf("persist: record at %d: %s: %w", physOffset, why, ErrCorruption)
	}
	return r, nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// JavaStringHashCode is Java's String.hashCode over the UTF-16 code units
// of s, the tag code RocketMQ stores in consume queues.
func JavaStringHashCode(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// propertyValue finds key in a property string without allocating.
func propertyValue(props []byte, key string) ([]byte, bool) {
	for len(props) > 0 {
		end := indexByte(props, 2)
		item := props
		if end >= 0 {
			item, props = props[:end], props[end+1:]
		} else {
			props = nil
		}
		sep := indexByte(item, 1)
		if sep == len(key) && string(item[:sep]) == key {
			return item[sep+1:], true
		}
	}
	return nil, false
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// ParseRecordHeader is ParseRecord without the body checksum, for hot
// paths that read records the log has already validated.
func ParseRecordHeader(raw []byte, physOffset int64) (RecordView, error) {
	r, st, why := parseRecord(raw, physOffset, false)
	if st != recordOK || r.Size() != len(raw) {
		if why == "" {
			why = "not a message record"
		}
		return RecordView{}, fmt.Errorf("persist: record at %d: %s: %w", physOffset, why, ErrCorruption)
	}
	return r, nil
}
