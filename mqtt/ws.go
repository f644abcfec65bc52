package mqtt

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
)

// MQTT over WebSocket (RFC 6455, MQTT §6), on the gateway's own gnet loops:
// the HTTP upgrade is parsed from the connection's first bytes, then each
// frame's payload is unmasked and appended to the connection's MQTT byte
// stream, so packets may span frames and frames may hold several packets
// ([MQTT-6.0.0-2]). Only binary frames carry MQTT ([MQTT-6.0.0-1]); a text
// frame closes the connection. Every write of the gateway leaves as one
// unmasked binary frame.
//
// The upgrade request must be a GET of Options.WSPath (default /mqtt)
// with Upgrade: websocket, Sec-WebSocket-Version: 13, a key, and the
// subprotocol "mqtt" (or "mqttv3.1") among those offered; the answer
// selects the one offered.
//
// Frame header (RFC 6455 §5.2; part of the format: do not change):
//
//	+-----+------+-----------------------------------------------------+
//	| bit | size | field                                               |
//	+-----+------+-----------------------------------------------------+
//	| 0   | 1    | FIN                                                 |
//	| 1-3 | 3    | RSV1-3, zero (no extension is negotiated)           |
//	| 4-7 | 4    | opcode: 0 continuation, 1 text, 2 binary, 8 close,  |
//	|     |      | 9 ping, 10 pong                                     |
//	| 8   | 1    | MASK, set on every client frame                     |
//	| 9-15| 7    | length 0-125, or 126 (+16 bits), or 127 (+64 bits)  |
//	|     | 32   | masking key (client frames)                         |
//	+-----+------+-----------------------------------------------------+

const (
	wsOpContinuation byte = 0x0
	wsOpText         byte = 0x1
	wsOpBinary       byte = 0x2
	wsOpClose        byte = 0x8
	wsOpPing         byte = 0x9
	wsOpPong         byte = 0xA

	wsGUID              = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
	maxUpgradeRequest   = 8 << 10
	wsCloseProtocolErr  = 1002
	wsCloseUnsupported  = 1003
	wsCloseTooBig       = 1009
	wsCloseNormal       = 1000
	maxControlFrameBody = 125
)

// ErrWebSocket classes WebSocket framing and upgrade failures.
var ErrWebSocket = errors.New("mqtt: websocket")

func wsError(msg string) error { return errors.Join(ErrWebSocket, errors.New(msg)) }

// wsUpgrade is a parsed upgrade request.
type wsUpgrade struct {
	path, key, protocol string
}

// parseUpgrade reads an HTTP upgrade request from the head of buf. It
// returns the bytes it took (0 while the request is incomplete), and the
// request or an error (the caller answers 400 and closes).
func parseUpgrade(buf []byte, wantPath string) (int, wsUpgrade, error) {
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		if len(buf) > maxUpgradeRequest {
			return 0, wsUpgrade{}, wsError("upgrade request longer than 8 KiB")
		}
		return 0, wsUpgrade{}, nil
	}
	n := end + 4
	lines := strings.Split(string(buf[:end]), "\r\n")
	method, rest, _ := strings.Cut(lines[0], " ")
	target, proto, _ := strings.Cut(rest, " ")
	if method != "GET" || !strings.HasPrefix(proto, "HTTP/1.1") {
		return n, wsUpgrade{}, wsError("not an HTTP/1.1 GET")
	}
	path, _, _ := strings.Cut(target, "?")
	up := wsUpgrade{path: path}
	var upgrade, version bool
	var offered []string
	for _, line := range lines[1:] {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return n, wsUpgrade{}, wsError("malformed header line")
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "upgrade":
			upgrade = strings.EqualFold(v, "websocket")
		case "sec-websocket-version":
			version = v == "13"
		case "sec-websocket-key":
			up.key = v
		case "sec-websocket-protocol":
			for _, p := range strings.Split(v, ",") {
				offered = append(offered, strings.TrimSpace(p))
			}
		}
	}
	switch {
	case !upgrade || !version || up.key == "":
		return n, wsUpgrade{}, wsError("not a WebSocket version 13 upgrade")
	case path != wantPath:
		return n, wsUpgrade{}, wsError("path " + quoteShort(path) + " is not " + wantPath)
	}
	for _, p := range offered {
		if p == "mqtt" || p == "mqttv3.1" {
			up.protocol = p
			break
		}
	}
	if up.protocol == "" {
		return n, wsUpgrade{}, wsError("subprotocol mqtt not offered")
	}
	return n, up, nil
}

// upgradeResponse is the 101 answer to up.
func upgradeResponse(up wsUpgrade) []byte {
	h := sha1.Sum([]byte(up.key + wsGUID))
	return []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(h[:]) + "\r\n" +
		"Sec-WebSocket-Protocol: " + up.protocol + "\r\n\r\n")
}

// badRequest is the answer to a refused upgrade.
func badRequest(why string) []byte {
	return []byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: " +
		itoa(len(why)+1) + "\r\n\r\n" + why + "\n")
}

func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return "\"" + s + "\""
}

// wsFrameHeader is a decoded frame header.
type wsFrameHeader struct {
	fin     bool
	opcode  byte
	length  int
	mask    [4]byte
	hdrSize int
}

// parseWSFrame decodes the header of the frame at the head of buf from a
// client: it returns ok false while the header or payload is incomplete,
// and an error for a frame RFC 6455 or MQTT refuses, or one whose payload
// exceeds maxPayload.
func parseWSFrame(buf []byte, maxPayload int) (h wsFrameHeader, ok bool, err error) {
	if len(buf) < 2 {
		return h, false, nil
	}
	b0, b1 := buf[0], buf[1]
	h.fin, h.opcode = b0&0x80 != 0, b0&0x0F
	if b0&0x70 != 0 {
		return h, false, wsError("reserved bits set")
	}
	if b1&0x80 == 0 {
		return h, false, wsError("client frame not masked")
	}
	n, size := int(b1&0x7F), 2
	switch n {
	case 126:
		if len(buf) < 4 {
			return h, false, nil
		}
		n, size = int(binary.BigEndian.Uint16(buf[2:])), 4
	case 127:
		if len(buf) < 10 {
			return h, false, nil
		}
		v := binary.BigEndian.Uint64(buf[2:])
		if v > uint64(maxPayload) {
			return h, false, wsError("frame payload too large")
		}
		n, size = int(v), 10
	}
	if h.opcode >= wsOpClose && (n > maxControlFrameBody || !h.fin) {
		return h, false, wsError("bad control frame")
	}
	if n > maxPayload {
		return h, false, wsError("frame payload too large")
	}
	if len(buf) < size+4 {
		return h, false, nil
	}
	copy(h.mask[:], buf[size:size+4])
	h.hdrSize, h.length = size+4, n
	return h, len(buf) >= h.hdrSize+n, nil
}

// appendUnmasked appends the frame's payload, unmasked, to dst.
func appendUnmasked(dst []byte, h *wsFrameHeader, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, payload...)
	for i := range payload {
		dst[start+i] ^= h.mask[i&3]
	}
	return dst
}

// wsFrame appends one unmasked server frame.
func wsFrame(dst []byte, opcode byte, payload []byte) []byte {
	dst = append(dst, 0x80|opcode)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xFFFF:
		dst = binary.BigEndian.AppendUint16(append(dst, 126), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint64(append(dst, 127), uint64(n))
	}
	return append(dst, payload...)
}

// wsCloseFrame is a close frame with a status code.
func wsCloseFrame(code uint16) []byte {
	return wsFrame(nil, wsOpClose, binary.BigEndian.AppendUint16(nil, code))
}
