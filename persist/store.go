package persist

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Store. Zero values take the defaults.
type Options struct {
	Dir string
	FS  FS // default OSFS{}

	SegmentSize      int64 // commit-log segment bytes; default 1 GiB
	CQEntriesPerFile int64 // consume-queue entries per file; default 300,000
	StoreHost        Host  // the broker's advertised address, stamped in every record

	// QueueFlushInterval is how often consume queues are flushed and the
	// checkpoint advanced; default 1 s. The key index is filled in the
	// background (see indexer.go), not by Publish.
	QueueFlushInterval time.Duration
	// IndexFlushInterval is how often the key index is flushed; default
	// 10 s. Its hash slots are random writes all over a 16 MiB table, so
	// every flush writes most of the table back and every later slot write
	// faults again: a rarer flush cuts both, at the price of a checkpoint
	// (and so a crash recovery re-dispatch) up to this far behind.
	IndexFlushInterval time.Duration
	// RetentionAge deletes whole commit-log segments whose newest record is
	// older than it; default 72 h. Negative disables age-based deletion.
	RetentionAge time.Duration
	// DiskWarnRatio: while the file system is fuller than this fraction,
	// retention logs a warning once a minute; default 0.75. It deletes
	// nothing.
	DiskWarnRatio float64
	// DiskEmergencyRatio opts into deleting segments younger than
	// RetentionAge, oldest first, while the file system is fuller than
	// this fraction (reservations not counted): acknowledged messages that
	// no consumer has read yet are lost. 0, the default, never does;
	// without it a full disk fails sends and keeps every message.
	DiskEmergencyRatio float64
	// RetentionInterval is how often retention runs; default 10 s.
	RetentionInterval time.Duration
	// ReadGrace keeps a deleted segment mapped this long for readers still
	// holding slices of it; default 2 min.
	ReadGrace time.Duration

	// MappedWrites copies small appends (up to 16 KiB per Write) into the
	// log through its mapping instead of writing them with pwrite. A copy
	// is cheaper than a syscall for one small record, but every sync then
	// takes write faults again and on ext4 runs about twice as long: right
	// for async flush (rare syncs, appends of one message), wrong for sync
	// flush (a sync per batch).
	MappedWrites bool

	IndexSlotsPerFile   int // key index slots per file; default 4 Mi
	IndexEntriesPerFile int // key index entries per file; default 16 Mi

	// RecoverTagsCode recomputes the consume-queue tag code of a record
	// during recovery when the writer overrode it (Message.HasTagsCode);
	// ok=false keeps the TAGS hash.
	RecoverTagsCode func(rv *RecordView) (code int64, ok bool)

	Logger *slog.Logger
	Now    func() time.Time

	// noBackgroundIndexer leaves indexing to QueryByKey and Close, so a
	// test can hold the key index behind the log.
	noBackgroundIndexer bool
}

func (o *Options) setDefaults() {
	if o.FS == nil {
		o.FS = OSFS{}
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = 1 << 30
	}
	if o.CQEntriesPerFile == 0 {
		o.CQEntriesPerFile = 300_000
	}
	if o.IndexFlushInterval == 0 {
		o.IndexFlushInterval = 10 * time.Second
	}
	if o.QueueFlushInterval == 0 {
		o.QueueFlushInterval = time.Second
	}
	if o.RetentionAge == 0 {
		o.RetentionAge = 72 * time.Hour
	}
	if o.DiskWarnRatio == 0 {
		o.DiskWarnRatio = 0.75
	}
	if o.RetentionInterval == 0 {
		o.RetentionInterval = 10 * time.Second
	}
	if o.ReadGrace == 0 {
		o.ReadGrace = 2 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.StoreHost.IP) == 0 {
		o.StoreHost = Host{IP: []byte{127, 0, 0, 1}, Port: 10911}
	}
}

