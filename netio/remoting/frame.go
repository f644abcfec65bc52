package remoting

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"sync/atomic"
)

// DefaultMaxFrameSize is the largest frame accepted by default, counting the
// 4-byte length prefix too (Java's remoting frameMaxLength).
const DefaultMaxFrameSize = 16 << 20

// RequestVersion is the version the Go client v2.1.2 sends (V4_5_2).
const RequestVersion int16 = 317

const (
	lengthPrefixSize = 4
	frameFixedSize   = 8 // length prefix + serialize-type/header-length word
	maxHeaderLen     = 1<<24 - 1
)

// FrameSize inspects buffered bytes. It returns n > 0 when buf holds at least
// one whole frame of n bytes (n includes the 4-byte length prefix); n == 0,
// err == nil when more bytes are needed; an error when the frame is invalid:
// a length below 4, n above maxFrame (ErrFrameTooLarge), and, once the
// header word is buffered, an unknown serialize type or a header length
// larger than the frame (ErrMalformedFrame). maxFrame <= 0 means
// DefaultMaxFrameSize. It never allocates.
func FrameSize(buf []byte, maxFrame int) (int, error) {
	if len(buf) < lengthPrefixSize {
		return 0, nil
	}
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrameSize
	}
	length := int64(binary.BigEndian.Uint32(buf))
	if length < 4 {
		return 0, ErrMalformedFrame
	}
	n := length + lengthPrefixSize
	if n > int64(maxFrame) {
		return 0, ErrFrameTooLarge
	}
	if len(buf) >= frameFixedSize {
		if err := checkHeaderWord(binary.BigEndian.Uint32(buf[4:]), length); err != nil {
			return 0, err
		}
	}
	if int64(len(buf)) < n {
		return 0, nil
	}
	return int(n), nil
}

// checkHeaderWord validates the serialize-type/header-length word against the
// frame's length field.
func checkHeaderWord(word uint32, length int64) error {
	serializeType := byte(word >> 24)
	if serializeType != SerializeJSON && serializeType != SerializeRocketMQ {
		return ErrMalformedFrame
	}
	if int64(word&maxHeaderLen) > length-4 {
		return ErrMalformedFrame
	}
	return nil
}

// Decode parses one whole frame (including the length prefix) into cmd, which
// is Reset first and reused. cmd.Body aliases frame (nil when the body is
// empty). Header strings are independent Go strings: well-known ext keys map
// to constant strings and all other header text shares one allocation.
// Both serialize types are decoded; cmd.SerializeType records which.
func Decode(frame []byte, cmd *Command) error {
	cmd.Reset()
	if len(frame) < frameFixedSize {
		return fmt.Errorf("%w: %d bytes is shorter than the fixed part", ErrMalformedFrame, len(frame))
	}
	length := int64(binary.BigEndian.Uint32(frame))
	if length != int64(len(frame)-lengthPrefixSize) {
		return fmt.Errorf("%w: length field %d, frame holds %d", ErrMalformedFrame, length, len(frame)-lengthPrefixSize)
	}
	word := binary.BigEndian.Uint32(frame[4:])
	if err := checkHeaderWord(word, length); err != nil {
		return fmt.Errorf("%w: header word %#08x", err, word)
	}
	headerEnd := frameFixedSize + int(word&maxHeaderLen)
	header := frame[frameFixedSize:headerEnd]
	cmd.SerializeType = byte(word >> 24)
	var err error
	if cmd.SerializeType == SerializeJSON {
		err = decodeJSONHeader(header, cmd)
	} else {
		err = decodeBinaryHeader(header, cmd)
	}
	if err != nil {
		return err
	}
	if headerEnd < len(frame) {
		cmd.Body = frame[headerEnd:]
	}
	return nil
}

// AppendFrame appends the encoded frame: length prefix, header in
// cmd.SerializeType, body.
func AppendFrame(dst []byte, cmd *Command) []byte {
	dst = AppendFrameHeader(dst, cmd, len(cmd.Body))
	return append(dst, cmd.Body...)
}

