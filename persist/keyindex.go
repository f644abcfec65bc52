package persist

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// The key index maps topic+"#"+key to commit-log offsets, for query by key
// and by unique message id. It is a set of append-only hash files in the
// directory given to openKeyIndex, named by a 20-digit creation sequence
// number; a new file starts when the newest one holds EntriesPerFile
// entries. Each file is preallocated and mapped:
//
//	+--------------------+----------------------------+-------------------------------+
//	| header (64 bytes)  | slots: slotCount x 4 bytes | entries: entryCapacity x 32 B |
//	+--------------------+----------------------------+-------------------------------+
//
// Header, little-endian. Part of the format: do not change.
//
//	+--------+----+------------------+---------------------------------------------+
//	| offset | sz | field            | meaning                                     |
//	+--------+----+------------------+---------------------------------------------+
//	| 0      | 4  | magic            | "CKIX"                                      |
//	| 4      | 2  | version          | 1                                           |
//	| 6      | 2  | state            | 0 open, 1 clean, 2 sealed (see below)       |
//	| 8      | 4  | slotCount        | hash slots in this file                     |
//	| 12     | 4  | entryCapacity    | entries this file can hold                  |
//	| 16     | 4  | entryCount       | entries written (exact when clean/sealed)   |
//	| 20     | 4  | reserved         | 0                                           |
//	| 24     | 8  | beginTimestampMs | lowest store time of an entry (a bound)     |
//	| 32     | 8  | endTimestampMs   | highest store time of an entry (a bound)    |
//	| 40     | 8  | beginPhyOffset   | phyOffset of the first entry                |
//	| 48     | 8  | endPhyOffset     | phyOffset of the last entry                 |
//	| 56     | 4  | reserved         | 0                                           |
//	| 60     | 4  | headerCRC        | CRC-32C of bytes [0, 60)                    |
//	+--------+----+------------------+---------------------------------------------+
//
// Slot s (little-endian uint32) holds the number of the newest entry whose
// keyHash % slotCount == s; 0 means none. Entries are numbered from 1.
//
// Entry n lives at 64 + slotCount*4 + (n-1)*32, little-endian. Part of the
// format: do not change.
//
//	+--------+----+------------------+---------------------------------------------+
//	| offset | sz | field            | meaning                                     |
//	+--------+----+------------------+---------------------------------------------+
//	| 0      | 8  | keyHash          | xxhash64(topic + "#" + key); 0 maps to 1    |
//	| 8      | 8  | phyOffset        | commit-log offset of the record             |
//	| 16     | 8  | storeTimestampMs | store time of the record, Unix ms           |
//	| 24     | 4  | prevEntry        | previous entry of the same slot, 0 = none   |
//	| 28     | 4  | entryCRC         | CRC-32C of bytes [0, 28), seeded with n     |
//	+--------+----+------------------+---------------------------------------------+
//
// States. A file is "open" while entries are being added to it: its header
// count is the count at the last flush, and anything that lowers the count
// (a cut, a repair) rewrites the header with the lower count first, so in
// the page cache entries 1..count are always valid and chained. "clean" is
// written by close after every entry and slot is synced; "sealed" by flush
// once a full file is synced. Only clean and sealed headers are trusted.
//
// Loading an open file after a crash takes one of two paths:
//
//   - The previous process died on this boot of the machine (kill -9):
//     the page cache kept everything it wrote, so only the entries added
//     since the header's count are scanned, their slots fixed up and a torn
//     last entry zeroed. The work is proportional to that tail.
//   - The machine crashed, or that cannot be told: dirty pages may have
//     been written back in any subset, so the entries are scanned from 1,
//     the longest valid prefix is kept (checksum, hash not 0, phyOffsets
//     not decreasing, prevEntry equal to the slot's value when the entry
//     was added), everything after it is zeroed and the slots rebuilt.
//
// Concurrency: add, addBatch, flush, truncateFrom, deleteBelow and close
// are serialised by writeMu. Queries run concurrently with adds: an entry
// is written in full before its slot is stored atomically, and a query
// reaches entries only through slots and prevEntry links (addBatch widens
// a file's bounds and count only after its whole batch, so a query may see
// a batch's entries late, never partly written). Queries hold mu shared;
// whatever unmaps a file or rewrites published entries holds it exclusively.
//
// The index is a hint: hashes can collide, so callers verify every hit
// against the record itself. It never returns an offset it was not given.
const (
	keyIndexHeaderSize = 64
	keyIndexSlotSize   = 4
	keyIndexEntrySize  = 32
	keyIndexVersion    = 1

	keyIndexStateOpen   = 0
	keyIndexStateClean  = 1
	keyIndexStateSealed = 2

	keyIndexMaxSlots   = 1 << 30
	keyIndexMaxEntries = math.MaxUint32 - 1
)

var (
	keyIndexMagic    = [4]byte{'C', 'K', 'I', 'X'}
	keyIndexCRCTable = crc32.MakeTable(crc32.Castagnoli)
	bigEndianHost    = binary.NativeEndian.Uint16([]byte{0, 1}) == 1
	zeroPage         [4096]byte
)

// keyIndexOptions sizes the index files. Zero values take the defaults.
type keyIndexOptions struct {
	SlotsPerFile   int // default 4 << 20
	EntriesPerFile int // default 16 << 20
	// PageCacheIntact says the files were last written by a process that
	// died on this boot of the machine, so every byte it wrote through its
	// mappings is still there: open files are repaired from their last
	// flush on rather than from their first entry.
	PageCacheIntact bool
	Logger          *slog.Logger
}