// Validate reports the first invalid option.
func (o *Options) Validate() error {
	switch {
	case o.Dir == "":
		return errors.New("persist: Options.Dir is empty")
	case o.SegmentSize < 4096:
		return fmt.Errorf("persist: Options.SegmentSize %d below 4096", o.SegmentSize)
	case o.CQEntriesPerFile < 1:
		return fmt.Errorf("persist: Options.CQEntriesPerFile %d below 1", o.CQEntriesPerFile)
	case o.DiskWarnRatio <= 0 || o.DiskWarnRatio > 1:
		return fmt.Errorf("persist: Options.DiskWarnRatio %v outside (0,1]", o.DiskWarnRatio)
	case o.DiskEmergencyRatio < 0 || o.DiskEmergencyRatio >= 1:
		return fmt.Errorf("persist: Options.DiskEmergencyRatio %v outside [0,1)", o.DiskEmergencyRatio)
	case len(o.StoreHost.IP) != 4 && len(o.StoreHost.IP) != 16:
		return fmt.Errorf("persist: Options.StoreHost IP of %d bytes", len(o.StoreHost.IP))
	}
	return nil
}

type queueKey struct {
	topic string
	id    int32
}

type queueMap = map[queueKey]*ConsumeQueue

// nextOffset is the writer's next queue offset for a queue, remembered
// with the queue it belongs to: a deleted and re-created topic gets a new
// ConsumeQueue, which invalidates the cached offset.
type nextOffset struct {
	queue  *ConsumeQueue
	offset int64
}

// pendingRecord is a record appended but not yet dispatched.
type pendingRecord struct {
	queue       *ConsumeQueue
	queueOffset int64
	phys        int64
	size        int32
	tagsCode    int64
}

// AppendResult says where a message was stored.
type AppendResult struct {
	PhysicalOffset int64
	Size           int32
	QueueOffset    int64
	StoreTimestamp int64
}

// Dispatched describes one record made visible by Publish.
type Dispatched struct {
	Topic       string
	QueueID     int32
	QueueOffset int64
	PhysOffset  int64
	Size        int32
	TagsCode    int64
}

// Store is the storage engine: the commit log, the consume queues, the key
// index and the checkpoint. One goroutine, the writer, calls Append,
// Sync, Publish and Rollback; every other method is safe from any goroutine.
type Store struct {
	opts  Options
	log   *slog.Logger
	fs    FS
	cl    *commitLog
	index *keyIndex

	queues   atomic.Pointer[queueMap]
	queuesMu sync.Mutex

	durableEnd atomic.Int64
	dispatched atomic.Int64
	written    atomic.Int64 // end of what the file holds; ReadRaw's bound (replica.go)
	closed     atomic.Bool
	ckpt       checkpointFile
	ckptMu     sync.Mutex
	// indexFlushed is the indexed offset as of the last key index flush,
	// at indexFlushedAt: the checkpoint never passes it. Under ckptMu.
	indexFlushed   int64
	indexFlushedAt time.Time

	// The key indexer (indexer.go). indexMu serialises indexing passes
	// and retention's segment deletions.
	indexMu       sync.Mutex
	indexPos      int64         // indexMu: every record below it is indexed
	indexStopped  bool          // indexMu: Close finished indexing
	indexed       atomic.Int64  // indexPos, for lock-free readers
	indexKeys     []keyIndexKey // indexMu: the keys of a chunk
	indexWake     chan struct{}
	indexLoggedAt atomic.Int64

	diskWarnedAt    atomic.Int64 // retention's last disk warning, Unix ns
	corruptLoggedAt atomic.Int64 // last log of a damaged record read, Unix ns
	// scrubMu is held shared by Verify while it reads the log and taken
	// by Close before it unmaps anything.
	scrubMu      sync.RWMutex
	diskFullNeed atomic.Int64 // bytes of the file an append could not create; 0 once that much is free

	// Owned by the writer.
	next       map[queueKey]nextOffset
	pending    []pendingRecord
	batchStart int64
	out        []Dispatched

	stop       chan struct{}
	bg         sync.WaitGroup
	recovery   RecoveryReport
	scanDamage scanDamage // recovery only
	stats      storeStats
}

type storeStats struct {
	appends, appendBytes, syncs, syncNanos, rollbacks, diskFull atomic.Int64
	deletedSegments, indexErrors, indexSkipped                  atomic.Int64
	emergencyDeletes, corruptRecords, verifyDamaged             atomic.Int64
}

