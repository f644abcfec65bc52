package routing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
	"strconv"
)

// Errors returned by this package; test them with errors.Is.
var (
	ErrBadBody         = errors.New("routing: malformed body")
	ErrCRCMismatch     = errors.New("routing: crc32 not match")
	ErrUnsupportedBody = errors.New("routing: unsupported body encoding")
)

// MasterID is the broker id of a master.
const MasterID int64 = 0

// TopicConfig is one topic as a broker reports it (Java field names).
// Fields are declared in JSON-key order so encodings are sorted like Java's.
type TopicConfig struct {
	Order           bool   `json:"order"`
	Perm            int32  `json:"perm"`
	ReadQueueNums   int32  `json:"readQueueNums"`
	TopicFilterType string `json:"topicFilterType"`
	TopicName       string `json:"topicName"`
	TopicSysFlag    int32  `json:"topicSysFlag"`
	WriteQueueNums  int32  `json:"writeQueueNums"`
}

// DataVersion stamps a broker's topic table; it changes whenever the table does.
type DataVersion struct {
	Counter   int64 `json:"counter"`
	Timestamp int64 `json:"timestamp"`
}

// TopicConfigSerializeWrapper is a broker's topic table with its version.
type TopicConfigSerializeWrapper struct {
	DataVersion      DataVersion            `json:"dataVersion"`
	TopicConfigTable map[string]TopicConfig `json:"topicConfigTable"`
}

// RegisterBrokerBody is the body of REGISTER_BROKER.
type RegisterBrokerBody struct {
	FilterServerList            []string                    `json:"filterServerList"`
	TopicConfigSerializeWrapper TopicConfigSerializeWrapper `json:"topicConfigSerializeWrapper"`
}

// QueueData is one broker's share of a topic.
type QueueData struct {
	BrokerName     string `json:"brokerName"`
	Perm           int32  `json:"perm"`
	ReadQueueNums  int32  `json:"readQueueNums"`
	TopicSysFlag   int32  `json:"topicSysFlag"`
	WriteQueueNums int32  `json:"writeQueueNums"`
}

// BrokerAddrs maps broker id (0 = master) to "ip:port". It always encodes
// as an object, sorted by id, even when nil.
type BrokerAddrs map[int64]string

// BrokerData is one broker name with its master and slaves.
type BrokerData struct {
	BrokerAddrs BrokerAddrs `json:"brokerAddrs"`
	BrokerName  string      `json:"brokerName"`
	Cluster     string      `json:"cluster"`
}

// TopicRouteData is the name server's answer to GET_ROUTEINFO_BY_TOPIC.
type TopicRouteData struct {
	BrokerDatas       []BrokerData        `json:"brokerDatas"`
	FilterServerTable map[string][]string `json:"filterServerTable"`
	OrderTopicConf    string              `json:"orderTopicConf,omitempty"`
	QueueDatas        []QueueData         `json:"queueDatas"`
}

// ClusterInfo is the body of GET_BROKER_CLUSTER_INFO.
type ClusterInfo struct {
	BrokerAddrTable  map[string]BrokerData `json:"brokerAddrTable"`
	ClusterAddrTable map[string][]string   `json:"clusterAddrTable"`
}

// TopicList is the body of GET_ALL_TOPIC_LIST_FROM_NAMESERVER.
type TopicList struct {
	TopicList  []string `json:"topicList"`
	BrokerAddr *string  `json:"brokerAddr"`
}

// MarshalJSON writes {"0":"addr",...} sorted by id; nil becomes {}.
func (a BrokerAddrs) MarshalJSON() ([]byte, error) {
	ids := make([]int64, 0, len(a))
	for id := range a {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	buf := make([]byte, 0, 2+len(a)*24)
	buf = append(buf, '{')
	for i, id := range ids {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '"')
		buf = strconv.AppendInt(buf, id, 10)
		buf = append(buf, '"', ':')
		quoted, err := json.Marshal(a[id])
		if err != nil {
			return nil, err
		}
		buf = append(buf, quoted...)
	}
	return append(buf, '}'), nil
}

