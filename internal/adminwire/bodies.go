package adminwire

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/cometmq/comet/routing"
)

// MessageQueue names one queue of one broker (Java MessageQueue).
type MessageQueue = routing.MessageQueue

func compareQueues(a, b MessageQueue) int {
	return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.BrokerName, b.BrokerName), cmp.Compare(a.QueueID, b.QueueID))
}

// QueueValue is one entry of a map keyed by message queue.
type QueueValue[V any] struct {
	Queue MessageQueue
	Value V
}

// appendQueueMap writes {{MQ}:V,...} sorted by queue.
func appendQueueMap[V any](dst []byte, entries []QueueValue[V]) []byte {
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b QueueValue[V]) int { return compareQueues(a.Queue, b.Queue) })
	dst = append(dst, '{')
	for i, e := range sorted {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSON(dst, e.Queue)
		dst = append(dst, ':')
		dst = appendJSON(dst, e.Value)
	}
	return append(dst, '}')
}

// decodeQueueMap reads {{MQ}:V,...}; a missing table (nil raw) is empty.
func decodeQueueMap[V any](raw []byte) ([]QueueValue[V], error) {
	if raw == nil || string(raw) == "null" {
		return nil, nil
	}
	var out []QueueValue[V]
	err := members(raw, func(key, value []byte) error {
		var e QueueValue[V]
		if len(key) == 0 || key[0] != '{' {
			return malformed("queue key %q is not an object", key)
		}
		if err := unmarshal(key, &e.Queue, "queue key"); err != nil {
			return err
		}
		if err := unmarshal(value, &e.Value, "queue value"); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// TopicOffset is one queue's range in GET_TOPIC_STATS_INFO.
type TopicOffset struct {
	LastUpdateTimestamp int64 `json:"lastUpdateTimestamp"`
	MaxOffset           int64 `json:"maxOffset"`
	MinOffset           int64 `json:"minOffset"`
}

// TopicStatsTable is the GET_TOPIC_STATS_INFO body.
type TopicStatsTable struct {
	OffsetTable []QueueValue[TopicOffset]
}

// Encode writes the fastjson form.
func (t *TopicStatsTable) Encode() []byte {
	dst := append([]byte(nil), `{"offsetTable":`...)
	dst = appendQueueMap(dst, t.OffsetTable)
	return append(dst, '}')
}

// DecodeTopicStatsTable reads a GET_TOPIC_STATS_INFO body.
func DecodeTopicStatsTable(body []byte) (*TopicStatsTable, error) {
	raw, err := field(body, "offsetTable")
	if err != nil {
		return nil, err
	}
	t := &TopicStatsTable{}
	t.OffsetTable, err = decodeQueueMap[TopicOffset](raw)
	return t, err
}

// OffsetWrapper is one queue's progress in GET_CONSUME_STATS.
type OffsetWrapper struct {
	BrokerOffset   int64 `json:"brokerOffset"`
	ConsumerOffset int64 `json:"consumerOffset"`
	LastTimestamp  int64 `json:"lastTimestamp"`
}

// Lag is the number of messages not yet consumed.
func (o OffsetWrapper) Lag() int64 { return max(0, o.BrokerOffset-o.ConsumerOffset) }

// ConsumeStats is the GET_CONSUME_STATS body.
type ConsumeStats struct {
	ConsumeTps  float64
	OffsetTable []QueueValue[OffsetWrapper]
}

// Encode writes the fastjson form.
func (c *ConsumeStats) Encode() []byte {
	dst := append([]byte(nil), `{"consumeTps":`...)
	dst = strconv.AppendFloat(dst, c.ConsumeTps, 'f', 1, 64)
	dst = append(dst, `,"offsetTable":`...)
	dst = appendQueueMap(dst, c.OffsetTable)
	return append(dst, '}')
}

// DecodeConsumeStats reads a GET_CONSUME_STATS body.
func DecodeConsumeStats(body []byte) (*ConsumeStats, error) {
	c := &ConsumeStats{}
	err := members(body, func(key, value []byte) error {
		switch keyString(key) {
		case "consumeTps":
			return unmarshal(value, &c.ConsumeTps, "consumeTps")
		case "offsetTable":
			var err error
			c.OffsetTable, err = decodeQueueMap[OffsetWrapper](value)
			return err
		}
		return nil
	})
	return c, err
}

// ResetOffsetBody is the body of INVOKE_BROKER_TO_RESET_OFFSET's response
// and of RESET_CONSUMER_CLIENT_OFFSET.
type ResetOffsetBody struct {
	OffsetTable []QueueValue[int64]
}

// Encode writes the fastjson form.
func (r *ResetOffsetBody) Encode() []byte {
	dst := append([]byte(nil), `{"offsetTable":`...)
	dst = appendQueueMap(dst, r.OffsetTable)
	return append(dst, '}')
}

// DecodeResetOffsetBody reads a ResetOffsetBody.
func DecodeResetOffsetBody(body []byte) (*ResetOffsetBody, error) {
	raw, err := field(body, "offsetTable")
	if err != nil {
		return nil, err
	}
	r := &ResetOffsetBody{}
	r.OffsetTable, err = decodeQueueMap[int64](raw)
	return r, err
}

// ConsumerOffsets is the GET_ALL_CONSUMER_OFFSET body: committed offsets
// by "topic@group" and queue id.
type ConsumerOffsets struct {
	OffsetTable map[string]map[int32]int64
}

// Encode writes the fastjson form (bare integer queue keys).
func (c *ConsumerOffsets) Encode() []byte {
	keys := make([]string, 0, len(c.OffsetTable))
	for k := range c.OffsetTable {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst := append([]byte(nil), `{"offsetTable":{`...)
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSON(dst, k)
		dst = append(dst, ":{"...)
		queues := make([]int32, 0, len(c.OffsetTable[k]))
		for q := range c.OffsetTable[k] {
			queues = append(queues, q)
		}
		slices.Sort(queues)
		for j, q := range queues {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendInt(dst, int64(q), 10)
			dst = append(dst, ':')
			dst = strconv.AppendInt(dst, c.OffsetTable[k][q], 10)
		}
		dst = append(dst, '}')
	}
	return append(dst, "}}"...)
}

// DecodeConsumerOffsets reads a GET_ALL_CONSUMER_OFFSET body.
func DecodeConsumerOffsets(body []byte) (*ConsumerOffsets, error) {
	raw, err := field(body, "offsetTable")
	if err != nil || raw == nil {
		return &ConsumerOffsets{OffsetTable: map[string]map[int32]int64{}}, err
	}
	out := &ConsumerOffsets{OffsetTable: map[string]map[int32]int64{}}
	err = members(raw, func(key, value []byte) error {
		queues := map[int32]int64{}
		err := members(value, func(qkey, qvalue []byte) error {
			q, err := keyInt(qkey)
			if err != nil {
				return err
			}
			var off int64
			if err := unmarshal(qvalue, &off, "offset"); err != nil {
				return err
			}
			queues[int32(q)] = off
			return nil
		})
		out.OffsetTable[keyString(key)] = queues
		return err
	})
	return out, err
}

// SplitOffsetKey splits "topic@group".
func SplitOffsetKey(key string) (topic, group string, ok bool) {
	return strings.Cut(key, "@")
}

// KVTable is the GET_BROKER_RUNTIME_INFO body (standard JSON).
type KVTable struct {
	Table map[string]string `json:"table"`
}

// Encode writes the JSON form.
func (k *KVTable) Encode() []byte { return appendJSON(nil, k) }

// DecodeKVTable reads a KVTable.
func DecodeKVTable(body []byte) (*KVTable, error) {
	k := &KVTable{}
	if err := unmarshal(body, k, "kv table"); err != nil {
		return nil, err
	}
	return k, nil
}

// EncodeProperties writes Java properties text, "key=value" lines sorted
// by key (the GET_BROKER_CONFIG body).
func EncodeProperties(props map[string]string) []byte {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b bytes.Buffer
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(props[k])
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// DecodeProperties reads Java properties text: key=value (or key:value)
// lines; '#' and '!' comment lines and blank lines are skipped.
func DecodeProperties(body []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, len(body)+1)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			out[line] = ""
			continue
		}
		out[strings.TrimSpace(line[:i])] = strings.TrimSpace(line[i+1:])
	}
	return out
}

// Connection is one client connection of a consumer group.
type Connection struct {
	ClientAddr string `json:"clientAddr"`
	ClientID   string `json:"clientId"`
	Language   string `json:"language,omitempty"`
	Version    int32  `json:"version"`
}

// SubscriptionData is one topic subscription of a consumer group.
type SubscriptionData struct {
	ClassFilterMode bool     `json:"classFilterMode"`
	CodeSet         []int32  `json:"codeSet"`
	ExpressionType  string   `json:"expressionType"`
	SubString       string   `json:"subString"`
	SubVersion      int64    `json:"subVersion"`
	TagsSet         []string `json:"tagsSet"`
	Topic           string   `json:"topic"`
}

// ConsumerConnection is the GET_CONSUMER_CONNECTION_LIST body (standard
// JSON).
type ConsumerConnection struct {
	ConnectionSet     []Connection                `json:"connectionSet"`
	ConsumeFromWhere  string                      `json:"consumeFromWhere,omitempty"`
	ConsumeType       string                      `json:"consumeType"`
	MessageModel      string                      `json:"messageModel"`
	SubscriptionTable map[string]SubscriptionData `json:"subscriptionTable"`
}

// Encode writes the JSON form.
func (c *ConsumerConnection) Encode() []byte { return appendJSON(nil, c) }

// DecodeConsumerConnection reads a GET_CONSUMER_CONNECTION_LIST body.
func DecodeConsumerConnection(body []byte) (*ConsumerConnection, error) {
	c := &ConsumerConnection{}
	if err := unmarshal(body, c, "consumer connection"); err != nil {
		return nil, err
	}
	return c, nil
}

// TopicConfigTable is the GET_ALL_TOPIC_CONFIG body (standard JSON).
type TopicConfigTable struct {
	DataVersion      json.RawMessage                `json:"dataVersion"`
	TopicConfigTable map[string]routing.TopicConfig `json:"topicConfigTable"`
}

// DecodeTopicConfigTable reads a GET_ALL_TOPIC_CONFIG body.
func DecodeTopicConfigTable(body []byte) (*TopicConfigTable, error) {
	t := &TopicConfigTable{}
	if err := unmarshal(body, t, "topic config table"); err != nil {
		return nil, err
	}
	return t, nil
}

// SubscriptionGroups is the part of the GET_ALL_SUBSCRIPTIONGROUP_CONFIG
// body cometctl reads.
type SubscriptionGroups struct {
	SubscriptionGroupTable map[string]json.RawMessage `json:"subscriptionGroupTable"`
}

// DecodeSubscriptionGroups reads a GET_ALL_SUBSCRIPTIONGROUP_CONFIG body.
func DecodeSubscriptionGroups(body []byte) (*SubscriptionGroups, error) {
	s := &SubscriptionGroups{}
	if err := unmarshal(body, s, "subscription groups"); err != nil {
		return nil, err
	}
	return s, nil
}
