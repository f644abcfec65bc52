package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
	"github.com/cometmq/comet/ringbuf"
	"github.com/cometmq/comet/routing"
)

// permAll is every bit a topic's permission may carry.
const permAll = remoting.PermInherit | remoting.PermWrite | remoting.PermRead

// reservedTopics cannot be produced to by clients.
var reservedTopics = map[string]bool{
	remoting.ScheduleTopic: true, remoting.TransactionHalfTopic: true, remoting.TransactionOpHalfTopic: true,
	remoting.TransactionCheckMaxTopic: true, remoting.SelfTestTopic: true, remoting.OffsetMovedEventTopic: true,
	TopicMQTTSessions: true,
}

// topicChangesCapacity bounds the change requests waiting for the table's
// goroutine; a full queue answers SYSTEM_BUSY.
const topicChangesCapacity = 1024

// errTopicsBusy: the change queue is full or the table is stopping.
var errTopicsBusy = errors.New("actors: topic table busy or stopping")

// topicTable is the broker's topic configuration. Readers look topics up
// without locks; every change goes through one goroutine, the owner of
// the topic files (topicStore), which makes a batch of changes durable
// with one append and one sync, then publishes them, then runs each
// request's completion. A change is therefore visible to senders only
// once it survives a crash, and no caller ever waits on the disk unless it
// chose to (apply): event loops submit and are answered through the
// completion.
type topicTable struct {
	log      *slog.Logger
	names    sync.Map // topic name -> routing.TopicConfig, as published
	count    atomic.Int64
	current  atomic.Pointer[routing.DataVersion]
	listing  atomic.Pointer[topicListing]
	requests *ringbuf.MPSC[*topicRequest]
	store    *topicStore // owned by run
	// compacting is the snapshot being written in the background (run
	// only); compactions joins its goroutine.
	compacting  *compaction
	compactions sync.WaitGroup
	now         func() time.Time
	stopped     chan struct{}
	stopOnce    sync.Once
	stopErr     error
}

// topicListing caches all() for one version of the table.
type topicListing struct {
	counter int64
	topics  []routing.TopicConfig
}

type topicOp uint8

const (
	topicEnsure topicOp = iota // create unless it exists
	topicPut                   // create or replace
	topicDelete
)

// topicChange is one change of a request. The table fills result and
// changed before the request's completion runs.
type topicChange struct {
	op      topicOp
	cfg     routing.TopicConfig // topicDelete reads cfg.TopicName only
	result  routing.TopicConfig // the topic as it now is (zero after a delete)
	changed bool                // created, replaced or deleted
}

// topicRequest is a batch of changes made durable together. done runs on
// the table's goroutine once they are (err nil) or could not be (err set,
// nothing applied); it must not block.
type topicRequest struct {
	changes []topicChange
	err     error
	done    func(*topicRequest)
}

// loadTopicTable opens the topic files under dir/config and starts the
// table's goroutine; close stops it.
func loadTopicTable(fsys persist.FS, dir string, log *slog.Logger) (*topicTable, error) {
	store, snap, err := openTopicStore(fsys, filepath.Join(dir, "config"), log)
	if err != nil {
		return nil, err
	}
	t := &topicTable{log: log, store: store, now: time.Now, stopped: make(chan struct{}),
		requests: ringbuf.NewMPSC[*topicRequest]("topics.changes", topicChangesCapacity)}
	for name, c := range snap.Topics {
		if err := remoting.ValidateTopic(name); err != nil || c.TopicName != name {
			log.Warn("actors: topic with an invalid name left out of the table", "err", err, "configName", remoting.QuoteName(c.TopicName))
			continue
		}
		t.names.Store(name, c)
		t.count.Add(1)
	}
	version := snap.Version
	t.current.Store(&version)
	go t.run()
	return t, nil
}

func (t *topicTable) get(name string) (routing.TopicConfig, bool) {
	c, ok := t.names.Load(name)
	if !ok {
		return routing.TopicConfig{}, false
	}
	return c.(routing.TopicConfig), true
}

// len is the number of topics.
func (t *topicTable) len() int { return int(t.count.Load()) }

// all lists the topics sorted by name. The slice is shared: callers must
// not modify it.
func (t *topicTable) all() []routing.TopicConfig {
	counter := t.current.Load().Counter
	if l := t.listing.Load(); l != nil && l.counter == counter {
		return l.topics
	}
	out := make([]routing.TopicConfig, 0, t.count.Load())
	t.names.Range(func(_, v any) bool {
		out = append(out, v.(routing.TopicConfig))
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].TopicName < out[j].TopicName })
	t.listing.Store(&topicListing{counter: counter, topics: out})
	return out
}

func (t *topicTable) version() routing.DataVersion { return *t.current.Load() }

// submit queues r without waiting; false means the queue is full or the
// table stopped, and r.done will not run.
func (t *topicTable) submit(r *topicRequest) bool { return t.requests.TryPush(r) }

// apply makes changes durable and returns them with their results. It
// waits for the disk: never call it on an event loop.
func (t *topicTable) apply(changes ...topicChange) ([]topicChange, error) {
	done := make(chan struct{})
	r := &topicRequest{changes: changes, done: func(*topicRequest) { close(done) }}
	if !t.submit(r) {
		return nil, errTopicsBusy
	}
	<-done
	return r.changes, r.err
}

