package adminwire

import (
	"slices"
	"strconv"
)

// ProducerConnection is the GET_PRODUCER_CONNECTION_LIST body (standard
// JSON).
type ProducerConnection struct {
	ConnectionSet []Connection `json:"connectionSet"`
}

// Encode writes the JSON form.
func (p *ProducerConnection) Encode() []byte { return appendJSON(nil, p) }

// DecodeProducerConnection reads a GET_PRODUCER_CONNECTION_LIST body.
func DecodeProducerConnection(body []byte) (*ProducerConnection, error) {
	p := &ProducerConnection{}
	if err := unmarshal(body, p, "producer connection"); err != nil {
		return nil, err
	}
	return p, nil
}

// GroupList is the QUERY_TOPIC_CONSUME_BY_WHO body (standard JSON),
// groups sorted.
type GroupList struct {
	GroupList []string `json:"groupList"`
}

// Encode writes the JSON form.
func (g *GroupList) Encode() []byte {
	sorted := GroupList{GroupList: slices.Sorted(slices.Values(g.GroupList))}
	if sorted.GroupList == nil {
		sorted.GroupList = []string{}
	}
	return appendJSON(nil, &sorted)
}

// DecodeGroupList reads a GroupList.
func DecodeGroupList(body []byte) (*GroupList, error) {
	g := &GroupList{}
	if err := unmarshal(body, g, "group list"); err != nil {
		return nil, err
	}
	return g, nil
}

// GroupConsumeStats are one group's ConsumeStats, one per topic it
// consumes, in GET_BROKER_CONSUME_STATS.
type GroupConsumeStats struct {
	Group string
	Stats []ConsumeStats
}

// ConsumeStatsList is the GET_BROKER_CONSUME_STATS body: a list of
// single-entry maps {group: [ConsumeStats]}, as RocketMQ's
// ConsumeStatsList carries them.
type ConsumeStatsList struct {
	BrokerAddr string
	Groups     []GroupConsumeStats
	TotalDiff  int64
}

// Encode writes the fastjson form.
func (c *ConsumeStatsList) Encode() []byte {
	dst := append([]byte(nil), `{"brokerAddr":`...)
	dst = appendJSON(dst, c.BrokerAddr)
	dst = append(dst, `,"consumeStatsList":[`...)
	for i, g := range c.Groups {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '{')
		dst = appendJSON(dst, g.Group)
		dst = append(dst, ":["...)
		for j := range g.Stats {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, g.Stats[j].Encode()...)
		}
		dst = append(dst, "]}"...)
	}
	dst = append(dst, `],"totalDiff":`...)
	dst = strconv.AppendInt(dst, c.TotalDiff, 10)
	return append(dst, '}')
}

// DecodeConsumeStatsList reads a GET_BROKER_CONSUME_STATS body.
func DecodeConsumeStatsList(body []byte) (*ConsumeStatsList, error) {
	c := &ConsumeStatsList{}
	err := members(body, func(key, value []byte) error {
		switch keyString(key) {
		case "brokerAddr":
			return unmarshal(value, &c.BrokerAddr, "brokerAddr")
		case "totalDiff":
			return unmarshal(value, &c.TotalDiff, "totalDiff")
		case "consumeStatsList":
			return elements(value, func(entry []byte) error {
				return members(entry, func(group, list []byte) error {
					g := GroupConsumeStats{Group: keyString(group)}
					err := elements(list, func(stats []byte) error {
						s, err := DecodeConsumeStats(stats)
						if err == nil {
							g.Stats = append(g.Stats, *s)
						}
						return err
					})
					c.Groups = append(c.Groups, g)
					return err
				})
			})
		}
		return nil
	})
	return c, err
}

// ConsumeQueueData is one consume-queue entry in QUERY_CONSUME_QUEUE.
type ConsumeQueueData struct {
	Eval         bool   `json:"eval"`
	PhysicOffset int64  `json:"physicOffset"`
	PhysicSize   int32  `json:"physicSize"`
	TagsCode     int64  `json:"tagsCode"`
	Msg          string `json:"msg,omitempty"`
}

// QueryConsumeQueueResponse is the QUERY_CONSUME_QUEUE body (standard
// JSON; fastjson leaves null fields out, and so does this).
type QueryConsumeQueueResponse struct {
	FilterData       string             `json:"filterData,omitempty"`
	MaxQueueIndex    int64              `json:"maxQueueIndex"`
	MinQueueIndex    int64              `json:"minQueueIndex"`
	QueueData        []ConsumeQueueData `json:"queueData,omitempty"`
	SubscriptionData *SubscriptionData  `json:"subscriptionData,omitempty"`
}

// Encode writes the JSON form.
func (q *QueryConsumeQueueResponse) Encode() []byte { return appendJSON(nil, q) }

// DecodeQueryConsumeQueueResponse reads a QUERY_CONSUME_QUEUE body.
func DecodeQueryConsumeQueueResponse(body []byte) (*QueryConsumeQueueResponse, error) {
	q := &QueryConsumeQueueResponse{}
	if err := unmarshal(body, q, "consume queue"); err != nil {
		return nil, err
	}
	return q, nil
}

// elements calls fn for each element of the array at the start of data.
func elements(data []byte, fn func(value []byte) error) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return malformed("want an array at byte %d", i)
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return nil
	}
	for {
		end, err := skipValue(data, i)
		if err != nil {
			return err
		}
		if err := fn(data[i:end]); err != nil {
			return err
		}
		i = skipSpace(data, end)
		if i >= len(data) {
			return malformed("unterminated array")
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case ']':
			return nil
		default:
			return malformed("want ',' or ']' at byte %d", i)
		}
	}
}
