package persist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
)

// Checkpoint file: two slots written alternately, so a torn write of one
// slot leaves the other intact. The newest slot with a valid CRC wins.
// Big-endian. Part of the format: do not change.
//
//	slot at byte 0 and at byte 512:
//	+------+------------+----------------------------------------------+
//	| 4    | magic      | "CMCK"                                       |
//	| 4    | version    | 1                                            |
//	| 8    | sequence   | increases with every write                   |
//	| 8    | dispatched | log offset below which consume queues and    |
//	|      |            | the key index are durable (and the log too)  |
//	| 4    | queueCount | consume queues that existed at that time     |
//	| 1    | clean      | 1 when written by a clean shutdown           |
//	| 3    | reserved   | zero                                         |
//	| 4    | crc        | CRC32-C of the 32 bytes above                |
//	+------+------------+----------------------------------------------+
const (
	checkpointMagic   = 0x434D434B // "CMCK"
	checkpointVersion = 1
	checkpointSlot    = 512
	checkpointLen     = 36
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type checkpoint struct {
	seq        uint64
	dispatched int64
	queueCount int32
	clean      bool
}

type checkpointFile struct {
	fs   FS
	path string
	last checkpoint
}

func encodeCheckpoint(c checkpoint) []byte {
	b := make([]byte, checkpointLen)
	be := binary.BigEndian
	be.PutUint32(b[0:], checkpointMagic)
	be.PutUint32(b[4:], checkpointVersion)
	be.PutUint64(b[8:], c.seq)
	be.PutUint64(b[16:], uint64(c.dispatched))
	be.PutUint32(b[24:], uint32(c.queueCount))
	if c.clean {
		b[28] = 1
	}
	be.PutUint32(b[32:], crc32.Checksum(b[:32], castagnoli))
	return b
}

func decodeCheckpoint(b []byte) (checkpoint, bool) {
	be := binary.BigEndian
	if len(b) < checkpointLen || be.Uint32(b) != checkpointMagic || be.Uint32(b[4:]) != checkpointVersion {
		return checkpoint{}, false
	}
	if crc32.Checksum(b[:32], castagnoli) != be.Uint32(b[32:]) {
		return checkpoint{}, false
	}
	return checkpoint{
		seq:        be.Uint64(b[8:]),
		dispatched: int64(be.Uint64(b[16:])),
		queueCount: int32(be.Uint32(b[24:])),
		clean:      b[28] == 1,
	}, true
}

// read returns the newest valid checkpoint; ok is false when there is none.
func (f *checkpointFile) read() (checkpoint, bool, error) {
	file, err := f.fs.OpenFile(f.path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return checkpoint{}, false, nil
	}
	if err != nil {
		return checkpoint{}, false, fmt.Errorf("persist: open checkpoint: %w", err)
	}
	defer file.Close()
	buf := make([]byte, 2*checkpointSlot)
	n, err := file.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return checkpoint{}, false, fmt.Errorf("persist: read checkpoint: %w", err)
	}
	buf = buf[:n]
	var best checkpoint
	found := false
	for _, at := range []int{0, checkpointSlot} {
		if at >= len(buf) {
			continue
		}
		if c, ok := decodeCheckpoint(buf[at:]); ok && (!found || c.seq > best.seq) {
			best, found = c, true
		}
	}
	f.last = best
	return best, found, nil
}

// write stores c in the slot the previous checkpoint did not use, durably.
func (f *checkpointFile) write(c checkpoint) error {
	c.seq = f.last.seq + 1
	file, err := f.fs.OpenFile(f.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("persist: open checkpoint: %w", err)
	}
	at := int64(c.seq%2) * checkpointSlot
	_, err = file.WriteAt(encodeCheckpoint(c), at)
	if err == nil {
		err = file.Sync()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("persist: write checkpoint: %w", err)
	}
	f.last = c
	return nil
}
