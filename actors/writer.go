package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
	"github.com/cometmq/comet/ringbuf"
)

// FlushMode says when an append is acknowledged.
type FlushMode int

const (
	// FlushSync acknowledges after the fdatasync/msync covering the
	// message (group commit: one sync per batch). Messages become visible
	// to consumers only once durable.
	FlushSync FlushMode = iota
	// FlushAsync acknowledges after the copy into the mapped log; a flush
	// runs every FlushInterval or FlushBytes of unsynced data.
	FlushAsync
)

// ParseFlushMode maps "sync"/"async" to a FlushMode.
func ParseFlushMode(s string) (FlushMode, error) {
	switch s {
	case "sync", "SYNC_FLUSH":
		return FlushSync, nil
	case "async", "ASYNC_FLUSH":
		return FlushAsync, nil
	}
	return 0, fmt.Errorf("actors: flush mode %q: want sync or async", s)
}

func (m FlushMode) String() string {
	if m == FlushAsync {
		return "async"
	}
	return "sync"
}

// ErrBusy is returned by Submit when the writer's ring is full.
var ErrBusy = errors.New("actors: writer busy")

// ErrStopping is returned by Submit once Stop has begun: the writer takes
// nothing more, it only drains what it holds.
var ErrStopping = errors.New("actors: writer stopping")

// submitRefusal is the answer to a request Submit refused: SYSTEM_BUSY
// when the ring is full; SERVICE_NOT_AVAILABLE while the broker stops,
// which RocketMQ also answers once its store is shut down and which the
// Java producer retries on another broker (it does not retry SYSTEM_BUSY).
func submitRefusal(err error) (code int16, remark string) {
	if errors.Is(err, ErrStopping) {
		return remoting.ResponseServiceNotAvailable, "broker is stopping"
	}
	return remoting.ResponseSystemBusy, "[OVERLOAD]broker busy, writer ring full"
}

// Completion receives the outcome of an AppendRequest on the writer's
// goroutine. It must not block.
type Completion interface {
	Complete(req *AppendRequest)
}

// AppendRequest is one producer request: one message or one batch, stored
// together and acknowledged together.
type AppendRequest struct {
	Messages []persist.Message
	Results  []persist.AppendResult // filled by the writer, one per message
	Err      error
	Done     Completion
}

// WriterOptions configure the writer.
type WriterOptions struct {
	Flush         FlushMode
	RingCapacity  int           // pending requests; default 16384
	MaxBatch      int           // requests per batch; default 4096
	FlushInterval time.Duration // async mode; default 200 ms
	FlushBytes    int64         // async mode; default 4 MiB of unsynced data
	Logger        *slog.Logger
	// OnPublish runs on the writer goroutine after a batch becomes
	// visible; it must not block (it wakes parked pulls).
	OnPublish func([]persist.Dispatched)
	OnSync    func(time.Duration) // runs on the writer goroutine after each sync (metrics)
	Now       func() time.Time
	// Replication, when set, hears of every batch handed to the file and
	// may hold its publication until replicas have it (replication.go).
	Replication WriterReplication
}

// WriterReplication is what the writer asks of replication, on its
// goroutine, holding the tail.
type WriterReplication interface {
	// Writable refuses appends (the broker is a replica).
	Writable() error
	// Written wakes the senders: the batch is in the file. Never blocks.
	Written()
	// Wait blocks until the batch up to end may be acknowledged: with
	// synchronous replication, until every in-sync member holds it. An
	// error fails (and rolls back) the batch.
	Wait(end int64) error
	// Synchronous reports whether Wait may block (no inline appends then).
	Synchronous() bool
	// RolledBack reports a rollback of bytes the senders may have shipped.
	RolledBack()
}

