package ha

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Frame types (see the package doc). Part of the format: do not change.
const (
	FrameHello     byte = 1
	FrameWelcome   byte = 2
	FrameData      byte = 3
	FrameHeartbeat byte = 4
	FrameAck       byte = 5
	FrameMeta      byte = 6
	FrameError     byte = 7
)

// Error codes of an ERROR frame. Part of the format: do not change.
const (
	CodeNotMaster     uint16 = 1 // the broker is not (or no longer) master
	CodeWrongGroup    uint16 = 2 // the replica belongs to another broker name
	CodeStaleEpoch    uint16 = 3 // the other side's epoch is older: it is fenced
	CodeBehindLog     uint16 = 4 // the replica's log ends before the master's first offset
	CodeBadFrame      uint16 = 5 // a frame that does not decode or does not fit
	CodeVersion       uint16 = 6 // protocol version not spoken
	CodeReplicaFailed uint16 = 7 // the replica could not store what it received
	CodeDiverged      uint16 = 8 // the replica's log shares no epoch range with the master's
)

const (
	// protocolVersion 2 added the epoch entries of HELLO and WELCOME; a
	// version 1 HELLO (no entries) is still accepted.
	protocolVersion = 2
	// MaxFrameBytes bounds a frame's length field: the largest DATA chunk
	// (4 MiB of records plus the biggest record's headroom) and its header.
	MaxFrameBytes = 4<<20 + 64<<10
	// maxChunkBytes bounds ChunkBytes so a chunk of whole records (one may
	// exceed the chunk) always fits a frame.
	maxChunkBytes = 4 << 20
	maxNameLen    = 127
	flagSyncFlush = 1
	// MaxEpochEntries bounds the epoch entries of a HELLO or WELCOME; a
	// longer list is sent as its newest entries.
	MaxEpochEntries = 4096
)

// ErrFrame is the class of every malformed or unexpected frame.
var ErrFrame = errors.New("ha: bad frame")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// EpochEntry says that epoch Epoch wrote a member's log from Start up to
// the next entry's start (the last: up to the log end).
type EpochEntry struct{ Epoch, Start int64 }

// Hello opens a replica's connection.
type Hello struct {
	BrokerID   int64
	Epoch      int64
	Offset     int64
	SyncFlush  bool
	BrokerName string
	// Epochs are the replica's epoch entries, oldest first (nil: none).
	Epochs []EpochEntry
}

// Welcome answers a Hello.
type Welcome struct {
	Epoch, Start, MasterEnd, SegmentSize int64
	// Epochs are the master's epoch entries, oldest first (nil: none).
	Epochs []EpochEntry
}

// Data is a chunk of the master's log.
type Data struct {
	Offset, Commit int64
	Bytes          []byte // aliases the read buffer until the next frame
}

// Heartbeat tells an idle replica where the master is.
type Heartbeat struct{ MasterEnd, Commit int64 }

// Ack reports what a replica holds.
type Ack struct{ Appended, Synced int64 }

// Meta is one metadata blob.
type Meta struct {
	Kind byte
	Body []byte
}

// ErrorFrame is a refusal; the sender closes after it.
type ErrorFrame struct {
	Code    uint16
	Message string
}

func (e *ErrorFrame) Error() string {
	return fmt.Sprintf("ha: peer refused (code %d): %s", e.Code, e.Message)
}

// frameHeaderLen is the length field and the type byte.
const frameHeaderLen = 5

func appendHeader(dst []byte, typ byte, payload int) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(1+payload))
	return append(dst, typ)
}

func appendInt64s(dst []byte, typ byte, vals ...int64) []byte {
	dst = appendHeader(dst, typ, 8*len(vals))
	for _, v := range vals {
		dst = binary.BigEndian.AppendUint64(dst, uint64(v))
	}
	return dst
}

// AppendHello encodes h.
func AppendHello(dst []byte, h Hello) []byte {
	name := h.BrokerName[:min(len(h.BrokerName), maxNameLen)]
	epochs := newestEpochs(h.Epochs)
	dst = appendHeader(dst, FrameHello, 2+2+8+8+8+1+len(name)+2+16*len(epochs))
	var flags uint16
	if h.SyncFlush {
		flags |= flagSyncFlush
	}
	dst = binary.BigEndian.AppendUint16(dst, protocolVersion)
	dst = binary.BigEndian.AppendUint16(dst, flags)
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.BrokerID))
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.Epoch))
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.Offset))
	dst = append(dst, byte(len(name)))
	dst = append(dst, name...)
	return appendEpochs(dst, epochs)
}