// Open opens (creating if needed) the store in opts.Dir and recovers it.
func Open(opts Options) (*Store, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Store{
		opts:      opts,
		log:       opts.Logger,
		fs:        opts.FS,
		next:      map[queueKey]nextOffset{},
		stop:      make(chan struct{}),
		indexWake: make(chan struct{}, 1),
	}
	empty := queueMap{}
	s.queues.Store(&empty)
	s.cl = newCommitLog(s.fs, filepath.Join(opts.Dir, "commitlog"), opts.SegmentSize, opts.ReadGrace)
	s.cl.mappedWrites = opts.MappedWrites
	s.ckpt = checkpointFile{fs: s.fs, path: filepath.Join(opts.Dir, "checkpoint")}
	if err := s.fs.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("persist: data dir: %w", err)
	}
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, err
	}
	s.bg.Add(2)
	go s.flushLoop()
	go s.retentionLoop()
	if !opts.noBackgroundIndexer {
		s.bg.Add(1)
		go s.indexLoop()
		s.wakeIndexer() // recovery may have left records to index
	}
	return s, nil
}

// Recovery reports what opening the store found and repaired.
func (s *Store) Recovery() RecoveryReport { return s.recovery }

func (s *Store) queueDir() string { return filepath.Join(s.opts.Dir, "consumequeue") }

// ConsumeQueue returns the queue of (topic, queueID), or nil.
func (s *Store) ConsumeQueue(topic string, queueID int32) *ConsumeQueue {
	return (*s.queues.Load())[queueKey{topic, queueID}]
}

// Queues returns every consume queue.
func (s *Store) Queues() []*ConsumeQueue {
	m := *s.queues.Load()
	out := make([]*ConsumeQueue, 0, len(m))
	for _, q := range m {
		out = append(out, q)
	}
	return out
}

