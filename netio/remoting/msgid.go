package remoting

import (
	"encoding/binary"
	"fmt"
	"net"
)

// Offset message ids: the upper-case hex of the store
// host's address, its port and the record's commit-log offset.
//
//	+---------+----------+---------------------------+
//	| field   | size     | meaning                   |
//	+---------+----------+---------------------------+
//	| ip      | 4 or 16  | store host IPv4 or IPv6   |
//	| port    | 4 int32  | store host port           |
//	| offset  | 8 int64  | commit-log offset, BE     |
//	+---------+----------+---------------------------+
//
// 32 hex characters for IPv4, 56 for IPv6. Part of the format: do not change.
const (
	OffsetMsgIDLenIPv4 = 2 * (4 + 4 + 8)
	OffsetMsgIDLenIPv6 = 2 * (16 + 4 + 8)
)

const upperHex = "0123456789ABCDEF"

// OffsetMsgID returns the offset message id of a record stored at
// commitLogOffset by the broker at ip:port. An IPv4 address (also in its
// 16-byte form) gives 32 characters; any other gives the 56-character form.
func OffsetMsgID(ip net.IP, port int32, commitLogOffset int64) string {
	var buf [OffsetMsgIDLenIPv6]byte
	return string(AppendOffsetMsgID(buf[:0], ip, port, commitLogOffset))
}

// AppendOffsetMsgID appends the offset message id to dst without allocating
// when dst has room.
func AppendOffsetMsgID(dst []byte, ip net.IP, port int32, commitLogOffset int64) []byte {
	addr := ip.To4()
	if addr == nil {
		addr = ip.To16()
		if addr == nil {
			addr = net.IPv4zero.To4()
		}
	}
	dst = appendUpperHex(dst, addr)
	var tail [12]byte
	binary.BigEndian.PutUint32(tail[0:], uint32(port))
	binary.BigEndian.PutUint64(tail[4:], uint64(commitLogOffset))
	return appendUpperHex(dst, tail[:])
}

func appendUpperHex(dst, src []byte) []byte {
	for _, b := range src {
		dst = append(dst, upperHex[b>>4], upperHex[b&0xF])
	}
	return dst
}

// ParseOffsetMsgID parses a 32- or 56-character offset message id (hex digits
// in either case). Errors wrap ErrMalformedMsgID.
func ParseOffsetMsgID(id string) (ip net.IP, port int32, commitLogOffset int64, err error) {
	var ipLen int
	switch len(id) {
	case OffsetMsgIDLenIPv4:
		ipLen = 4
	case OffsetMsgIDLenIPv6:
		ipLen = 16
	default:
		return nil, 0, 0, fmt.Errorf("%w: %q has %d characters, want %d or %d",
			ErrMalformedMsgID, id, len(id), OffsetMsgIDLenIPv4, OffsetMsgIDLenIPv6)
	}
	var raw [16 + 4 + 8]byte
	n := len(id) / 2
	for i := 0; i < n; i++ {
		hi, ok1 := hexValue(id[2*i])
		lo, ok2 := hexValue(id[2*i+1])
		if !ok1 || !ok2 {
			return nil, 0, 0, fmt.Errorf("%w: %q is not hex", ErrMalformedMsgID, id)
		}
		raw[i] = hi<<4 | lo
	}
	ip = make(net.IP, ipLen)
	copy(ip, raw[:ipLen])
	port = int32(binary.BigEndian.Uint32(raw[ipLen:]))
	commitLogOffset = int64(binary.BigEndian.Uint64(raw[ipLen+4:]))
	return ip, port, commitLogOffset, nil
}

func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
