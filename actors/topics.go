package actors

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/cometmq/comet/internal/atomicfile"
	"github.com/cometmq/comet/routing"
)

// Topic permission bits (RocketMQ PermName).
const (
	PermInherit = 1
	PermWrite   = 2
	PermRead    = 4
)

// System topic names the broker owns.
const (
	TopicAutoCreateTemplate = "TBW102"
	TopicSchedule           = "SCHEDULE_TOPIC_XXXX"
	TopicTransactionHalf    = "RMQ_SYS_TRANS_HALF_TOPIC"
	TopicTransactionOp      = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
	RetryTopicPrefix        = "%RETRY%"
	DLQTopicPrefix          = "%DLQ%"
)

// reservedTopics cannot be produced to by clients.
var reservedTopics = map[string]bool{
	TopicSchedule: true, TopicTransactionHalf: true, TopicTransactionOp: true,
	"TRANS_CHECK_MAX_TIME_TOPIC": true, "SELF_TEST_TOPIC": true, "OFFSET_MOVED_EVENT": true,
}

// ValidateTopicName applies RocketMQ's rule: 1..127 characters of
// [%|a-zA-Z0-9_-].
func ValidateTopicName(name string) error {
	if name == "" || len(name) > 127 {
		return fmt.Errorf("topic name length %d outside 1..127", len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c == '%' || c == '|' || c == '_' || c == '-' ||
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !ok {
			return fmt.Errorf("topic name %q has illegal character %q", name, c)
		}
	}
	return nil
}

// topicTable is the broker's durable topic configuration. Reads take an
// immutable snapshot; changes are rare, serialized, and written to
// config/topics.json before they are published.
type topicTable struct {
	path string
	mu   sync.Mutex // serializes changes
	snap atomic.Pointer[topicSnapshot]
}

type topicSnapshot struct {
	Version routing.DataVersion            `json:"dataVersion"`
	Topics  map[string]routing.TopicConfig `json:"topicConfigTable"`
}

func loadTopicTable(dir string) (*topicTable, error) {
	t := &topicTable{path: filepath.Join(dir, "config", "topics.json")}
	snap := &topicSnapshot{Topics: map[string]routing.TopicConfig{}}
	data, err := os.ReadFile(t.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("actors: read topics: %w", err)
	default:
		if err := json.Unmarshal(data, snap); err != nil {
			return nil, fmt.Errorf("actors: parse %s: %w", t.path, err)
		}
		if snap.Topics == nil {
			snap.Topics = map[string]routing.TopicConfig{}
		}
	}
	t.snap.Store(snap)
	return t, nil
}

func (t *topicTable) get(name string) (routing.TopicConfig, bool) {
	c, ok := t.snap.Load().Topics[name]
	return c, ok
}

func (t *topicTable) all() []routing.TopicConfig {
	m := t.snap.Load().Topics
	out := make([]routing.TopicConfig, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TopicName < out[j].TopicName })
	return out
}

func (t *topicTable) version() routing.DataVersion { return t.snap.Load().Version }

// update applies fn to a copy of the table, persists it and publishes it.
// fn returns false to leave the table unchanged.
func (t *topicTable) update(fn func(m map[string]routing.TopicConfig) bool, nowMs int64) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.snap.Load()
	m := make(map[string]routing.TopicConfig, len(old.Topics)+1)
	for k, v := range old.Topics {
		m[k] = v
	}
	if !fn(m) {
		return false, nil
	}
	next := &topicSnapshot{Version: routing.DataVersion{Counter: old.Version.Counter + 1, Timestamp: nowMs}, Topics: m}
	data, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return false, err
	}
	if err := atomicfile.Write(t.path, data); err != nil {
		return false, err
	}
	t.snap.Store(next)
	return true, nil
}

// ensure creates the topic if it is missing and reports whether it did.
func (t *topicTable) ensure(c routing.TopicConfig, nowMs int64) (routing.TopicConfig, bool, error) {
	if cur, ok := t.get(c.TopicName); ok {
		return cur, false, nil
	}
	created, err := t.update(func(m map[string]routing.TopicConfig) bool {
		if _, ok := m[c.TopicName]; ok {
			return false
		}
		m[c.TopicName] = c
		return true
	}, nowMs)
	cur, _ := t.get(c.TopicName)
	return cur, created, err
}

func newTopicConfig(name string, queues, perm int32) routing.TopicConfig {
	return routing.TopicConfig{TopicName: name, ReadQueueNums: queues, WriteQueueNums: queues,
		Perm: perm, TopicFilterType: "SINGLE_TAG"}
}