func (o keyIndexOptions) withDefaults() keyIndexOptions {
	if o.SlotsPerFile == 0 {
		o.SlotsPerFile = 4 << 20
	}
	if o.EntriesPerFile == 0 {
		o.EntriesPerFile = 16 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Validate reports options the index cannot use.
func (o keyIndexOptions) Validate() error {
	if o.SlotsPerFile < 1 || o.SlotsPerFile > keyIndexMaxSlots {
		return fmt.Errorf("persist: key index: SlotsPerFile %d outside [1, %d]", o.SlotsPerFile, keyIndexMaxSlots)
	}
	if o.EntriesPerFile < 1 || int64(o.EntriesPerFile) > keyIndexMaxEntries {
		return fmt.Errorf("persist: key index: EntriesPerFile %d outside [1, %d]", o.EntriesPerFile, int64(keyIndexMaxEntries))
	}
	return nil
}

// keyIndexEntry is one decoded entry.
type keyIndexEntry struct {
	keyHash          uint64
	phyOffset        int64
	storeTimestampMs int64
	prevEntry        uint32
}

// keyIndexFile is one mapped index file.
type keyIndexFile struct {
	seq       uint64
	path      string
	file      File
	mapping   Mapping
	data      []byte
	slotCount uint32
	capacity  uint32

	// Published to queries.
	count     atomic.Uint32
	beginTsMs atomic.Int64
	endTsMs   atomic.Int64
	beginPhy  atomic.Int64
	endPhy    atomic.Int64

	// Writer only.
	state       uint16
	syncedCount uint32
}

type keyIndexFileList struct {
	files []*keyIndexFile // oldest first
}

// keyIndex is the persistent key -> commit-log offset index.
type keyIndex struct {
	fsys FS
	dir  string
	opts keyIndexOptions
	log  *slog.Logger

	files    atomic.Pointer[keyIndexFileList]
	lastPhy  atomic.Int64 // largest phyOffset indexed, -1 when empty
	isClosed atomic.Bool

	mu      sync.RWMutex // shared by queries; exclusive to unmap or rewrite
	writeMu sync.Mutex   // serialises the writer-side operations
	nextSeq uint64       // writeMu
	closed  bool         // writeMu

	// openScanned counts the entries read to repair open files at load.
	openScanned int64
	// lostAtLoad: loading dropped files or cut entries, so the index may
	// lack records below anything the checkpoint says; the store
	// re-indexes from the last entry kept (indexedEnd).
	lostAtLoad bool
}

func keyIndexFileName(seq uint64) string { return fmt.Sprintf("%020d", seq) }

func parseKeyIndexFileName(name string) (uint64, bool) {
	if len(name) != 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(name, 10, 64)
	return v, err == nil
}

func keyIndexFileSize(slots, capacity uint32) int64 {
	return keyIndexHeaderSize + int64(slots)*keyIndexSlotSize + int64(capacity)*keyIndexEntrySize
}

// keyIndexHash hashes topic+"#"+key without building the string.
func keyIndexHash(topic, key string) uint64 {
	var d xxhash.Digest
	d.Reset()
	d.WriteString(topic)
	d.WriteString("#")
	d.WriteString(key)
	return nonZeroHash(d.Sum64())
}

// keyIndexHashBytes is keyIndexHash of byte slices (no allocation).
func keyIndexHashBytes(topic, key []byte) uint64 {
	var d xxhash.Digest
	d.Reset()
	d.Write(topic)
	d.WriteString("#")
	d.Write(key)
	return nonZeroHash(d.Sum64())
}

func nonZeroHash(h uint64) uint64 {
	if h != 0 {
		return h
	}
	return 1
}

// openKeyIndex loads the index files in dir (creating dir if missing),
// repairing the tail of any file that was not closed cleanly.
func openKeyIndex(fsys FS, dir string, opts keyIndexOptions) (*keyIndex, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	x := &keyIndex{fsys: fsys, dir: dir, opts: opts, log: opts.Logger}
	x.files.Store(&keyIndexFileList{})
	x.lastPhy.Store(-1)
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("persist: key index: create dir: %w", err)
	}
	files, err := x.loadFiles()
	if err != nil {
		closeKeyIndexFiles(files)
		return nil, err
	}
	x.files.Store(&keyIndexFileList{files: files})
	x.lastPhy.Store(lastPhyOf(files))
	return x, nil
}

// loadFiles opens every index file in sequence order. A file with an
// unusable header, or following a file that ends short of full, is deleted
// with every later file: the store re-adds what they held.
func (x *keyIndex) loadFiles() ([]*keyIndexFile, error) {
	names, err := x.fsys.ReadDir(x.dir)
	if err != nil {
		return nil, fmt.Errorf("persist: key index: list dir: %w", err)
	}
	var seqs []uint64
	for _, name := range names {
		if seq, ok := parseKeyIndexFileName(name); ok {
			seqs = append(seqs, seq)
		}
	}
	if len(seqs) > 0 {
		x.nextSeq = seqs[len(seqs)-1] + 1
	}
	var files []*keyIndexFile
	for i, seq := range seqs {
		f, err := x.openFile(seq)
		if errors.Is(err, ErrCorruption) {
			x.log.Warn("key index: dropping unreadable file and its successors; the store re-indexes them from the log",
				"file", keyIndexFileName(seq), "err", err)
			x.lostAtLoad = true
			return files, x.removeSeqs(seqs[i:])
		}
		if err != nil {
			return files, err
		}
		files = append(files, f)
		if f.count.Load() < f.capacity && i+1 < len(seqs) {
			x.log.Warn("key index: file ends short of full; dropping its successors", "file", keyIndexFileName(seq), "entries", f.count.Load())
			x.lostAtLoad = true
			return files, x.removeSeqs(seqs[i+1:])
		}
	}
	if n := len(files); n > 0 {
		if err := x.markOpen(files[n-1]); err != nil {
			return files, err
		}
	}
	return files, nil
}

func (x *keyIndex) removeSeqs(seqs []uint64) error {
	for i := len(seqs) - 1; i >= 0; i-- {
		err := x.fsys.Remove(filepath.Join(x.dir, keyIndexFileName(seqs[i])))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("persist: key index: remove %s: %w", keyIndexFileName(seqs[i]), err)
		}
	}
	if err := x.fsys.SyncDir(x.dir); err != nil {
		return fmt.Errorf("persist: key index: sync dir: %w", err)
	}
	return nil
}

