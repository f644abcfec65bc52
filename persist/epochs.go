package persist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"slices"
	"sync"
)

// The epoch file records which master epoch wrote each range of the
// commit log, as Kafka's leader-epoch checkpoint and RocketMQ 5's
// EpochFile do. Entry i says that epoch Epoch wrote the log from Start up
// to the next entry's Start (the last entry: up to the log end). A range
// that starts at or past the log end holds no bytes and counts for
// nothing: it is left by a crash between a truncation and the file's
// rewrite, or written just before the bytes it announces.
//
// Epochs and starts both rise strictly from entry to entry. A master
// begins its epoch at its log end (Begin); a replica copies its master's
// entries for the bytes it holds (Adopt); a truncation drops the entries
// of the ranges it cut (TruncateFrom). Two members whose files name the
// same epoch at the same start hold the same bytes there, so a rejoining
// member truncates to the end of the newest range it shares with its
// master (the divergence point) and fetches from there.
//
// The file is rewritten whole (WriteFileAtomic, through the FS seam) on
// every change, which happens once per change of master. Part of the
// format: do not change.
//
//	+--------+---------+-----------------------------------------------+
//	| 8      | magic   | "CMEPOCH1"                                    |
//	| 4      | count   | entries that follow, <= MaxEpochEntries       |
//	| 16 × n | entries | 8 epoch, 8 start offset (big-endian, signed)  |
//	| 4      | crc     | CRC32-C of every byte before it               |
//	+--------+---------+-----------------------------------------------+

// EpochFileName is the epoch file's name in the store directory.
const EpochFileName = "epochs"

// MaxEpochEntries bounds the entries kept; Begin drops the oldest beyond
// it (only a member more than that many failovers behind needs them).
const MaxEpochEntries = 4096

const epochMagic = "CMEPOCH1"

// ErrStaleEpoch: a master was asked to begin an epoch older than one its
// log already holds.
var ErrStaleEpoch = errors.New("persist: epoch older than the log's")

// EpochEntry is one range of the epoch file.
type EpochEntry struct {
	Epoch int64
	Start int64
}

// EpochFile is the epoch checkpoint of one store. It is safe for
// concurrent use; changes are durable when the call returns.
type EpochFile struct {
	fsys FS
	path string
	mu   struct {
		sync.Mutex
		entries []EpochEntry
	}
}

// OpenEpochFile reads the epoch file at path (an empty one when it does
// not exist). A file that fails its checks is an error wrapping
// ErrCorruption: the caller must not guess which epochs wrote the log.
func OpenEpochFile(fsys FS, path string) (*EpochFile, error) {
	f := &EpochFile{fsys: fsys, path: path}
	if _, err := RemoveMetaTemps(fsys, path); err != nil {
		return nil, fmt.Errorf("persist: epoch file temporaries: %w", err)
	}
	data, err := ReadFile(fsys, path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("persist: read epoch file: %w", err)
	}
	if f.mu.entries, err = DecodeEpochs(data); err != nil {
		return nil, fmt.Errorf("persist: epoch file %s: %w", path, err)
	}
	return f, nil
}