// AppendWelcome encodes w.
func AppendWelcome(dst []byte, w Welcome) []byte {
	epochs := newestEpochs(w.Epochs)
	if len(epochs) == 0 {
		return appendInt64s(dst, FrameWelcome, w.Epoch, w.Start, w.MasterEnd, w.SegmentSize)
	}
	dst = appendHeader(dst, FrameWelcome, 32+2+16*len(epochs))
	for _, v := range []int64{w.Epoch, w.Start, w.MasterEnd, w.SegmentSize} {
		dst = binary.BigEndian.AppendUint64(dst, uint64(v))
	}
	return appendEpochs(dst, epochs)
}

// newestEpochs is entries cut to the newest MaxEpochEntries.
func newestEpochs(entries []EpochEntry) []EpochEntry {
	return entries[max(0, len(entries)-MaxEpochEntries):]
}

func appendEpochs(dst []byte, entries []EpochEntry) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(entries)))
	for _, e := range entries {
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.Epoch))
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.Start))
	}
	return dst
}

// decodeEpochs reads a count and its entries, which must fill p exactly.
func decodeEpochs(p []byte) ([]EpochEntry, error) {
	if len(p) < 2 {
		return nil, fmt.Errorf("%w: epoch list of %d bytes", ErrFrame, len(p))
	}
	n := int(binary.BigEndian.Uint16(p))
	if n > MaxEpochEntries || len(p) != 2+16*n {
		return nil, fmt.Errorf("%w: %d epoch entries in %d bytes", ErrFrame, n, len(p))
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]EpochEntry, n)
	for i := range out {
		e := EpochEntry{Epoch: int64(binary.BigEndian.Uint64(p[2+16*i:])), Start: int64(binary.BigEndian.Uint64(p[10+16*i:]))}
		if e.Epoch < 0 || e.Start < 0 {
			return nil, fmt.Errorf("%w: negative epoch entry", ErrFrame)
		}
		out[i] = e
	}
	return out, nil
}

// AppendDataHeader encodes the header of a DATA frame carrying data; the
// caller writes data right after it.
func AppendDataHeader(dst []byte, offset, commit int64, data []byte) []byte {
	dst = appendHeader(dst, FrameData, 8+8+4+len(data))
	dst = binary.BigEndian.AppendUint64(dst, uint64(offset))
	dst = binary.BigEndian.AppendUint64(dst, uint64(commit))
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(data, castagnoli))
}

// AppendHeartbeat encodes h.
func AppendHeartbeat(dst []byte, h Heartbeat) []byte {
	return appendInt64s(dst, FrameHeartbeat, h.MasterEnd, h.Commit)
}

// AppendAck encodes a.
func AppendAck(dst []byte, a Ack) []byte { return appendInt64s(dst, FrameAck, a.Appended, a.Synced) }

// AppendMeta encodes m.
func AppendMeta(dst []byte, m Meta) []byte {
	dst = appendHeader(dst, FrameMeta, 1+len(m.Body))
	dst = append(dst, m.Kind)
	return append(dst, m.Body...)
}

// AppendError encodes e.
func AppendError(dst []byte, e ErrorFrame) []byte {
	dst = appendHeader(dst, FrameError, 2+len(e.Message))
	dst = binary.BigEndian.AppendUint16(dst, e.Code)
	return append(dst, e.Message...)
}

// Decoder reads frames from a stream into one reused, bounded buffer.
type Decoder struct {
	r   *bufio.Reader
	buf []byte
}

// NewDecoder reads from r.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{r: bufio.NewReaderSize(r, 64<<10)} }