// ensure creates c unless a topic of its name exists, and returns the
// topic and whether it was created. It waits for the disk.
func (t *topicTable) ensure(c routing.TopicConfig) (routing.TopicConfig, bool, error) {
	if cur, ok := t.get(c.TopicName); ok {
		return cur, false, nil
	}
	res, err := t.apply(topicChange{op: topicEnsure, cfg: c})
	if err != nil {
		return routing.TopicConfig{}, false, err
	}
	return res[0].result, res[0].changed, nil
}

// run is the table's goroutine: it drains change requests in batches
// until close.
func (t *topicTable) run() {
	defer close(t.stopped)
	batch := make([]*topicRequest, 0, 256)
	for {
		batch = t.requests.PopBatch(batch[:0])
		if len(batch) > 0 {
			t.applyBatch(batch)
			clear(batch)
			continue
		}
		if err := t.requests.Wait(context.Background()); errors.Is(err, ringbuf.ErrClosed) {
			return
		}
	}
}

// applyBatch decides every change of the batch against the table, makes
// the resulting records durable in one append, publishes them and runs
// the completions.
func (t *topicTable) applyBatch(batch []*topicRequest) {
	pending := map[string]*routing.TopicConfig{} // nil: deleted in this batch
	version := *t.current.Load()
	var recs []topicRecord
	nowMs := t.now().UnixMilli()
	for _, r := range batch {
		for i := range r.changes {
			if rec, ok := t.decide(&r.changes[i], pending); ok {
				version = routing.DataVersion{Counter: version.Counter + 1, Timestamp: nowMs}
				rec.Version = version
				recs = append(recs, rec)
			}
		}
	}
	var err error
	if len(recs) > 0 {
		err = t.store.appendRecords(recs)
	}
	if err == nil {
		t.publish(pending, version)
	} else {
		t.log.Error("actors: topic changes not stored", "changes", len(recs), "err", err)
	}
	for _, r := range batch {
		r.err = err
		r.done(r)
	}
	t.compactLog()
}

// decide works out what c does given the table and the batch's earlier
// changes, records it in pending, and returns the log record it needs.
func (t *topicTable) decide(c *topicChange, pending map[string]*routing.TopicConfig) (topicRecord, bool) {
	name := c.cfg.TopicName
	cur, exists := t.get(name)
	if p, ok := pending[name]; ok {
		exists = p != nil
		if exists {
			cur = *p
		}
	}
	switch {
	case c.op == topicDelete && !exists:
		return topicRecord{}, false
	case c.op == topicDelete:
		pending[name] = nil
		c.changed = true
		return topicRecord{Delete: name}, true
	case exists && (c.op == topicEnsure || cur == c.cfg):
		c.result = cur
		return topicRecord{}, false
	}
	cfg := c.cfg
	pending[name] = &cfg
	c.result, c.changed = cfg, true
	return topicRecord{Put: &cfg}, true
}

func (t *topicTable) publish(pending map[string]*routing.TopicConfig, version routing.DataVersion) {
	for name, cfg := range pending {
		if cfg == nil {
			if _, loaded := t.names.LoadAndDelete(name); loaded {
				t.count.Add(-1)
			}
			continue
		}
		if _, loaded := t.names.Swap(name, *cfg); !loaded {
			t.count.Add(1)
		}
	}
	t.current.Store(&version)
}

// snapshot copies the published table (table goroutine, or after it
// stopped).
func (t *topicTable) snapshot() *topicSnapshot {
	snap := &topicSnapshot{Version: t.version(), Topics: make(map[string]routing.TopicConfig, t.count.Load())}
	t.names.Range(func(k, v any) bool {
		snap.Topics[k.(string)] = v.(routing.TopicConfig)
		return true
	})
	return snap
}

// compactLog installs a snapshot written in the background once it is
// ready, and starts one when the log has outgrown the last (run only).
// Writing a snapshot of 100k topics takes about a second on a slow disk;
// only taking the copy and the final renames happen here.
func (t *topicTable) compactLog() {
	if c := t.compacting; c != nil {
		if !c.ready.Load() {
			return
		}
		t.compacting = nil
		if err := t.store.installSnapshot(c); err != nil {
			t.log.Error("actors: compact the topic log", "err", err)
		} else {
			t.log.Debug("actors: topic log compacted", "topics", len(c.snap.Topics), "snapshotBytes", c.size)
		}
	}
	if !t.store.needsCompaction() {
		return
	}
	c := &compaction{snap: t.snapshot(), logFrom: t.store.logBytes()}
	t.compacting = c
	t.compactions.Go(func() {
		t.store.prepareSnapshot(c)
		// Wake run to install it; when the queue is full, run is busy and
		// checks after its current batch.
		t.submit(&topicRequest{done: func(*topicRequest) {}})
	})
}

// close stops the goroutine after the queued changes, compacts the log so
// the snapshot alone is complete, and closes the files.
func (t *topicTable) close() error {
	t.stopOnce.Do(func() {
		t.requests.Close()
		<-t.stopped
		t.compactions.Wait()
		if t.store.logBytes() > 0 {
			if err := t.store.compact(t.snapshot()); err != nil {
				t.stopErr = err
			}
		}
		if err := t.store.close(); err != nil && t.stopErr == nil {
			t.stopErr = fmt.Errorf("actors: close topics log: %w", err)
		}
	})
	return t.stopErr
}

func newTopicConfig(name string, queues, perm int32) routing.TopicConfig {
	return routing.TopicConfig{TopicName: name, ReadQueueNums: queues, WriteQueueNums: queues,
		Perm: perm, TopicFilterType: "SINGLE_TAG"}
}