// markOpen makes the newest file's header say "open" before anything is
// added to it, so a crash from here on leads to a tail scan.
func (x *keyIndex) markOpen(f *keyIndexFile) error {
	if f.state == keyIndexStateOpen || (f.state == keyIndexStateSealed && f.count.Load() == f.capacity) {
		return nil
	}
	f.state = keyIndexStateOpen
	return f.syncHeader()
}

// openFile maps an existing file and establishes its entry count: from the
// header when clean or sealed, by a tail scan otherwise.
func (x *keyIndex) openFile(seq uint64) (*keyIndexFile, error) {
	name := keyIndexFileName(seq)
	path := filepath.Join(x.dir, name)
	file, err := x.fsys.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("persist: key index: open %s: %w", name, err)
	}
	var hdr [keyIndexHeaderSize]byte
	n, err := file.ReadAt(hdr[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		file.Close()
		return nil, fmt.Errorf("persist: key index: read header of %s: %w", name, err)
	}
	slots, capacity, err := parseKeyIndexGeometry(hdr[:n])
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("persist: key index: %s: %w", name, err)
	}
	size := keyIndexFileSize(slots, capacity)
	if cur, err := file.Size(); err != nil || cur < size {
		if err == nil {
			err = file.Allocate(size)
		}
		if err != nil {
			file.Close()
			return nil, fmt.Errorf("persist: key index: extend %s: %w", name, err)
		}
	}
	f, err := mapKeyIndexFile(file, path, seq, slots, capacity)
	if err != nil {
		return nil, err
	}
	if err := x.establishCount(f, hdr[:]); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

// parseKeyIndexGeometry checks the parts of a header written once at
// creation and returns the file's geometry.
func parseKeyIndexGeometry(hdr []byte) (slots, capacity uint32, err error) {
	if len(hdr) < keyIndexHeaderSize {
		return 0, 0, fmt.Errorf("short header (%d bytes): %w", len(hdr), ErrCorruption)
	}
	if !bytes.Equal(hdr[:4], keyIndexMagic[:]) {
		return 0, 0, fmt.Errorf("bad magic %x: %w", hdr[:4], ErrCorruption)
	}
	if v := binary.LittleEndian.Uint16(hdr[4:]); v != keyIndexVersion {
		return 0, 0, fmt.Errorf("unknown version %d: %w", v, ErrCorruption)
	}
	slots = binary.LittleEndian.Uint32(hdr[8:])
	capacity = binary.LittleEndian.Uint32(hdr[12:])
	if slots < 1 || slots > keyIndexMaxSlots || capacity < 1 || int64(capacity) > keyIndexMaxEntries {
		return 0, 0, fmt.Errorf("bad geometry: %d slots, %d entries: %w", slots, capacity, ErrCorruption)
	}
	return slots, capacity, nil
}

func mapKeyIndexFile(file File, path string, seq uint64, slots, capacity uint32) (*keyIndexFile, error) {
	size := keyIndexFileSize(slots, capacity)
	if size > math.MaxInt {
		file.Close()
		return nil, fmt.Errorf("persist: key index: %s: %d bytes cannot be mapped", filepath.Base(path), size)
	}
	m, err := file.Map(int(size))
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("persist: key index: map %s: %w", filepath.Base(path), err)
	}
	f := &keyIndexFile{seq: seq, path: path, file: file, mapping: m, data: m.Bytes(), slotCount: slots, capacity: capacity}
	f.beginPhy.Store(-1)
	f.endPhy.Store(-1)
	return f, nil
}

func (x *keyIndex) establishCount(f *keyIndexFile, hdr []byte) error {
	state := binary.LittleEndian.Uint16(hdr[6:])
	count := binary.LittleEndian.Uint32(hdr[16:])
	crcOK := crc32.Checksum(hdr[:60], keyIndexCRCTable) == binary.LittleEndian.Uint32(hdr[60:])
	if crcOK && (state == keyIndexStateClean || state == keyIndexStateSealed) && count <= f.capacity {
		f.state = state
		f.count.Store(count)
		f.syncedCount = count
		f.loadHeaderBounds(hdr)
		return nil
	}
	f.state = keyIndexStateOpen
	if x.opts.PageCacheIntact && crcOK && count <= f.capacity {
		if tail, ok := f.recoverTailAfter(count, hdr); ok {
			x.openScanned += int64(tail.scanned)
			if tail.torn {
				x.log.Warn("key index: zeroed a torn last entry", "file", filepath.Base(f.path), "entries_kept", f.count.Load())
			}
			f.syncedCount = count
			return nil
		}
		x.log.Warn("key index: tail after the last flush is inconsistent; rescanning the whole file", "file", filepath.Base(f.path))
	}
	return x.repairWholeFile(f)
}

