package actors

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/cometmq/comet/ha"
	"github.com/cometmq/comet/internal/atomicfile"
)

// Metadata replication: the master's topic table and consumer-offset
// table travel as JSON blobs in the layouts of their files (topics.json,
// consumerOffset.json). Each is encoded once per change, whatever the
// number of replicas, and sent to a replica when its bytes differ from
// what that replica last got.

// metaCache keeps the last encoding of each table with what it encoded.
type metaCache struct {
	mu            sync.Mutex
	topicsSnap    *topicSnapshot
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
	if snap := r.b.topics.snap.Load(); snap != c.topicsSnap {
		if data, err := json.Marshal(snap); err == nil {
			c.topicsSnap, c.topicsJSON = snap, data
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

// replaceFromMaster installs the master's topic table, written to disk
// before it is published.
func (t *topicTable) replaceFromMaster(data []byte) error {
	snap := &topicSnapshot{}
	if err := json.Unmarshal(data, snap); err != nil {
		return fmt.Errorf("actors: topics from the master: %w", err)
	}
	if snap.Topics == nil {
		return fmt.Errorf("actors: topics from the master: no topic table")
	}
	for name := range snap.Topics {
		if err := ValidateTopicName(name); err != nil {
			return fmt.Errorf("actors: topics from the master: %w", err)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out, err := json.MarshalIndent(snap, "", "  ")
	if err == nil {
		err = atomicfile.Write(t.path, out)
	}
	if err != nil {
		return err
	}
	t.snap.Store(snap)
	return nil
}