// AppendFrameHeader appends only the length prefix and header; the length
// field counts a body of bodyLen bytes that the caller writes next (writev
// of a body held elsewhere). A header longer than 2^24-1 bytes cannot be
// framed and panics: only a multi-megabyte remark or ext map can cause it.
func AppendFrameHeader(dst []byte, cmd *Command, bodyLen int) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	if cmd.SerializeType == SerializeRocketMQ {
		dst = appendBinaryHeader(dst, cmd)
	} else {
		dst = appendJSONHeader(dst, cmd)
	}
	headerLen := len(dst) - start - frameFixedSize
	if headerLen > maxHeaderLen {
		panic("remoting: header longer than 2^24-1 bytes")
	}
	serializeType := cmd.SerializeType
	if serializeType != SerializeRocketMQ {
		serializeType = SerializeJSON
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(4+headerLen+bodyLen))
	binary.BigEndian.PutUint32(dst[start+4:], uint32(serializeType)<<24|uint32(headerLen))
	return dst
}

// lastOpaque is the process-wide request counter: opaques are unique across
// every connection of the process, as the Go client does.
var lastOpaque atomic.Int32

// NextOpaque returns a fresh process-wide opaque (never 0 until it wraps).
func NextOpaque() int32 { return lastOpaque.Add(1) }

// NewRequest builds a request with the code, JSON encoding, Language Go,
// Version 317 and a fresh opaque from NextOpaque.
func NewRequest(code int16) *Command {
	return &Command{
		Code:          code,
		Language:      LanguageGo,
		Version:       RequestVersion,
		Opaque:        NextOpaque(),
		SerializeType: SerializeJSON,
	}
}

// NewResponse builds a response to req: same Opaque and SerializeType,
// Flag = FlagResponse, Language Go, the given code and remark.
func NewResponse(req *Command, code int16, remark string) *Command {
	return &Command{
		Code:          code,
		Language:      LanguageGo,
		Version:       RequestVersion,
		Opaque:        req.Opaque,
		Flag:          FlagResponse,
		Remark:        remark,
		SerializeType: req.SerializeType,
	}
}

// SetExt sets an ext field (alias of c.Ext.Set).
func (c *Command) SetExt(key, value string) { c.Ext.Set(key, value) }

// SetExtInt64 sets an ext field to the decimal string of v.
func (c *Command) SetExtInt64(key string, v int64) {
	c.Ext.Set(key, strconv.FormatInt(v, 10))
}

// SetExtBool sets an ext field to "true" or "false".
func (c *Command) SetExtBool(key string, v bool) {
	c.Ext.Set(key, strconv.FormatBool(v))
}

// ExtInt64 parses a decimal ext field. The error wraps ErrMissingField or
// ErrInvalidField and names the key.
func (c *Command) ExtInt64(key string) (int64, error) {
	s, ok := c.Ext.Get(key)
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrMissingField, key)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s=%q is not an int64", ErrInvalidField, key, s)
	}
	return v, nil
}

// ExtInt32 parses a decimal ext field that must fit an int32.
func (c *Command) ExtInt32(key string) (int32, error) {
	s, ok := c.Ext.Get(key)
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrMissingField, key)
	}
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: %s=%q is not an int32", ErrInvalidField, key, s)
	}
	return int32(v), nil
}

// ExtBool parses a boolean ext field with Java's Boolean.parseBoolean rule:
// "true" in any letter case is true, every other value is false. Only a
// missing key is an error.
func (c *Command) ExtBool(key string) (bool, error) {
	s, ok := c.Ext.Get(key)
	if !ok {
		return false, fmt.Errorf("%w: %s", ErrMissingField, key)
	}
	return parseJavaBool(s), nil
}

// ExtString returns an ext field, or an error wrapping ErrMissingField.
func (c *Command) ExtString(key string) (string, error) {
	s, ok := c.Ext.Get(key)
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrMissingField, key)
	}
	return s, nil
}

func parseJavaBool(s string) bool {
	return len(s) == 4 && (s[0]|0x20) == 't' && (s[1]|0x20) == 'r' && (s[2]|0x20) == 'u' && (s[3]|0x20) == 'e'
}