func (f *keyIndexFile) loadHeaderBounds(hdr []byte) {
	if binary.LittleEndian.Uint32(hdr[16:]) == 0 {
		return
	}
	f.beginTsMs.Store(int64(binary.LittleEndian.Uint64(hdr[24:])))
	f.endTsMs.Store(int64(binary.LittleEndian.Uint64(hdr[32:])))
	f.beginPhy.Store(int64(binary.LittleEndian.Uint64(hdr[40:])))
	f.endPhy.Store(int64(binary.LittleEndian.Uint64(hdr[48:])))
}

// repairWholeFile trusts nothing of an open file: it keeps the longest
// valid prefix of entries, rebuilds the slots and syncs the result. The
// header in the page cache says "no entries" while the slots are being
// rebuilt, so a process crash during the repair leads to a scan from the
// first entry, never to a trusted half-built slot table.
func (x *keyIndex) repairWholeFile(f *keyIndexFile) error {
	f.encodeHeaderFor(0, -1)
	kept, cut := f.recoverTail()
	x.openScanned += int64(kept)
	if cut {
		x.log.Warn("key index: cut invalid tail", "file", filepath.Base(f.path), "entries_kept", kept)
		x.lostAtLoad = true
	}
	f.encodeHeader()
	if err := f.mapping.Sync(0, len(f.data)); err != nil {
		return fmt.Errorf("persist: key index: sync repaired %s: %w: %w", filepath.Base(f.path), ErrSyncFailed, err)
	}
	f.syncedCount = kept
	return nil
}

// recoverTail keeps the longest valid prefix of entries, zeroes the rest
// and rebuilds the slots from the prefix. It reports the entries kept and
// whether anything after them was cut.
func (f *keyIndexFile) recoverTail() (kept uint32, cut bool) {
	clear(f.data[keyIndexHeaderSize:f.entryOffset(1)])
	lastPhy := int64(-1)
	var n uint32
	for n < f.capacity {
		e, ok := f.entryAt(n + 1)
		if !ok || e.phyOffset < lastPhy || e.prevEntry != f.loadSlot(e.keyHash) {
			break
		}
		n++
		f.storeSlot(e.keyHash, n)
		f.noteBounds(n, e.phyOffset, e.storeTimestampMs)
		lastPhy = e.phyOffset
	}
	f.count.Store(n)
	return n, f.zeroEntriesFrom(n + 1)
}

// keyIndexTail is what a scan past the header's count found.
type keyIndexTail struct {
	end     uint32 // entries kept: the header's count plus the valid tail
	scanned uint32 // entries read
	torn    bool   // the entry after end holds a partial write
}

// recoverTailAfter repairs an open file whose page cache is intact: the
// header's count h and entries 1..h are as the last flush left them, the
// entries after h were appended in full one by one, and at most the last
// of them lacks its slot store or is torn. It scans from h+1 only, and
// changes nothing unless the tail is consistent (ok).
func (f *keyIndexFile) recoverTailAfter(h uint32, hdr []byte) (keyIndexTail, bool) {
	lastPhy := int64(-1)
	if h > 0 {
		e, ok := f.entryAt(h)
		if !ok || e.phyOffset != int64(binary.LittleEndian.Uint64(hdr[48:])) {
			return keyIndexTail{}, false
		}
		lastPhy = e.phyOffset
	}
	tail, ok := f.scanTail(h, lastPhy)
	if !ok {
		return tail, false
	}
	f.loadHeaderBounds(hdr)
	for n := h + 1; n <= tail.end; n++ {
		e, _ := f.entryAt(n)
		if f.loadSlot(e.keyHash) < n {
			f.storeSlot(e.keyHash, n) // the store the crash interrupted
		}
		f.noteBounds(n, e.phyOffset, e.storeTimestampMs)
	}
	if tail.torn {
		off := f.entryOffset(tail.end + 1)
		clear(f.data[off : off+keyIndexEntrySize])
	}
	f.count.Store(tail.end)
	return tail, true
}

// scanTail reads the valid entries after h and checks that what follows
// them is a clean end: zeroes, or one torn entry followed by zeroes. Every
// slot of a tail entry must point at most to the tail's end.
func (f *keyIndexFile) scanTail(h uint32, lastPhy int64) (keyIndexTail, bool) {
	t := keyIndexTail{end: h}
	for t.end < f.capacity {
		t.scanned++
		e, ok := f.entryAt(t.end + 1)
		if !ok || e.phyOffset < lastPhy || !f.prevInSameSlot(e) {
			break
		}
		t.end++
		lastPhy = e.phyOffset
	}
	for n := h + 1; n <= t.end; n++ {
		e, _ := f.entryAt(n)
		if f.loadSlot(e.keyHash) > t.end {
			return t, false
		}
	}
	if t.end == f.capacity || f.entryIsZero(t.end+1) {
		return t, true
	}
	if _, valid := f.entryAt(t.end + 1); valid {
		return t, false // a whole entry that does not fit: not a torn write
	}
	t.torn = true
	return t, t.end+2 > f.capacity || f.entryIsZero(t.end+2)
}

// prevInSameSlot reports whether e's prevEntry is none or an entry that
// hashes to the same slot.
func (f *keyIndexFile) prevInSameSlot(e keyIndexEntry) bool {
	if e.prevEntry == 0 {
		return true
	}
	p, ok := f.entryAt(e.prevEntry)
	return ok && p.keyHash%uint64(f.slotCount) == e.keyHash%uint64(f.slotCount)
}

func (f *keyIndexFile) entryIsZero(n uint32) bool {
	off := f.entryOffset(n)
	return bytes.Equal(f.data[off:off+keyIndexEntrySize], zeroPage[:keyIndexEntrySize])
}