// EncodeEpochs renders entries in the file's format.
func EncodeEpochs(entries []EpochEntry) []byte {
	b := make([]byte, 0, len(epochMagic)+4+16*len(entries)+4)
	b = append(b, epochMagic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(entries)))
	for _, e := range entries {
		b = binary.BigEndian.AppendUint64(b, uint64(e.Epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.Start))
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// DecodeEpochs parses the file's format and checks its rules.
func DecodeEpochs(data []byte) ([]EpochEntry, error) {
	be := binary.BigEndian
	if len(data) < len(epochMagic)+8 || string(data[:len(epochMagic)]) != epochMagic {
		return nil, fmt.Errorf("not an epoch file (%d bytes): %w", len(data), ErrCorruption)
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, castagnoli) != be.Uint32(data[len(data)-4:]) {
		return nil, fmt.Errorf("checksum mismatch: %w", ErrCorruption)
	}
	n := be.Uint32(body[len(epochMagic):])
	rest := body[len(epochMagic)+4:]
	if n > MaxEpochEntries || len(rest) != 16*int(n) {
		return nil, fmt.Errorf("%d entries in %d bytes: %w", n, len(rest), ErrCorruption)
	}
	entries := make([]EpochEntry, n)
	for i := range entries {
		entries[i] = EpochEntry{Epoch: int64(be.Uint64(rest[16*i:])), Start: int64(be.Uint64(rest[16*i+8:]))}
	}
	if err := checkEpochs(entries); err != nil {
		return nil, err
	}
	return entries, nil
}

// checkEpochs requires non-negative values rising strictly.
func checkEpochs(entries []EpochEntry) error {
	for i, e := range entries {
		if e.Epoch < 0 || e.Start < 0 {
			return fmt.Errorf("entry %d (epoch %d at %d) is negative: %w", i, e.Epoch, e.Start, ErrCorruption)
		}
		if i > 0 && (e.Epoch <= entries[i-1].Epoch || e.Start <= entries[i-1].Start) {
			return fmt.Errorf("entry %d (epoch %d at %d) does not rise above epoch %d at %d: %w",
				i, e.Epoch, e.Start, entries[i-1].Epoch, entries[i-1].Start, ErrCorruption)
		}
	}
	return nil
}

// Entries returns a copy of every entry, oldest first.
func (f *EpochFile) Entries() []EpochEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.mu.entries)
}

// EpochAt is the epoch that wrote the last byte below end: the newest
// entry starting before end (0 when none does).
func (f *EpochFile) EpochAt(end int64) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.mu.entries) - 1; i >= 0; i-- {
		if e := f.mu.entries[i]; e.Start < end {
			return e.Epoch
		}
	}
	return 0
}

// Begin records that a master begins epoch at start, its log end. Entries
// starting past start held no bytes and are dropped, as is an empty range
// at start itself. Beginning the newest epoch again changes nothing;
// beginning an older one fails with ErrStaleEpoch.
func (f *EpochFile) Begin(epoch, start int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	next := slices.Clone(f.mu.entries)
	for len(next) > 0 && next[len(next)-1].Start > start {
		next = next[:len(next)-1]
	}
	if len(next) > 0 {
		last := next[len(next)-1]
		switch {
		case last.Epoch == epoch:
			return f.replaceLocked(next)
		case last.Epoch > epoch:
			return fmt.Errorf("persist: begin epoch %d at %d: the log holds epoch %d from %d: %w", epoch, start, last.Epoch, last.Start, ErrStaleEpoch)
		case last.Start == start:
			next = next[:len(next)-1]
		}
	}
	next = append(next, EpochEntry{Epoch: epoch, Start: start})
	if len(next) > MaxEpochEntries {
		next = next[len(next)-MaxEpochEntries:]
	}
	return f.replaceLocked(next)
}

// Adopt makes the file a replica's copy of its master's entries for a log
// about to hold bytes up to upTo: the master's entries starting below
// upTo. The replica calls it before it appends the bytes, so a crash
// leaves at worst an entry past the log end, which counts for nothing.
func (f *EpochFile) Adopt(master []EpochEntry, upTo int64) error {
	next := make([]EpochEntry, 0, len(master))
	for _, e := range master {
		if e.Start < upTo {
			next = append(next, e)
		}
	}
	if len(next) > MaxEpochEntries {
		next = next[len(next)-MaxEpochEntries:]
	}
	if err := checkEpochs(next); err != nil {
		return fmt.Errorf("persist: adopt the master's epochs: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.replaceLocked(next)
}

// TruncateFrom drops the entries of ranges starting at or past offset,
// after the log was cut there.
func (f *EpochFile) TruncateFrom(offset int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	next := slices.Clone(f.mu.entries)
	for len(next) > 0 && next[len(next)-1].Start >= offset {
		next = next[:len(next)-1]
	}
	return f.replaceLocked(next)
}

// replaceLocked makes next the file's content, durably, when it differs.
func (f *EpochFile) replaceLocked(next []EpochEntry) error {
	if slices.Equal(next, f.mu.entries) {
		return nil
	}
	if err := WriteFileAtomic(f.fsys, f.path, EncodeEpochs(next)); err != nil {
		return fmt.Errorf("persist: write epoch file: %w", err)
	}
	f.mu.entries = next
	return nil
}
