package actors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cometmq/comet/persist"
)

// offsetTable holds committed consumer offsets per (topic, group, queue),
// persisted to config/consumerOffset.json by the housekeeper and at
// shutdown (RocketMQ's layout: {"offsetTable":{"topic@group":{"0":12}}}).
type offsetTable struct {
	fs      persist.FS
	path    string
	version atomic.Int64 // bumped by every change (replication_meta.go)
	mu      struct {
		sync.Mutex
		offsets map[string]map[int32]int64 // "topic@group" -> queue -> offset
		dirty   bool
	}
}

type offsetFile struct {
	OffsetTable map[string]map[string]int64 `json:"offsetTable"`
}

func offsetKey(topic, group string) string { return topic + "@" + group }

func loadOffsetTable(fsys persist.FS, dir string) (*offsetTable, error) {
	t := &offsetTable{fs: fsys, path: filepath.Join(dir, "config", "consumerOffset.json")}
	t.mu.offsets = map[string]map[int32]int64{}
	if _, err := persist.RemoveMetaTemps(fsys, t.path); err != nil {
		return nil, fmt.Errorf("actors: offsets: %w", err)
	}
	data, err := persist.ReadFile(fsys, t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("actors: read offsets: %w", err)
	}
	var f offsetFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("actors: parse %s: %w", t.path, err)
	}
	for key, queues := range f.OffsetTable {
		m := map[int32]int64{}
		for q, off := range queues {
			id, err := strconv.ParseInt(q, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("actors: %s: queue id %q: %w", t.path, q, err)
			}
			m[int32(id)] = off
		}
		t.mu.offsets[key] = m
	}
	return t, nil
}

func (t *offsetTable) commit(topic, group string, queueID int32, offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := offsetKey(topic, group)
	m := t.mu.offsets[key]
	if m == nil {
		m = map[int32]int64{}
		t.mu.offsets[key] = m
	}
	if old, ok := m[queueID]; !ok || old != offset {
		m[queueID] = offset
		t.mu.dirty = true
		t.version.Add(1)
	}
}

func (t *offsetTable) query(topic, group string, queueID int32) (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	off, ok := t.mu.offsets[offsetKey(topic, group)][queueID]
	return off, ok
}

func (t *offsetTable) dropTopic(topic string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for key := range t.mu.offsets {
		if strings.HasPrefix(key, topic+"@") {
			delete(t.mu.offsets, key)
			t.mu.dirty = true
			t.version.Add(1)
		}
	}
}

// persist writes the table if it changed since the last write.
func (t *offsetTable) persist() error {
	t.mu.Lock()
	if !t.mu.dirty {
		t.mu.Unlock()
		return nil
	}
	f := offsetFile{OffsetTable: map[string]map[string]int64{}}
	for key, m := range t.mu.offsets {
		q := make(map[string]int64, len(m))
		for id, off := range m {
			q[strconv.Itoa(int(id))] = off
		}
		f.OffsetTable[key] = q
	}
	t.mu.dirty = false
	t.mu.Unlock()
	data, err := json.Marshal(f)
	if err == nil {
		err = persist.WriteFileAtomic(t.fs, t.path, data)
	}
	if err != nil {
		t.mu.Lock()
		t.mu.dirty = true
		t.mu.Unlock()
	}
	return err
}