// zeroEntriesFrom clears the entry area from entry n on, touching only
// pages that are not already zero. It reports whether any were not.
func (f *keyIndexFile) zeroEntriesFrom(n uint32) bool {
	if n > f.capacity {
		return false
	}
	dirty := false
	for off := f.entryOffset(n); off < int64(len(f.data)); {
		end := min(off+int64(len(zeroPage))-off%int64(len(zeroPage)), int64(len(f.data)))
		chunk := f.data[off:end]
		if !bytes.Equal(chunk, zeroPage[:len(chunk)]) {
			clear(chunk)
			dirty = true
		}
		off = end
	}
	return dirty
}

func (f *keyIndexFile) entryOffset(n uint32) int64 {
	return keyIndexHeaderSize + int64(f.slotCount)*keyIndexSlotSize + int64(n-1)*keyIndexEntrySize
}

func (f *keyIndexFile) slotWord(keyHash uint64) *uint32 {
	off := keyIndexHeaderSize + (keyHash%uint64(f.slotCount))*keyIndexSlotSize
	return (*uint32)(unsafe.Pointer(&f.data[off]))
}

func (f *keyIndexFile) loadSlot(keyHash uint64) uint32 {
	v := atomic.LoadUint32(f.slotWord(keyHash))
	if bigEndianHost {
		v = bits.ReverseBytes32(v)
	}
	return v
}

func (f *keyIndexFile) storeSlot(keyHash uint64, n uint32) {
	if bigEndianHost {
		n = bits.ReverseBytes32(n)
	}
	atomic.StoreUint32(f.slotWord(keyHash), n)
}

func keyIndexEntryCRC(n uint32, b []byte) uint32 {
	return crc32.Update(n, keyIndexCRCTable, b[:28])
}

// entryAt decodes entry n (1-based); ok is false when n is out of range or
// the entry fails its checks.
func (f *keyIndexFile) entryAt(n uint32) (keyIndexEntry, bool) {
	if n < 1 || n > f.capacity {
		return keyIndexEntry{}, false
	}
	off := f.entryOffset(n)
	b := f.data[off : off+keyIndexEntrySize]
	e := keyIndexEntry{
		keyHash:          binary.LittleEndian.Uint64(b),
		phyOffset:        int64(binary.LittleEndian.Uint64(b[8:])),
		storeTimestampMs: int64(binary.LittleEndian.Uint64(b[16:])),
		prevEntry:        binary.LittleEndian.Uint32(b[24:]),
	}
	ok := e.keyHash != 0 && e.phyOffset >= 0 && e.prevEntry < n &&
		binary.LittleEndian.Uint32(b[28:]) == keyIndexEntryCRC(n, b)
	return e, ok
}

// appendEntry writes entry count+1 in full, then publishes it through its
// slot and the count (writer only).
func (f *keyIndexFile) appendEntry(keyHash uint64, phyOffset, storeTimestampMs int64) {
	n := f.count.Load() + 1
	f.writeEntry(n, keyHash, phyOffset, storeTimestampMs)
	f.noteBounds(n, phyOffset, storeTimestampMs)
	f.storeSlot(keyHash, n)
	f.count.Store(n)
}

// appendEntries appends one entry per key, which must fit (writer only).
// The slots are read together first: the reads do not depend on each
// other, so their cache and TLB misses overlap instead of queueing behind
// each entry's atomic slot store. Each entry is then written in full and
// published through its slot; the bounds and the count once at the end.
func (f *keyIndexFile) appendEntries(keys []keyIndexKey) {
	var touched uint32
	for _, k := range keys {
		touched |= f.loadSlot(k.hash)
	}
	_ = touched
	first := f.count.Load() + 1
	n := first - 1
	lo, hi := keys[0].storeTimestampMs, keys[0].storeTimestampMs
	for _, k := range keys {
		n++
		f.writeEntry(n, k.hash, k.phyOffset, k.storeTimestampMs)
		f.storeSlot(k.hash, n)
		lo, hi = min(lo, k.storeTimestampMs), max(hi, k.storeTimestampMs)
	}
	if first == 1 {
		f.beginPhy.Store(keys[0].phyOffset)
		f.beginTsMs.Store(lo)
		f.endTsMs.Store(hi)
	}
	if lo < f.beginTsMs.Load() {
		f.beginTsMs.Store(lo)
	}
	if hi > f.endTsMs.Load() {
		f.endTsMs.Store(hi)
	}
	f.endPhy.Store(keys[len(keys)-1].phyOffset)
	f.count.Store(n)
}

// writeEntry writes entry n, chained to its slot's current entry.
func (f *keyIndexFile) writeEntry(n uint32, keyHash uint64, phyOffset, storeTimestampMs int64) {
	off := f.entryOffset(n)
	b := f.data[off : off+keyIndexEntrySize]
	binary.LittleEndian.PutUint64(b, keyHash)
	binary.LittleEndian.PutUint64(b[8:], uint64(phyOffset))
	binary.LittleEndian.PutUint64(b[16:], uint64(storeTimestampMs))
	binary.LittleEndian.PutUint32(b[24:], f.loadSlot(keyHash))
	binary.LittleEndian.PutUint32(b[28:], keyIndexEntryCRC(n, b))
}

// noteBounds widens the file's time and offset bounds to cover entry n.
func (f *keyIndexFile) noteBounds(n uint32, phyOffset, storeTimestampMs int64) {
	if n == 1 {
		f.beginPhy.Store(phyOffset)
		f.beginTsMs.Store(storeTimestampMs)
		f.endTsMs.Store(storeTimestampMs)
	}
	if storeTimestampMs < f.beginTsMs.Load() {
		f.beginTsMs.Store(storeTimestampMs)
	}
	if storeTimestampMs > f.endTsMs.Load() {
		f.endTsMs.Store(storeTimestampMs)
	}
	f.endPhy.Store(phyOffset)
}