// Next reads one frame and decodes it into one of *Hello, *Welcome,
// *Data, *Heartbeat, *Ack, *Meta or *ErrorFrame. Slices in the result
// alias the decoder's buffer until the next call.
func (d *Decoder) Next() (any, error) {
	var head [frameHeaderLen]byte
	if _, err := io.ReadFull(d.r, head[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(head[:4]))
	if n < 1 || n > MaxFrameBytes {
		return nil, fmt.Errorf("%w: length %d outside 1..%d", ErrFrame, n, MaxFrameBytes)
	}
	if cap(d.buf) < n-1 {
		d.buf = make([]byte, n-1)
	}
	d.buf = d.buf[:n-1]
	if _, err := io.ReadFull(d.r, d.buf); err != nil {
		return nil, err
	}
	return DecodePayload(head[4], d.buf)
}

// Buffered reports how many bytes are already read and waiting.
func (d *Decoder) Buffered() int { return d.r.Buffered() }

// DecodePayload decodes the payload of a frame of type typ.
func DecodePayload(typ byte, p []byte) (any, error) {
	be := binary.BigEndian
	need := func(n int) error {
		if len(p) < n {
			return fmt.Errorf("%w: type %d payload of %d bytes, want %d", ErrFrame, typ, len(p), n)
		}
		return nil
	}
	switch typ {
	case FrameHello:
		return decodeHello(p)
	case FrameWelcome:
		if err := need(32); err != nil {
			return nil, err
		}
		w := &Welcome{Epoch: int64(be.Uint64(p)), Start: int64(be.Uint64(p[8:])),
			MasterEnd: int64(be.Uint64(p[16:])), SegmentSize: int64(be.Uint64(p[24:]))}
		if len(p) > 32 {
			var err error
			if w.Epochs, err = decodeEpochs(p[32:]); err != nil {
				return nil, err
			}
		}
		return w, nil
	case FrameData:
		if err := need(20); err != nil {
			return nil, err
		}
		data := p[20:]
		if crc32.Checksum(data, castagnoli) != be.Uint32(p[16:]) {
			return nil, fmt.Errorf("%w: data at %d fails its checksum", ErrFrame, int64(be.Uint64(p)))
		}
		return &Data{Offset: int64(be.Uint64(p)), Commit: int64(be.Uint64(p[8:])), Bytes: data}, nil
	case FrameHeartbeat:
		if err := need(16); err != nil {
			return nil, err
		}
		return &Heartbeat{MasterEnd: int64(be.Uint64(p)), Commit: int64(be.Uint64(p[8:]))}, nil
	case FrameAck:
		if err := need(16); err != nil {
			return nil, err
		}
		return &Ack{Appended: int64(be.Uint64(p)), Synced: int64(be.Uint64(p[8:]))}, nil
	case FrameMeta:
		if err := need(1); err != nil {
			return nil, err
		}
		return &Meta{Kind: p[0], Body: p[1:]}, nil
	case FrameError:
		if err := need(2); err != nil {
			return nil, err
		}
		return &ErrorFrame{Code: be.Uint16(p), Message: string(p[2:])}, nil
	}
	return nil, fmt.Errorf("%w: unknown type %d", ErrFrame, typ)
}

func decodeHello(p []byte) (*Hello, error) {
	be := binary.BigEndian
	if len(p) < 29 {
		return nil, fmt.Errorf("%w: hello of %d bytes", ErrFrame, len(p))
	}
	v := be.Uint16(p)
	if v != 1 && v != protocolVersion {
		return nil, fmt.Errorf("%w: protocol version %d, want 1 or %d", ErrFrame, v, protocolVersion)
	}
	n := int(p[28])
	if n > maxNameLen || len(p) < 29+n || v == 1 && len(p) != 29+n {
		return nil, fmt.Errorf("%w: hello broker name of %d bytes in %d", ErrFrame, n, len(p))
	}
	h := &Hello{SyncFlush: be.Uint16(p[2:])&flagSyncFlush != 0, BrokerID: int64(be.Uint64(p[4:])),
		Epoch: int64(be.Uint64(p[12:])), Offset: int64(be.Uint64(p[20:])), BrokerName: string(p[29 : 29+n])}
	if v == protocolVersion {
		var err error
		if h.Epochs, err = decodeEpochs(p[29+n:]); err != nil {
			return nil, err
		}
	}
	if h.BrokerID < 0 || h.Offset < 0 || h.Epoch < 0 {
		return nil, fmt.Errorf("%w: hello with negative id, epoch or offset", ErrFrame)
	}
	return h, nil
}