func (s *Store) queueFor(topic string, queueID int32) *ConsumeQueue {
	if q := s.ConsumeQueue(topic, queueID); q != nil {
		return q
	}
	s.queuesMu.Lock()
	defer s.queuesMu.Unlock()
	old := *s.queues.Load()
	if q := old[queueKey{topic, queueID}]; q != nil {
		return q
	}
	q := newConsumeQueue(s.fs, s.queueDir(), topic, queueID, s.opts.CQEntriesPerFile, s.cl.retire)
	m := make(queueMap, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[queueKey{topic, queueID}] = q
	s.queues.Store(&m)
	return q
}

// Append stores m at the tail of the commit log (writer only). The record
// is not visible to readers until Publish.
func (s *Store) Append(m *Message, storeTS int64) (AppendResult, error) {
	if s.closed.Load() {
		return AppendResult{}, ErrClosed
	}
	if err := ValidateMessage(m); err != nil {
		return AppendResult{}, err
	}
	if err := checkQueueName(m.Topic); err != nil {
		return AppendResult{}, err
	}
	if len(s.pending) == 0 {
		s.batchStart = s.cl.writePos
	}
	key := queueKey{m.Topic, m.QueueID}
	q := s.ConsumeQueue(m.Topic, m.QueueID)
	if q == nil {
		q = s.queueFor(m.Topic, m.QueueID)
	}
	qoff := q.MaxOffset()
	if n, ok := s.next[key]; ok && n.queue == q {
		qoff = n.offset
	}
	if !q.mapped(qoff) {
		// The queue's next file is made here, where a full disk fails the
		// append, rather than in Publish, after the record is in the log.
		if err := q.ensureMapped(qoff); err != nil {
			return AppendResult{}, s.noteAppendFailure(err, q.segSize)
		}
	}
	size := RecordSize(m, s.opts.StoreHost)
	buf, phys, err := s.cl.reserve(size)
	if err != nil {
		return AppendResult{}, s.noteAppendFailure(err, s.opts.SegmentSize)
	}
	encodeRecord(buf, m, s.opts.StoreHost, qoff, phys, storeTS)
	s.next[key] = nextOffset{queue: q, offset: qoff + 1}
	tags := m.TagsCode
	if !m.HasTagsCode {
		tags = tagsCodeOf(m.Properties)
	}
	s.pending = append(s.pending, pendingRecord{queue: q, queueOffset: qoff, phys: phys, size: int32(size), tagsCode: tags})
	s.stats.appends.Add(1)
	s.stats.appendBytes.Add(int64(size))
	return AppendResult{PhysicalOffset: phys, Size: int32(size), QueueOffset: qoff, StoreTimestamp: storeTS}, nil
}

// noteAppendFailure counts a disk-full append and remembers how much
// space the file it could not create needed (DiskFull).
func (s *Store) noteAppendFailure(err error, need int64) error {
	if errors.Is(err, ErrDiskFull) {
		s.stats.diskFull.Add(1)
		s.diskFullNeed.Store(need)
	}
	return err
}

// DiskFull reports, with an error wrapping ErrDiskFull, that appends are
// failing for lack of space: the last append could not create the file it
// needed and the file system still has less free space than that file.
// Once that much is free again it reports nil (and forgets the failure):
// the next append will try again.
func (s *Store) DiskFull() error {
	need := s.diskFullNeed.Load()
	if need == 0 {
		return nil
	}
	_, free, err := s.fs.Usage(s.opts.Dir)
	if err == nil && free >= uint64(need) {
		s.diskFullNeed.CompareAndSwap(need, 0)
		return nil
	}
	return fmt.Errorf("persist: disk full: %d bytes free, the next file needs %d; sends are refused until space is freed: %w",
		free, need, ErrDiskFull)
}

// FitsInPlace reports whether appending msgs and publishing them would
// write only into files that are already mapped: every queue exists, the
// consume-queue entries land in mapped files, and the records fit in the
// current commit-log segment. A writer running on a goroutine that must
// not wait for file creation appends only what fits (writer only).
func (s *Store) FitsInPlace(msgs []Message) bool {
	if s.closed.Load() {
		return false
	}
	var size int64
	for i := range msgs {
		m := &msgs[i]
		q := s.ConsumeQueue(m.Topic, m.QueueID)
		if q == nil {
			return false
		}
		next := q.MaxOffset()
		if n, ok := s.next[queueKey{m.Topic, m.QueueID}]; ok && n.queue == q {
			next = n.offset
		}
		// The entries of this call land in next..next+len(msgs)-1 at most;
		// files are contiguous, so both ends mapped means all are.
		if !q.mapped(next) || !q.mapped(next+int64(len(msgs))-1) {
			return false
		}
		size += int64(RecordSize(m, s.opts.StoreHost))
	}
	seg := s.cl.segs.Load().find(s.cl.writePos)
	return seg != nil && s.cl.writePos+size+blankRecordSize <= seg.end()
}

func tagsCodeOf(props []byte) int64 {
	if tag, ok := propertyValue(props, "TAGS"); ok && len(tag) > 0 {
		return int64(JavaStringHashCode(string(tag)))
	}
	return 0
}

// Write hands the records appended since the last Write to the log file
// (writer only), one write per segment touched. Publish and Sync need it
// to have succeeded; on failure the caller must Rollback: the records are
// not in the file and must not be acknowledged.
func (s *Store) Write() error {
	err := s.cl.write()
	if err == nil {
		s.written.Store(s.cl.writePos)
	}
	return err
}

// Sync makes everything appended durable (writer only). On failure the
// caller must Rollback the unpublished records: they were never made
// durable and must not be acknowledged.
func (s *Store) Sync() error {
	if err := s.Write(); err != nil {
		return err
	}
	p := s.PrepareSync()
	err := p.Run()
	s.FinishSync(p, err)
	return err
}

// PendingSync is a sync split in three so that the slow middle, Run, can
// go on while the writer keeps appending: PrepareSync and FinishSync are
// writer-only and quick; Run may be called from any goroutine, once.
// Records appended after PrepareSync are not covered.
type PendingSync struct {
	store *Store
	r     syncRange
	start time.Time
}

// PrepareSync captures the unsynced part of the log (writer only), which
// Write must already have handed to the file.
func (s *Store) PrepareSync() PendingSync {
	return PendingSync{store: s, r: s.cl.prepareSync(), start: time.Now()}
}

// Bytes is how much the sync covers.
func (p PendingSync) Bytes() int64 { return p.r.to - p.r.from }

// Run makes the captured range durable.
func (p PendingSync) Run() error {
	if p.r.to <= p.r.from {
		return nil
	}
	return p.r.run()
}

// FinishSync records the outcome of Run (writer only): on success the
// durable offset advances to the end of the range, unless a Rollback cut
// into it meanwhile.
func (s *Store) FinishSync(p PendingSync, err error) {
	s.cl.finishSync(p.r, err)
	s.stats.syncs.Add(1)
	s.stats.syncNanos.Add(int64(time.Since(p.start)))
	if err == nil {
		s.durableEnd.Store(s.cl.syncedPos)
	}
}

// Rollback discards the records appended since the last Publish (writer
// only): their bytes are zeroed and their queue offsets reused.
func (s *Store) Rollback() error {
	if len(s.pending) == 0 {
		return nil
	}
	for i := len(s.pending) - 1; i >= 0; i-- {
		p := s.pending[i]
		s.next[queueKey{p.queue.topic, p.queue.queueID}] = nextOffset{queue: p.queue, offset: p.queueOffset}
	}
	s.pending = s.pending[:0]
	s.stats.rollbacks.Add(1)
	err := s.cl.truncate(s.batchStart, s.cl.writePos)
	s.written.Store(s.cl.writePos)
	return err
}

// keepBatchEntries bounds the per-batch buffers the writer keeps between
// batches; a larger burst allocates its own and lets it go.
const keepBatchEntries = 1 << 14

// Publish makes the appended records visible (writer only): the log's
// readable end advances and each record gets its consume-queue entry. Key
// indexing is left to the background indexer, which Publish only nudges.
// The returned slice is valid until the next call.
func (s *Store) Publish() ([]Dispatched, error) {
	if cap(s.out) > keepBatchEntries && len(s.pending) <= keepBatchEntries {
		s.out = nil // a burst's buffer is not kept for ever
	}
	s.out = s.out[:0]
	if len(s.pending) == 0 {
		return s.out, nil
	}
	if err := s.Write(); err != nil { // callers Write first; this only guards
		return s.out, err
	}
	s.cl.published.Store(s.cl.writePos)
	var firstErr error
	for _, p := range s.pending {
		if err := p.queue.put(p.queueOffset, CQEntry{CommitLogOffset: p.phys, Size: p.size, TagsCode: p.tagsCode}); err != nil && firstErr == nil {
			firstErr = err
		}
		s.out = append(s.out, Dispatched{Topic: p.queue.topic, QueueID: p.queue.queueID, QueueOffset: p.queueOffset,
			PhysOffset: p.phys, Size: p.size, TagsCode: p.tagsCode})
	}
	s.pending = s.pending[:0]
	if cap(s.pending) > keepBatchEntries {
		s.pending = nil
	}
	s.dispatched.Store(s.cl.writePos)
	s.wakeIndexer()
	return s.out, firstErr
}

// WritePosition is the offset the next record will be written at.
func (s *Store) WritePosition() int64 { return s.cl.writePos }

// MaxPhysicalOffset is the end of the readable commit log.
func (s *Store) MaxPhysicalOffset() int64 { return s.cl.published.Load() }

// MinPhysicalOffset is the first offset still stored.
func (s *Store) MinPhysicalOffset() int64 { return s.cl.minOffset() }

// DurableOffset is the end of the commit log known to be on disk.
func (s *Store) DurableOffset() int64 { return s.durableEnd.Load() }

// QueryByKey returns the records of topic whose KEYS contain key or whose
// UNIQ_KEY is key, stored within [beginMs, endMs], newest first, at most
// maxResults. Hash collisions are filtered out. It first indexes whatever
// the background indexer has not reached yet, so every record published
// before the call is found.
func (s *Store) QueryByKey(topic, key string, beginMs, endMs int64, maxResults int) ([]RecordView, error) {
	if err := s.catchUpIndex(s.cl.published.Load(), nil); err != nil {
		return nil, err
	}
	offs, err := s.index.query(topic, key, beginMs, endMs, maxResults*2+8)
	if err != nil {
		return nil, err
	}
	var out []RecordView
	for _, off := range offs {
		if len(out) >= maxResults {
			break
		}
		rv, err := s.RecordAt(off)
		if err != nil || string(rv.Topic()) != topic || !recordHasKey(rv.Properties(), key) {
			continue
		}
		out = append(out, rv)
	}
	return out, nil
}

func recordHasKey(props []byte, key string) bool {
	if v, ok := propertyValue(props, "UNIQ_KEY"); ok && string(v) == key {
		return true
	}
	keys, _ := propertyValue(props, "KEYS")
	for len(keys) > 0 {
		sp := indexByte(keys, ' ')
		k := keys
		if sp >= 0 {
			k, keys = keys[:sp], keys[sp+1:]
		} else {
			keys = nil
		}
		if string(k) == key {
			return true
		}
	}
	return false
}

// SearchOffsetByTime returns the queue offset of the first message stored
// at or after tsMs; MaxOffset when every message is older, MinOffset when
// every message is newer.
func (s *Store) SearchOffsetByTime(q *ConsumeQueue, tsMs int64) int64 {
	lo, hi := q.MinOffset(), q.MaxOffset()
	for lo < hi {
		mid := lo + (hi-lo)/2
		if s.storeTimeOf(q, mid) >= tsMs {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

func (s *Store) storeTimeOf(q *ConsumeQueue, off int64) int64 {
	e, ok := q.Entry(off)
	if !ok {
		return 0
	}
	raw, err := s.cl.read(e.CommitLogOffset, int(e.Size))
	if err != nil {
		return 0
	}
	rv, st, _ := parseRecord(raw, e.CommitLogOffset, false)
	if st != recordOK {
		return 0
	}
	return rv.StoreTimestamp()
}

// ErrUnsafeName: a topic that cannot name a consume-queue directory of its
// own: empty, ".", "..", or holding a path separator or NUL. The store never
// builds a path from one. The broker refuses such names at the edge; this
// is the store's own guard behind it.
var ErrUnsafeName = errors.New("persist: unsafe name")

// checkQueueName refuses a topic that, joined to the consume-queue root,
// would name the root itself, its parent, or a path below another
// directory.
func checkQueueName(topic string) error {
	if topic == "" || topic == "." || topic == ".." || strings.ContainsAny(topic, "/\\\x00") {
		return fmt.Errorf("%w: topic %.64q", ErrUnsafeName, topic)
	}
	return nil
}

// DeleteTopic removes the consume queues of topic. Its records stay in the
// commit log until retention removes their segments. A topic that is not
// a safe directory name is refused with ErrUnsafeName and nothing is
// touched.
func (s *Store) DeleteTopic(topic string) error {
	if err := checkQueueName(topic); err != nil {
		return err
	}
	s.queuesMu.Lock()
	old := *s.queues.Load()
	m := make(queueMap, len(old))
	var gone []*ConsumeQueue
	for k, v := range old {
		if k.topic == topic {
			gone = append(gone, v)
			continue
		}
		m[k] = v
	}
	s.queues.Store(&m)
	s.queuesMu.Unlock()
	for _, q := range gone {
		for _, seg := range q.segs.Load().segs {
			s.cl.retire.retire(seg, s.opts.Now())
		}
	}
	err := removeAll(s.fs, filepath.Join(s.queueDir(), topic))
	if err == nil {
		err = s.fs.SyncDir(s.queueDir())
	}
	return err
}

func removeAll(fsys FS, dir string) error {
	names, err := fsys.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := fsys.Remove(p); err != nil {
			if err := removeAll(fsys, p); err != nil {
				return err
			}
		}
	}
	return fsys.Remove(dir)
}

// FlushQueues makes consume queues and the key index durable, then
// advances the checkpoint to what is durable in the log, dispatched to the
// queues and indexed, whichever is lowest.
func (s *Store) FlushQueues() error { return s.flushQueues(true) }

// flushQueues flushes the consume queues, and the key index too when
// withIndex is set, then advances the checkpoint to what both cover.
func (s *Store) flushQueues(withIndex bool) error {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	upTo := min(s.dispatched.Load(), s.durableEnd.Load())
	queues := s.Queues()
	for _, q := range queues {
		if err := q.flush(); err != nil {
			return err
		}
	}
	if withIndex {
		// Everything below the indexed offset was added before it was
		// published, so the flush that follows covers it.
		indexed := s.indexed.Load()
		if err := s.index.flush(); err != nil {
			return err
		}
		s.indexFlushed = indexed
		s.indexFlushedAt = time.Now()
	}
	upTo = min(upTo, s.indexFlushed)
	return s.ckpt.write(checkpoint{dispatched: upTo, queueCount: int32(len(queues))})
}

func (s *Store) flushLoop() {
	defer s.bg.Done()
	t := time.NewTicker(s.opts.QueueFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.ckptMu.Lock()
			indexDue := time.Since(s.indexFlushedAt) >= s.opts.IndexFlushInterval
			s.ckptMu.Unlock()
			if err := s.flushQueues(indexDue); err != nil {
				s.log.Error("persist: flush consume queues", "err", err)
			}
		}
	}
}

// Stats is a snapshot of store counters. IndexedOffset trails MaxOffset
// by the key indexer's lag; IndexErrors counts failed indexing passes
// (retried) and IndexSkipped records left out of the key index (disk full,
// unreadable).
type Stats struct {
	Appends, AppendBytes, Syncs, Rollbacks, DiskFullErrors, DeletedSegments int64
	SyncTime                                                                time.Duration
	MinOffset, MaxOffset, DurableOffset, IndexedOffset                      int64
	IndexErrors, IndexSkipped                                               int64
	Queues                                                                  int
	// EmergencyDeletes counts segments deleted younger than RetentionAge
	// because the disk passed DiskEmergencyRatio.
	EmergencyDeletes int64
	// CorruptRecords counts reads refused because the record failed its
	// checks; VerifyDamaged the damaged ranges Verify reported.
	CorruptRecords, VerifyDamaged int64
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Appends: s.stats.appends.Load(), AppendBytes: s.stats.appendBytes.Load(),
		Syncs: s.stats.syncs.Load(), Rollbacks: s.stats.rollbacks.Load(),
		DiskFullErrors: s.stats.diskFull.Load(), DeletedSegments: s.stats.deletedSegments.Load(),
		SyncTime:  time.Duration(s.stats.syncNanos.Load()),
		MinOffset: s.MinPhysicalOffset(), MaxOffset: s.MaxPhysicalOffset(), DurableOffset: s.DurableOffset(),
		IndexedOffset: s.IndexedOffset(), IndexErrors: s.stats.indexErrors.Load(), IndexSkipped: s.stats.indexSkipped.Load(),
		Queues: len(*s.queues.Load()), EmergencyDeletes: s.stats.emergencyDeletes.Load(),
		CorruptRecords: s.stats.corruptRecords.Load(), VerifyDamaged: s.stats.verifyDamaged.Load(),
	}
}

// Close syncs everything, writes a clean checkpoint and releases the files.
// The writer must have stopped.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.stop)
	s.bg.Wait()
	err := s.Sync()
	if err == nil {
		_, err = s.Publish()
	}
	if err == nil {
		err = s.catchUpIndex(s.cl.published.Load(), nil)
	}
	s.stopIndexing()
	if err == nil {
		err = s.FlushQueues()
	}
	if err == nil {
		err = s.ckpt.write(checkpoint{dispatched: s.cl.writePos, queueCount: int32(len(*s.queues.Load())), clean: true})
	}
	if err == nil {
		err = s.fs.Remove(s.abortPath())
	}
	if err == nil {
		err = s.fs.SyncDir(s.opts.Dir)
	}
	s.scrubMu.Lock() // a Verify in progress finishes its chunk and sees closed
	defer s.scrubMu.Unlock()
	if cerr := s.closeFiles(); err == nil {
		err = cerr
	}
	return err
}

func (s *Store) closeFiles() error {
	var first error
	for _, q := range *s.queues.Load() {
		if err := q.close(); err != nil && first == nil {
			first = err
		}
	}
	if s.index != nil {
		if err := s.index.close(); err != nil && first == nil {
			first = err
		}
	}
	if err := s.cl.close(); err != nil && first == nil {
		first = err
	}
	return first
}

func (s *Store) abortPath() string { return filepath.Join(s.opts.Dir, "abort") }

// The abort marker exists while the store is open. It holds the process
// id and the boot id of the machine ("<pid> <boot id>"): a marker found at
// open with the current boot id means the previous process died but the
// page cache kept everything it wrote.
func (s *Store) writeAbortMarker() error {
	f, err := s.fs.OpenFile(s.abortPath(), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("persist: abort marker: %w", err)
	}
	_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+" "+s.fs.BootID()), 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.fs.SyncDir(s.opts.Dir)
	}
	return err
}
