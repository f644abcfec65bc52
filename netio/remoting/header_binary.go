package remoting

import (
	"encoding/binary"
	"fmt"
)

// binaryFixedSize is the fixed part of a ROCKETMQ binary header: code(2)
// language(1) version(2) opaque(4) flag(4) remarkLen(4) extLen(4).
const binaryFixedSize = 21

func decodeBinaryHeader(in []byte, cmd *Command) error {
	if err := decodeBinaryHeaderFields(in, cmd); err != nil {
		cmd.Ext.Reset()
		cmd.Remark = ""
		return fmt.Errorf("%w: binary: %v", ErrMalformedHeader, err)
	}
	return nil
}

func decodeBinaryHeaderFields(in []byte, cmd *Command) error {
	if len(in) < binaryFixedSize {
		return errorString("shorter than the fixed part")
	}
	cmd.Code = int16(binary.BigEndian.Uint16(in[0:]))
	cmd.Language = in[2]
	cmd.Version = int16(binary.BigEndian.Uint16(in[3:]))
	cmd.Opaque = int32(binary.BigEndian.Uint32(in[5:]))
	cmd.Flag = int32(binary.BigEndian.Uint32(in[9:]))
	pos := 13
	remarkLen := int64(int32(binary.BigEndian.Uint32(in[pos:])))
	pos += 4
	if remarkLen < 0 || remarkLen > int64(len(in)-pos-4) {
		return errorString("remark length out of range")
	}
	remarkEnd := pos + int(remarkLen)
	extLen := int64(int32(binary.BigEndian.Uint32(in[remarkEnd:])))
	extStart := remarkEnd + 4
	if extLen != int64(len(in)-extStart) {
		return errorString("ext length disagrees with header length")
	}
	// One string holds every header text; remark and ext entries slice it.
	text := string(in[pos:])
	base := pos
	cmd.Remark = text[:remarkLen]
	for p := extStart; p < len(in); {
		if len(cmd.Ext.Fields) >= maxExtFields {
			return errorString("too many ext fields")
		}
		key, value, next, err := binaryExtEntry(in, p, text, base)
		if err != nil {
			return err
		}
		cmd.Ext.Fields = append(cmd.Ext.Fields, Field{Key: key, Value: value})
		p = next
	}
	dedupFields(&cmd.Ext)
	return nil
}

// binaryExtEntry reads keyLen int16, key, valLen int32, value at p. text is
// in[base:] as a string.
func binaryExtEntry(in []byte, p int, text string, base int) (key, value string, next int, err error) {
	if len(in)-p < 2 {
		return "", "", 0, errorString("truncated ext key length")
	}
	keyLen := int(int16(binary.BigEndian.Uint16(in[p:])))
	p += 2
	if keyLen < 0 || keyLen > len(in)-p-4 {
		return "", "", 0, errorString("ext key length out of range")
	}
	if k, ok := internExtKey(in[p : p+keyLen]); ok {
		key = k
	} else {
		key = text[p-base : p-base+keyLen]
	}
	p += keyLen
	valLen := int64(int32(binary.BigEndian.Uint32(in[p:])))
	p += 4
	if valLen < 0 || valLen > int64(len(in)-p) {
		return "", "", 0, errorString("ext value length out of range")
	}
	value = text[p-base : p-base+int(valLen)]
	return key, value, p + int(valLen), nil
}

// appendBinaryHeader appends the ROCKETMQ binary header. Keys longer than
// 32767 bytes cannot be represented and are a programming error.
func appendBinaryHeader(dst []byte, c *Command) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(c.Code))
	dst = append(dst, c.Language)
	dst = binary.BigEndian.AppendUint16(dst, uint16(c.Version))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Opaque))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Flag))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(c.Remark)))
	dst = append(dst, c.Remark...)
	extLenAt := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	for _, f := range c.Ext.Fields {
		if len(f.Key) > 1<<15-1 {
			panic("remoting: ext key longer than 32767 bytes")
		}
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(f.Key)))
		dst = append(dst, f.Key...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(f.Value)))
		dst = append(dst, f.Value...)
	}
	binary.BigEndian.PutUint32(dst[extLenAt:], uint32(len(dst)-extLenAt-4))
	return dst
}
