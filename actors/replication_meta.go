package actors

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/cometmq/comet/ha"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

// Metadata replication: the master's topic table and consumer-offset
// table travel as JSON blobs in the layouts of their files (topics.json,
// consumerOffset.json). Each is encoded once per change, whatever the
// number of replicas, and sent to a replica when its bytes differ from
// what that replica last got.

// metaCache keeps the last encoding of each table with what it encoded.
type metaCache struct {
	mu            sync.Mutex
	topicsVersion routing.DataVersion
	topicsLoaded  bool
	topicsJSON    []byte
	offsetsVer    int64
	offsetsJSON   []byte
	offsetsLoaded bool
}

// metadata returns the current blobs (HA server, any goroutine).
func (r *replication) metadata() []ha.Meta {
	c := &r.meta
	c.mu.Lock()
	defer c.mu.Unlock()
	// The version is read before the copy: a change published meanwhile
	// bumps it again, and the next call sends the table once more.
	if v := r.b.topics.version(); !c.topicsLoaded || v != c.topicsVersion {
		if data, err := json.Marshal(r.b.topics.snapshot()); err == nil {
			c.topicsVersion, c.topicsJSON, c.topicsLoaded = v, data, true
		} else {
			r.b.log.Error("actors: encode topics for replicas", "err", err)
		}
	}
	if v := r.b.offsets.version.Load(); !c.offsetsLoaded || v != c.offsetsVer {
		if data, err := r.b.offsets.encode(); err == nil {
			c.offsetsVer, c.offsetsJSON, c.offsetsLoaded = v, data, true
		} else {
			r.b.log.Error("actors: encode consumer offsets for replicas", "err", err)
		}
	}
	return []ha.Meta{{Kind: metaTopics, Body: c.topicsJSON}, {Kind: metaOffsets, Body: c.offsetsJSON}}
}

// applyMeta installs a blob from the master (replica, HA client goroutine).
func (b *Broker) applyMeta(m ha.Meta) {
	var err error
	switch m.Kind {
	case metaTopics:
		err = b.topics.replaceFromMaster(m.Body)
	case metaOffsets:
		err = b.offsets.replaceFromMaster(m.Body)
	default:
		err = fmt.Errorf("unknown metadata kind %d", m.Kind)
	}
	if err != nil {
		b.log.Error("actors: metadata from the master not applied", "kind", m.Kind, "err", err)
	}
}

// encode is the table in its file layout.
func (t *offsetTable) encode() ([]byte, error) {
	t.mu.Lock()
	f := offsetFile{OffsetTable: make(map[string]map[string]int64, len(t.mu.offsets))}
	for key, m := range t.mu.offsets {
		q := make(map[string]int64, len(m))
		for id, off := range m {
			q[strconv.Itoa(int(id))] = off
		}
		f.OffsetTable[key] = q
	}
	t.mu.Unlock()
	return json.Marshal(f)
}

// replaceFromMaster replaces the whole table with the master's; the
// housekeeper persists it.
func (t *offsetTable) replaceFromMaster(data []byte) error {
	var f offsetFile
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("actors: consumer offsets from the master: %w", err)
	}
	next := make(map[string]map[int32]int64, len(f.OffsetTable))
	for key, queues := range f.OffsetTable {
		m := make(map[int32]int64, len(queues))
		for q, off := range queues {
			id, err := strconv.ParseInt(q, 10, 32)
			if err != nil {
				return fmt.Errorf("actors: consumer offsets from the master: queue id %q: %w", q, err)
			}
			m[int32(id)] = off
		}
		next[key] = m
	}
	t.mu.Lock()
	t.mu.offsets, t.mu.dirty = next, true
	t.mu.Unlock()
	t.version.Add(1)
	return nil
}

// replaceFromMaster makes the table the master's: topics it lacks or
// holds differently are put, topics the master no longer has are deleted,
// durably, through the table's own change queue (HA client goroutine; it
// waits for the disk).
func (t *topicTable) replaceFromMaster(data []byte) error {
	snap := &topicSnapshot{}
	if err := json.Unmarshal(data, snap); err != nil {
		return fmt.Errorf("actors: topics from the master: %w", err)
	}
	if snap.Topics == nil {
		return fmt.Errorf("actors: topics from the master: no topic table")
	}
	var changes []topicChange
	for name, c := range snap.Topics {
		if err := remoting.ValidateTopic(name); err != nil || c.TopicName != name {
			return fmt.Errorf("actors: topics from the master: topic %s: %v", remoting.QuoteName(name), err)
		}
		if cur, ok := t.get(name); !ok || cur != c {
			changes = append(changes, topicChange{op: topicPut, cfg: c})
		}
	}
	for _, c := range t.all() {
		if _, ok := snap.Topics[c.TopicName]; !ok {
			changes = append(changes, topicChange{op: topicDelete, cfg: c})
		}
	}
	if len(changes) == 0 {
		return nil
	}
	_, err := t.apply(changes...)
	return err
}