func (o *WriterOptions) setDefaults() {
	if o.RingCapacity == 0 {
		o.RingCapacity = 16384
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = 4096
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = 200 * time.Millisecond
	}
	if o.FlushBytes == 0 {
		o.FlushBytes = 4 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Writer is the single owner of the commit-log tail. Producers Submit
// requests through a bounded lock-free ring; one goroutine drains it in
// batches, appends every message, makes the batch durable with one sync
// (sync flush) and completes every request of the batch.
//
// Ownership of the tail is the writer's role, held as a lock: the loop
// holds it for each batch, and in async-flush mode an event loop may take
// it for one request when the writer is idle (TryAppendInline), which
// saves the two goroutine hand-offs of a send when there is nothing to
// batch with. The lock never makes anyone wait: the loop is its only
// blocking taker, and a request that would have to wait goes through the
// ring.
type Writer struct {
	opts  WriterOptions
	store *persist.Store
	ring  *ringbuf.MPSC[*AppendRequest]

	stopOnce sync.Once
	stopping atomic.Bool // set before the ring closes
	done     chan struct{}

	// mu is the writer's role: its holder owns the store's tail and the
	// fields below.
	mu         sync.Mutex
	batch      []*AppendRequest
	inline     [1]*AppendRequest
	dirtySince time.Time
	dirtyBytes int64
	lastStore  int64

	stats WriterStats
}

// WriterStats are the writer's counters.
type WriterStats struct {
	Batches, Requests, Messages, Syncs, SyncFailures, Rejected atomic.Int64
	SyncNanos                                                  atomic.Int64
	// Inline counts requests appended by TryAppendInline (also counted in
	// Batches and Requests).
	Inline atomic.Int64
}

// NewWriter builds a writer over store; Start runs it.
func NewWriter(store *persist.Store, opts WriterOptions) *Writer {
	opts.setDefaults()
	return &Writer{
		opts:  opts,
		store: store,
		ring:  ringbuf.NewMPSC[*AppendRequest]("writer.appends", opts.RingCapacity),
		done:  make(chan struct{}),
		batch: make([]*AppendRequest, 0, opts.MaxBatch),
	}
}

// Stats returns the writer's counters.
func (w *Writer) Stats() *WriterStats { return &w.stats }

// Mode is the writer's flush mode.
func (w *Writer) Mode() FlushMode { return w.opts.Flush }

// Submit hands a request to the writer without blocking. It returns
// ErrBusy when the ring is full and ErrStopping once Stop has begun (the
// caller answers with submitRefusal).
func (w *Writer) Submit(req *AppendRequest) error {
	if r := w.opts.Replication; r != nil {
		if err := r.Writable(); err != nil {
			return err
		}
	}
	if !w.ring.TryPush(req) {
		if w.stopping.Load() {
			return ErrStopping
		}
		w.stats.Rejected.Add(1)
		return ErrBusy
	}
	return nil
}

// TryAppendInline appends and completes req on the calling goroutine when
// that takes no waiting: async-flush mode, a request of at most 64 KiB,
// the writer's role free, its ring empty (so nothing submitted earlier is
// overtaken: per-connection order holds), less than FlushBytes unsynced,
// and every file the append writes already mapped (no segment or queue
// file is created here). It reports whether it did; on false the caller
// Submits req as usual. Event loops call it so that an idle broker answers
// a send in the same read pass, without waking the writer goroutine and
// then the loop again.
func (w *Writer) TryAppendInline(req *AppendRequest) bool {
	if w.opts.Flush != FlushAsync || requestBytes(req) > maxInlineBytes || w.replicationBlocks() || !w.mu.TryLock() {
		return false
	}
	defer w.mu.Unlock()
	if !w.ring.Idle() || w.dirtyBytes >= w.opts.FlushBytes || !w.store.FitsInPlace(req.Messages) {
		return false
	}
	w.stats.Inline.Add(1)
	w.inline[0] = req
	w.writeBatch(w.inline[:])
	w.inline[0] = nil
	return true
}

func (w *Writer) replicationBlocks() bool {
	r := w.opts.Replication
	return r != nil && (r.Synchronous() || r.Writable() != nil)
}

// HoldTail runs fn as the owner of the store's tail, with no batch in
// flight: replication appends replicated bytes and truncates through it.
func (w *Writer) HoldTail(fn func() error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fn()
}

// maxInlineBytes caps the bodies of a request appended inline: copying a
// large message into fresh pages costs the loop page faults, and under
// dirty-page throttling even a wait; the writer goroutine takes those.
const maxInlineBytes = 64 << 10

func requestBytes(req *AppendRequest) int {
	n := 0
	for i := range req.Messages {
		n += len(req.Messages[i].Body) + len(req.Messages[i].Properties)
	}
	return n
}

// Start runs the writer loop.
func (w *Writer) Start() { go w.loop() }

// Stop stops accepting, drains the ring, makes everything durable and
// completes every request. It returns when the loop has ended.
func (w *Writer) Stop(ctx context.Context) error {
	w.stopOnce.Do(func() {
		w.stopping.Store(true)
		w.ring.Close()
	})
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Writer) loop() {
	defer close(w.done)
	for {
		err := w.waitForWork()
		w.mu.Lock()
		w.batch = w.ring.PopBatch(w.batch[:0])
		if len(w.batch) > 0 {
			w.writeBatch(w.batch)
			clear(w.batch)
		}
		if w.opts.Flush == FlushAsync {
			w.maybeFlush(false)
		}
		if errors.Is(err, ringbuf.ErrClosed) {
			w.maybeFlush(true)
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
	}
}

// waitForWork parks until requests arrive; in async mode it also wakes
// when unsynced data is due for a flush, and at least every FlushInterval
// while idle, since inline appends dirty the log without waking it.
func (w *Writer) waitForWork() error {
	if w.opts.Flush != FlushAsync {
		return w.ring.Wait(context.Background())
	}
	w.mu.Lock()
	due := w.opts.Now().Add(w.opts.FlushInterval)
	if w.dirtyBytes > 0 {
		due = w.dirtySince.Add(w.opts.FlushInterval)
	}
	w.mu.Unlock()
	ctx, cancel := context.WithDeadline(context.Background(), due)
	defer cancel()
	err := w.ring.Wait(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// storeTimestamp is the store time for this batch: wall clock, but never
// going backwards, so time search over the log stays monotonic.
func (w *Writer) storeTimestamp() int64 {
	now := w.opts.Now().UnixMilli()
	if now < w.lastStore {
		now = w.lastStore
	}
	w.lastStore = now
	return now
}

func (w *Writer) writeBatch(batch []*AppendRequest) {
	w.stats.Batches.Add(1)
	w.stats.Requests.Add(int64(len(batch)))
	ts := w.storeTimestamp()
	start := w.store.WritePosition()
	var failed error
	for _, req := range batch {
		if failed != nil {
			break
		}
		req.Results = req.Results[:0]
		for i := range req.Messages {
			res, err := w.store.Append(&req.Messages[i], ts)
			if err != nil {
				failed = err
				break
			}
			req.Results = append(req.Results, res)
		}
	}
	if failed == nil {
		failed = w.store.Write()
	}
	if failed == nil && w.opts.Replication != nil {
		w.opts.Replication.Written() // replicas receive it while the local sync runs
	}
	if failed == nil && w.opts.Flush == FlushSync {
		failed = w.sync()
	}
	if failed == nil && w.opts.Replication != nil {
		failed = w.opts.Replication.Wait(w.store.WritePosition())
	}
	if failed != nil {
		w.failBatch(batch, failed)
		return
	}
	w.publish(batch, w.store.WritePosition()-start)
}

func (w *Writer) sync() error {
	t := time.Now()
	err := w.store.Sync()
	w.stats.Syncs.Add(1)
	w.stats.SyncNanos.Add(int64(time.Since(t)))
	if w.opts.OnSync != nil {
		w.opts.OnSync(time.Since(t))
	}
	if err != nil {
		w.stats.SyncFailures.Add(1)
	}
	return err
}

// failBatch rolls back everything the batch appended and fails each
// request: nothing of it was acknowledged, so nothing of it may remain.
func (w *Writer) failBatch(batch []*AppendRequest, err error) {
	if rerr := w.store.Rollback(); rerr != nil {
		w.opts.Logger.Error("actors: writer rollback", "err", rerr)
	}
	if w.opts.Replication != nil {
		w.opts.Replication.RolledBack()
	}
	w.opts.Logger.Warn("actors: append batch failed", "requests", len(batch), "err", err)
	for _, req := range batch {
		req.Err = err
		req.Results = req.Results[:0]
		req.Done.Complete(req)
	}
}

func (w *Writer) publish(batch []*AppendRequest, bytes int64) {
	dispatched, err := w.store.Publish()
	if err != nil {
		w.opts.Logger.Error("actors: dispatch to consume queues", "err", err)
	}
	if w.opts.Flush == FlushAsync {
		if w.dirtyBytes == 0 {
			w.dirtySince = w.opts.Now()
		}
		w.dirtyBytes += bytes
	}
	for _, req := range batch {
		w.stats.Messages.Add(int64(len(req.Messages)))
		req.Done.Complete(req)
	}
	if w.opts.OnPublish != nil && len(dispatched) > 0 {
		w.opts.OnPublish(dispatched)
	}
}

// maybeFlush syncs unsynced data in async mode when it is due. Called with
// w.mu held, it lets go of the lock for the msync itself, so inline appends
// go on meanwhile (they are not covered by this flush: they count towards
// the next one).
func (w *Writer) maybeFlush(force bool) {
	if w.dirtyBytes == 0 {
		return
	}
	due := force || w.dirtyBytes >= w.opts.FlushBytes || w.opts.Now().Sub(w.dirtySince) >= w.opts.FlushInterval
	if !due {
		return
	}
	p := w.store.PrepareSync()
	flushed, since := w.dirtyBytes, w.dirtySince
	w.dirtyBytes = 0
	w.mu.Unlock()
	t := time.Now()
	err := p.Run()
	elapsed := time.Since(t)
	w.mu.Lock()
	w.store.FinishSync(p, err)
	w.stats.Syncs.Add(1)
	w.stats.SyncNanos.Add(int64(elapsed))
	if w.opts.OnSync != nil {
		w.opts.OnSync(elapsed)
	}
	if err != nil {
		w.stats.SyncFailures.Add(1)
		if w.dirtyBytes == 0 || since.Before(w.dirtySince) {
			w.dirtySince = since
		}
		w.dirtyBytes += flushed
		w.opts.Logger.Error("actors: async flush failed; will retry", "err", err)
	}
}

// Ring exposes the append ring's stats.
func (w *Writer) Ring() ringbuf.Stats { return w.ring.Stats() }