func (f *keyIndexFile) full() bool { return f.count.Load() >= f.capacity }

// encodeHeader writes the header for the current state and count into
// the mapping.
func (f *keyIndexFile) encodeHeader() { f.encodeHeaderFor(f.count.Load(), f.endPhy.Load()) }

// encodeHeaderFor writes a header claiming count entries, the last at
// endPhy; the time bounds stay those of the current entries (a bound may
// be wider than the entries it covers).
func (f *keyIndexFile) encodeHeaderFor(count uint32, endPhy int64) {
	h := f.data[:keyIndexHeaderSize]
	clear(h)
	copy(h, keyIndexMagic[:])
	binary.LittleEndian.PutUint16(h[4:], keyIndexVersion)
	binary.LittleEndian.PutUint16(h[6:], f.state)
	binary.LittleEndian.PutUint32(h[8:], f.slotCount)
	binary.LittleEndian.PutUint32(h[12:], f.capacity)
	binary.LittleEndian.PutUint32(h[16:], count)
	if count > 0 {
		binary.LittleEndian.PutUint64(h[24:], uint64(f.beginTsMs.Load()))
		binary.LittleEndian.PutUint64(h[32:], uint64(f.endTsMs.Load()))
		binary.LittleEndian.PutUint64(h[40:], uint64(f.beginPhy.Load()))
		binary.LittleEndian.PutUint64(h[48:], uint64(endPhy))
	}
	binary.LittleEndian.PutUint32(h[60:], crc32.Checksum(h[:60], keyIndexCRCTable))
}

func (f *keyIndexFile) syncHeader() error {
	f.encodeHeader()
	return f.syncEncodedHeader()
}

func (f *keyIndexFile) syncEncodedHeader() error {
	if err := f.mapping.Sync(0, keyIndexHeaderSize); err != nil {
		return fmt.Errorf("persist: key index: sync header of %s: %w: %w", filepath.Base(f.path), ErrSyncFailed, err)
	}
	return nil
}

func (f *keyIndexFile) close() error {
	err := f.mapping.Unmap()
	if cerr := f.file.Close(); err == nil {
		err = cerr
	}
	return err
}