// Encode returns the compact, deterministic route body: lists sorted by
// brokerName, empty collections as [] and {}, never null.
func (r *TopicRouteData) Encode() ([]byte, error) {
	out := TopicRouteData{
		BrokerDatas:       append([]BrokerData{}, r.BrokerDatas...),
		FilterServerTable: r.FilterServerTable,
		OrderTopicConf:    r.OrderTopicConf,
		QueueDatas:        append([]QueueData{}, r.QueueDatas...),
	}
	if out.FilterServerTable == nil {
		out.FilterServerTable = map[string][]string{}
	}
	sort.SliceStable(out.BrokerDatas, func(i, j int) bool {
		return out.BrokerDatas[i].BrokerName < out.BrokerDatas[j].BrokerName
	})
	sort.SliceStable(out.QueueDatas, func(i, j int) bool {
		return out.QueueDatas[i].BrokerName < out.QueueDatas[j].BrokerName
	})
	return MarshalCompact(out)
}

// Encode returns the standard JSON body of REGISTER_BROKER. Nil collections
// encode as [] and {}.
func (b *RegisterBrokerBody) Encode() ([]byte, error) {
	out := *b
	if out.FilterServerList == nil {
		out.FilterServerList = []string{}
	}
	if out.TopicConfigSerializeWrapper.TopicConfigTable == nil {
		out.TopicConfigSerializeWrapper.TopicConfigTable = map[string]TopicConfig{}
	}
	return MarshalCompact(out)
}

// DecodeRegisterBrokerBody parses a REGISTER_BROKER body. An empty body is
// an empty topic table.
func DecodeRegisterBrokerBody(body []byte) (*RegisterBrokerBody, error) {
	var out RegisterBrokerBody
	if len(bytes.TrimSpace(body)) == 0 {
		return &out, nil
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("%w: register broker: %v", ErrBadBody, err)
	}
	for name, tc := range out.TopicConfigSerializeWrapper.TopicConfigTable {
		if name == "" || (tc.TopicName != "" && tc.TopicName != name) {
			return nil, fmt.Errorf("%w: register broker: topic key %q names %q", ErrBadBody, name, tc.TopicName)
		}
		if tc.ReadQueueNums < 0 || tc.WriteQueueNums < 0 {
			return nil, fmt.Errorf("%w: register broker: topic %q has negative queue count", ErrBadBody, name)
		}
	}
	return &out, nil
}

// DecodeTopicRouteData parses a route body in standard JSON or in
// fastjson's form with bare integer object keys ({0:"ip:port"}).
func DecodeTopicRouteData(body []byte) (*TopicRouteData, error) {
	var out TopicRouteData
	err := json.Unmarshal(body, &out)
	if err != nil {
		var syntaxErr *json.SyntaxError
		if !errors.As(err, &syntaxErr) {
			return nil, fmt.Errorf("%w: route: %v", ErrBadBody, err)
		}
		normalized, ok := quoteBareIntegerKeys(body)
		if !ok {
			return nil, fmt.Errorf("%w: route: %v", ErrBadBody, err)
		}
		out = TopicRouteData{}
		if err := json.Unmarshal(normalized, &out); err != nil {
			return nil, fmt.Errorf("%w: route: %v", ErrBadBody, err)
		}
	}
	if out.QueueDatas == nil {
		return nil, fmt.Errorf("%w: route: queueDatas missing", ErrBadBody)
	}
	return &out, nil
}

// BodyCRC32 is the checksum REGISTER_BROKER carries in bodyCrc32: CRC-32/IEEE
// masked to 31 bits, so it is always a non-negative int32 (Java's UtilAll.crc32).
func BodyCRC32(body []byte) int32 {
	return int32(crc32.ChecksumIEEE(body) & 0x7FFFFFFF)
}

// MarshalCompact encodes v as JSON with no whitespace and no HTML escaping:
// the form every body of this package takes on the wire.
func MarshalCompact(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
