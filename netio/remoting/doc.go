// Package remoting owns the RocketMQ 4.x remoting command as Comet speaks it
// on the wire: the frame codec, both header encodings (JSON and the binary
// ROCKETMQ form), the one table of request and response codes, typed request
// headers, the message property string, the stored-message and batch
// encodings, offset message ids, and a small TCP client transport.
//
// It is a leaf: it must never import gnet, the broker's packages or any
// state of theirs, and it never logs except through an injected slog.Logger.
// The server (netio), the name server (routing), the native SDK (client/) and
// tests all share it, so what it encodes is what unmodified RocketMQ clients
// (github.com/apache/rocketmq-client-go/v2 v2.1.2, Java 4.9.x) expect.
//
// # Frame
//
//	+--------+---------------+--------------------------------------------+
//	| offset | size          | field                                      |
//	+--------+---------------+--------------------------------------------+
//	| 0      | 4             | length = 4 + header length + body length   |
//	| 4      | 1             | serialize type: 0 JSON, 1 ROCKETMQ binary  |
//	| 5      | 3             | header length (24-bit)                     |
//	| 8      | header length | header                                     |
//	| ...    | rest          | body                                       |
//	+--------+---------------+--------------------------------------------+
//
// All integers are big-endian. A frame is at most DefaultMaxFrameSize bytes
// counting the length prefix. Part of the format: do not change.
//
// # JSON header (serialize type 0)
//
//	{"code":105,"language":"GO","version":317,"opaque":1,"flag":0,"remark":"","extFields":{"topic":"T1"}}
//
//	+-----------+---------------------------------------------------------+
//	| key       | value                                                   |
//	+-----------+---------------------------------------------------------+
//	| code      | int16 number                                            |
//	| language  | name ("JAVA" ... "GO" ...) or number                    |
//	| version   | int16 number                                            |
//	| opaque    | int32 number, echoed by the response                    |
//	| flag      | int32 number: bit 0 response, bit 1 oneway              |
//	| remark    | string or null                                          |
//	| extFields | object whose values are strings (or null), never numbers|
//	+-----------+---------------------------------------------------------+
//
// Encoding is compact, in the order above, with strings escaped as
// encoding/json does (HTML-safe, \u00XX for control characters). Decoding is
// a strict JSON parser: escapes including surrogate pairs, any whitespace,
// nulls, unknown keys skipped (Java adds "serializeTypeCurrentRPC"), keys
// matched exactly or ignoring ASCII case. A number, boolean or object as an
// ext value is refused, as the Go client refuses it. Part of the format: do
// not change.
//
// # Binary header (serialize type 1)
//
//	+-----------+-----------+---------------------------------------------+
//	| field     | size      | notes                                       |
//	+-----------+-----------+---------------------------------------------+
//	| code      | 2         | int16                                       |
//	| language  | 1         | JAVA=0 ... GO=9 ... OMS=11                  |
//	| version   | 2         | int16                                       |
//	| opaque    | 4         | int32                                       |
//	| flag      | 4         | int32                                       |
//	| remarkLen | 4         | int32, then remark bytes; 0 = no remark     |
//	| extLen    | 4         | int32, then extLen bytes of entries:        |
//	|  keyLen   | 2         |   int16, then key bytes                     |
//	|  valLen   | 4         |   int32, then value bytes                   |
//	+-----------+-----------+---------------------------------------------+
//
// Part of the format: do not change.
//
// # Decoding and memory
//
// Decode never copies the body: Command.Body aliases the frame. Header text
// is copied into a single string per frame that the remark and ext values
// slice; well-known ext keys resolve to constant strings. Duplicate ext keys
// keep the last value. A header with more than 1024 ext fields is refused.
//
// # Client
//
// Client is a plain-net transport (one connection per address, requests
// multiplexed by a process-wide opaque counter, coalesced writes, one read
// goroutine per connection). It is used by the broker towards name servers,
// by the SDK and by tests; the server side lives in netio.
package remoting