func closeKeyIndexFiles(files []*keyIndexFile) error {
	var first error
	for _, f := range files {
		if err := f.close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func lastPhyOf(files []*keyIndexFile) int64 {
	for i := len(files) - 1; i >= 0; i-- {
		if files[i].count.Load() > 0 {
			return files[i].endPhy.Load()
		}
	}
	return -1
}

// createFile makes, preallocates and maps a new empty file. Space is
// reserved before the mapping exists, so a full disk surfaces here as
// ErrDiskFull.
func (x *keyIndex) createFile() (*keyIndexFile, error) {
	seq := x.nextSeq
	name := keyIndexFileName(seq)
	path := filepath.Join(x.dir, name)
	slots, capacity := uint32(x.opts.SlotsPerFile), uint32(x.opts.EntriesPerFile)
	if err := haveRoom(x.fsys, x.dir, keyIndexFileSize(slots, capacity)); err != nil {
		return nil, fmt.Errorf("persist: key index: new file %s: %w", name, err)
	}
	file, err := x.fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) { // left behind by a failed removal
		if err = x.fsys.Remove(path); err == nil {
			file, err = x.fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("persist: key index: create %s: %w", name, err)
	}
	if err := file.Allocate(keyIndexFileSize(slots, capacity)); err != nil {
		file.Close()
		x.fsys.Remove(path)
		return nil, fmt.Errorf("persist: key index: new file %s: %w", name, err)
	}
	f, err := mapKeyIndexFile(file, path, seq, slots, capacity)
	if err != nil {
		x.fsys.Remove(path)
		return nil, err
	}
	f.state = keyIndexStateOpen
	err = f.syncHeader()
	if err == nil {
		if err = x.fsys.SyncDir(x.dir); err != nil {
			err = fmt.Errorf("persist: key index: sync dir for %s: %w", name, err)
		}
	}
	if err != nil {
		f.close()
		x.fsys.Remove(path)
		return nil, err
	}
	x.nextSeq = seq + 1
	return f, nil
}

// add indexes one key of the record at phyOffset. Calls come from one
// writer in non-decreasing phyOffset order; several keys may share a
// phyOffset. A phyOffset below the last one indexed is skipped, and so is
// a key already indexed at the last phyOffset (idempotent re-dispatch).
func (x *keyIndex) add(topic, key string, phyOffset int64, storeTimestampMs int64) error {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	if x.closed {
		return fmt.Errorf("persist: key index: add: %w", ErrClosed)
	}
	if phyOffset < 0 {
		return fmt.Errorf("persist: key index: add at negative phyOffset %d: %w", phyOffset, ErrOffsetOutOfRange)
	}
	last := x.lastPhy.Load()
	if phyOffset < last {
		return nil
	}
	keyHash := keyIndexHash(topic, key)
	if phyOffset == last && x.lastRecordHasKeyLocked(keyHash, phyOffset) {
		return nil
	}
	f, err := x.writableFileLocked()
	if err != nil {
		return err
	}
	f.appendEntry(keyHash, phyOffset, storeTimestampMs)
	x.lastPhy.Store(phyOffset)
	return nil
}

// writableFileLocked returns the newest file if it has room, else a new one.
func (x *keyIndex) writableFileLocked() (*keyIndexFile, error) {
	files := x.files.Load().files
	if n := len(files); n > 0 && !files[n-1].full() {
		return files[n-1], nil
	}
	f, err := x.createFile()
	if err != nil {
		return nil, err
	}
	x.files.Store(&keyIndexFileList{files: append(files[:len(files):len(files)], f)})
	return f, nil
}

// keyIndexKey is one key of a record, hashed, for addBatch.
type keyIndexKey struct {
	hash             uint64
	phyOffset        int64
	storeTimestampMs int64
}

// addBatch adds keys given in non-decreasing phyOffset order, under the
// same rules as add: offsets below the last one indexed are skipped, and
// so is a key already indexed at its offset. It publishes the new entries'
// file count, bounds and lastPhy once per file rather than once per entry.
// keys is reordered in place. On an error some keys may have been added;
// calling again with the same keys adds the rest.
func (x *keyIndex) addBatch(keys []keyIndexKey) error {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	if x.closed {
		return fmt.Errorf("persist: key index: add: %w", ErrClosed)
	}
	keys, err := x.newKeysLocked(keys)
	for err == nil && len(keys) > 0 {
		var f *keyIndexFile
		if f, err = x.writableFileLocked(); err != nil {
			break
		}
		n := min(len(keys), int(f.capacity-f.count.Load()))
		f.appendEntries(keys[:n])
		x.lastPhy.Store(keys[n-1].phyOffset)
		keys = keys[n:]
	}
	return err
}

// newKeysLocked compacts keys to those add would not skip.
func (x *keyIndex) newKeysLocked(keys []keyIndexKey) ([]keyIndexKey, error) {
	last := x.lastPhy.Load()
	out := keys[:0]
	record := 0 // where the keys of out's last offset start
	for _, k := range keys {
		if k.phyOffset < 0 {
			return out, fmt.Errorf("persist: key index: add at negative phyOffset %d: %w", k.phyOffset, ErrOffsetOutOfRange)
		}
		if k.phyOffset < last || (len(out) > 0 && k.phyOffset < out[len(out)-1].phyOffset) {
			continue
		}
		if len(out) == 0 || out[len(out)-1].phyOffset != k.phyOffset {
			record = len(out)
		}
		if (k.phyOffset == last && x.lastRecordHasKeyLocked(k.hash, last)) || hasKeyHash(out[record:], k.hash) {
			continue
		}
		out = append(out, k)
	}
	return out, nil
}

func hasKeyHash(keys []keyIndexKey, hash uint64) bool {
	for _, k := range keys {
		if k.hash == hash {
			return true
		}
	}
	return false
}

// hasLast reports whether keyHash is indexed at phyOffset and phyOffset
// is the last offset indexed.
func (x *keyIndex) hasLast(keyHash uint64, phyOffset int64) bool {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	return !x.closed && phyOffset == x.lastPhy.Load() && x.lastRecordHasKeyLocked(keyHash, phyOffset)
}

// lastRecordHasKeyLocked reports whether keyHash is already indexed at
// phyOffset, the last offset indexed, walking back over that record's keys.
func (x *keyIndex) lastRecordHasKeyLocked(keyHash uint64, phyOffset int64) bool {
	files := x.files.Load().files
	for i := len(files) - 1; i >= 0; i-- {
		f := files[i]
		for n := f.count.Load(); n >= 1; n-- {
			e, ok := f.entryAt(n)
			if !ok || e.phyOffset != phyOffset {
				return false
			}
			if e.keyHash == keyHash {
				return true
			}
		}
	}
	return false
}

// unwrittenBytes is the preallocated entry space no entry uses yet.
func (x *keyIndex) unwrittenBytes() int64 {
	var n int64
	for _, f := range x.files.Load().files {
		n += int64(f.capacity-min(f.capacity, f.count.Load())) * keyIndexEntrySize
	}
	return n
}

// indexedEnd is one past the largest phyOffset added (0 when empty).
func (x *keyIndex) indexedEnd() int64 { return x.lastPhy.Load() + 1 }

// query returns up to maxResults commit-log offsets whose key hash matches
// topic+"#"+key and whose store time is within [beginMs, endMs], newest
// first. Hash collisions are possible: callers verify each hit.
func (x *keyIndex) query(topic, key string, beginMs, endMs int64, maxResults int) ([]int64, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.isClosed.Load() {
		return nil, fmt.Errorf("persist: key index: query: %w", ErrClosed)
	}
	if maxResults <= 0 || beginMs > endMs {
		return nil, nil
	}
	keyHash := keyIndexHash(topic, key)
	files := x.files.Load().files
	var out []int64
	for i := len(files) - 1; i >= 0 && len(out) < maxResults; i-- {
		out = files[i].collect(keyHash, beginMs, endMs, maxResults, out)
	}
	return out, nil
}

// collect appends to out the offsets of the file's entries for keyHash in
// the time range, newest first, until out holds maxResults.
func (f *keyIndexFile) collect(keyHash uint64, beginMs, endMs int64, maxResults int, out []int64) []int64 {
	if f.count.Load() == 0 || f.endTsMs.Load() < beginMs || f.beginTsMs.Load() > endMs {
		return out
	}
	// Store times are not assumed monotonic (clocks step back), so the
	// walk does not stop at the first entry older than beginMs.
	for n := f.loadSlot(keyHash); n != 0 && len(out) < maxResults; {
		e, ok := f.entryAt(n)
		if !ok {
			break
		}
		if e.keyHash == keyHash && e.storeTimestampMs >= beginMs && e.storeTimestampMs <= endMs {
			out = append(out, e.phyOffset)
		}
		n = e.prevEntry
	}
	return out
}

// flush makes every entry added so far durable, and seals full files.
func (x *keyIndex) flush() error {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	if x.closed {
		return fmt.Errorf("persist: key index: flush: %w", ErrClosed)
	}
	return x.flushLocked()
}

func (x *keyIndex) flushLocked() error {
	for _, f := range x.files.Load().files {
		if err := f.flush(); err != nil {
			return err
		}
	}
	return nil
}

// flush syncs header, slots and entries up to the count, then seals the
// file once it is full. The header's count is advisory until sealed.
func (f *keyIndexFile) flush() error {
	count := f.count.Load()
	if count > f.syncedCount {
		if f.state == keyIndexStateOpen {
			f.encodeHeader()
		}
		if err := f.mapping.Sync(0, int(f.entryOffset(count+1))); err != nil {
			return fmt.Errorf("persist: key index: flush %s: %w: %w", filepath.Base(f.path), ErrSyncFailed, err)
		}
		f.syncedCount = count
	}
	if count == f.capacity && f.state != keyIndexStateSealed {
		f.state = keyIndexStateSealed
		if err := f.syncHeader(); err != nil {
			f.state = keyIndexStateOpen
			return err
		}
	}
	return nil
}

// truncateFrom drops every entry with phyOffset >= phyOffset (the commit
// log was cut there). Recovery only: it blocks queries while it runs.
func (x *keyIndex) truncateFrom(phyOffset int64) error {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	if x.closed {
		return fmt.Errorf("persist: key index: truncate: %w", ErrClosed)
	}
	if phyOffset > x.lastPhy.Load() {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	files := x.files.Load().files
	keep := len(files)
	for keep > 0 && (files[keep-1].count.Load() == 0 || files[keep-1].beginPhy.Load() >= phyOffset) {
		keep--
	}
	x.files.Store(&keyIndexFileList{files: files[:keep:keep]})
	err := x.dropFiles(files[keep:])
	if keep > 0 {
		if terr := files[keep-1].truncateFrom(phyOffset); err == nil {
			err = terr
		}
	}
	x.lastPhy.Store(lastPhyOf(x.files.Load().files))
	return err
}

// dropFiles unmaps and removes files already unpublished (mu held or no
// reader can reach them).
func (x *keyIndex) dropFiles(files []*keyIndexFile) error {
	if len(files) == 0 {
		return nil
	}
	var first error
	for i := len(files) - 1; i >= 0; i-- {
		files[i].close()
		if err := x.fsys.Remove(files[i].path); err != nil && !errors.Is(err, fs.ErrNotExist) && first == nil {
			first = fmt.Errorf("persist: key index: remove %s: %w", filepath.Base(files[i].path), err)
		}
	}
	if err := x.fsys.SyncDir(x.dir); err != nil && first == nil {
		first = fmt.Errorf("persist: key index: sync dir: %w", err)
	}
	return first
}

// truncateFrom drops the file's entries with phyOffset >= cut, restoring
// each slot to the entry before, and syncs the result.
func (f *keyIndexFile) truncateFrom(cut int64) error {
	count := f.count.Load()
	lo, hi := uint32(1), count+1 // first entry with phyOffset >= cut
	for lo < hi {
		mid := lo + (hi-lo)/2
		if e, _ := f.entryAt(mid); e.phyOffset >= cut {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo > count {
		return nil
	}
	keptEnd := int64(-1)
	if lo > 1 {
		prev, _ := f.entryAt(lo - 1)
		keptEnd = prev.phyOffset
	}
	// The header drops the cut entries before anything else changes, so
	// whatever a crash leaves behind, it never claims them.
	f.state = keyIndexStateOpen
	f.encodeHeaderFor(lo-1, keptEnd)
	if err := f.syncEncodedHeader(); err != nil {
		return err
	}
	for n := count; n >= lo; n-- {
		e, _ := f.entryAt(n)
		if f.loadSlot(e.keyHash) == n {
			f.storeSlot(e.keyHash, e.prevEntry)
		}
	}
	clear(f.data[f.entryOffset(lo):f.entryOffset(count+1)])
	f.count.Store(lo - 1)
	if lo > 1 {
		f.endPhy.Store(keptEnd)
	}
	f.syncedCount = min(f.syncedCount, lo-1)
	if err := f.mapping.Sync(0, len(f.data)); err != nil {
		return fmt.Errorf("persist: key index: sync truncated %s: %w: %w", filepath.Base(f.path), ErrSyncFailed, err)
	}
	f.syncedCount = lo - 1
	return nil
}

// deleteBelow deletes the oldest files whose entries all point below
// phyMin, stopping at the first that does not. The newest file is kept: it
// carries indexedEnd and takes the next adds.
func (x *keyIndex) deleteBelow(phyMin int64) (int, error) {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	if x.closed {
		return 0, fmt.Errorf("persist: key index: delete: %w", ErrClosed)
	}
	files := x.files.Load().files
	drop := 0
	for drop < len(files)-1 && files[drop].endPhy.Load() < phyMin {
		drop++
	}
	if drop == 0 {
		return 0, nil
	}
	x.mu.Lock()
	x.files.Store(&keyIndexFileList{files: append([]*keyIndexFile(nil), files[drop:]...)})
	x.mu.Unlock()
	return drop, x.dropFiles(files[:drop])
}

// close flushes, marks the newest file clean and unmaps everything.
func (x *keyIndex) close() error {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	if x.closed {
		return nil
	}
	x.closed = true
	err := x.flushLocked()
	files := x.files.Load().files
	if n := len(files); err == nil && n > 0 && files[n-1].state == keyIndexStateOpen {
		files[n-1].state = keyIndexStateClean
		if err = files[n-1].syncHeader(); err != nil {
			files[n-1].state = keyIndexStateOpen
		}
	}
	x.mu.Lock()
	x.isClosed.Store(true)
	x.files.Store(&keyIndexFileList{})
	x.mu.Unlock()
	if cerr := closeKeyIndexFiles(files); err == nil {
		err = cerr
	}
	return err
}
