package admin

import (
	"encoding/base64"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cometmq/comet/netio/remoting"
)

// Message is a stored message as admin reports it. Body is the text when
// it is valid UTF-8 (BodyEncoding "utf8"), else base64 ("base64"); Raw
// holds the bytes.
type Message struct {
	MsgID           string            `json:"msgId"`
	OffsetMsgID     string            `json:"offsetMsgId"`
	Topic           string            `json:"topic"`
	BrokerAddr      string            `json:"brokerAddr,omitempty"`
	BrokerName      string            `json:"brokerName,omitempty"`
	QueueID         int32             `json:"queueId"`
	QueueOffset     int64             `json:"queueOffset"`
	CommitLogOffset int64             `json:"commitLogOffset"`
	Tags            string            `json:"tags,omitempty"`
	Keys            string            `json:"keys,omitempty"`
	BornTime        string            `json:"bornTime"`
	StoreTime       string            `json:"storeTime"`
	BornTimestamp   int64             `json:"bornTimestamp"`
	StoreTimestamp  int64             `json:"storeTimestamp"`
	BornHost        string            `json:"bornHost"`
	StoreHost       string            `json:"storeHost"`
	ReconsumeTimes  int32             `json:"reconsumeTimes"`
	SysFlag         int32             `json:"sysFlag"`
	Flag            int32             `json:"flag"`
	BodyCRC         int32             `json:"bodyCrc"`
	BodySize        int               `json:"bodySize"`
	Body            string            `json:"body"`
	BodyEncoding    string            `json:"bodyEncoding"` // "utf8" or "base64"
	Properties      map[string]string `json:"properties"`
	Raw             []byte            `json:"-"`
}

// MillisTime formats a millisecond timestamp; 0 is "-".
func MillisTime(ms int64) string {
	if ms <= 0 {
		return "-"
	}
	return time.UnixMilli(ms).Format("2006-01-02T15:04:05.000Z07:00")
}

// NewMessage converts a decoded message.
func NewMessage(m *remoting.MessageExt) Message {
	out := Message{MsgID: m.MsgID, OffsetMsgID: m.OffsetMsgID, Topic: m.Topic, QueueID: m.QueueID,
		QueueOffset: m.QueueOffset, CommitLogOffset: m.CommitLogOffset, Tags: m.Tags(), Keys: m.Keys(),
		BornTime: MillisTime(m.BornTimestamp), StoreTime: MillisTime(m.StoreTimestamp),
		BornTimestamp: m.BornTimestamp, StoreTimestamp: m.StoreTimestamp, BornHost: m.BornHost.String(),
		StoreHost: m.StoreHost.String(), ReconsumeTimes: m.ReconsumeTimes, SysFlag: m.SysFlag, Flag: m.Flag,
		BodyCRC: m.BodyCRC, BodySize: len(m.Body), Properties: m.Properties, Raw: m.Body}
	if out.Properties == nil {
		out.Properties = map[string]string{}
	}
	if utf8.Valid(m.Body) {
		out.Body, out.BodyEncoding = string(m.Body), "utf8"
	} else {
		out.Body, out.BodyEncoding = base64.StdEncoding.EncodeToString(m.Body), "base64"
	}
	return out
}

func decodeMessages(addr string, body []byte) ([]Message, error) {
	msgs, err := remoting.DecodeMessages(body)
	if err != nil {
		return nil, bodyError(addr, err)
	}
	out := make([]Message, len(msgs))
	for i, m := range msgs {
		out[i] = NewMessage(m)
		out[i].BrokerAddr = addr
	}
	return out, nil
}

// ViewMessage finds messages by id. An offset message id (store host and
// commit-log offset) is read from its broker (Options.Broker if set). Any
// other id, or without Options.Broker an offset id of a broker the name
// server does not list (a MSG_ID has the same shape), is searched as a
// unique key (MSG_ID): in topic, or in every topic when topic is "".
func (c *Client) ViewMessage(id, topic string) ([]Message, error) {
	ip, port, offset, perr := remoting.ParseOffsetMsgID(id)
	addr := c.opts.Broker
	if perr == nil && addr == "" {
		addr = net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
	}
	if perr != nil || (c.opts.Broker == "" && !c.KnownBroker(addr)) {
		if !IsUniqueKey(id) {
			return nil, invalid("%q is neither an offset message id nor a MSG_ID (unique key): want 32 hex digits", id)
		}
		if topic == "" {
			m, err := c.findUniqueKey(id)
			if err != nil {
				return nil, err
			}
			return []Message{m}, nil
		}
		return c.QueryMessages(Query{Topic: topic, Key: id, End: time.Now().UnixMilli(), Max: 32, Unique: true})
	}
	cmd := remoting.NewRequest(remoting.RequestViewMessageByID)
	cmd.Ext.Set("offset", strconv.FormatInt(offset, 10))
	resp, err := c.Invoke(addr, cmd)
	if err != nil {
		if strings.Contains(err.Error(), "no message at offset") {
			return nil, fmt.Errorf("%w: %v", ErrNotFound, err)
		}
		return nil, err
	}
	msgs, err := decodeMessages(addr, resp.Body)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("%w: no message %s", ErrNotFound, id)
	}
	return msgs[:1], nil
}

// Query searches a topic's key index (QUERY_MESSAGE) on every broker of
// the topic.
type Query struct {
	Topic, Key string
	Begin, End int64 // store time range, unix ms
	Max        int64 // most messages per broker, 1..64
	Unique     bool  // Key is a unique key (a producer's message id)
}

// QueryMessages runs q and returns what it found sorted by store time.
func (c *Client) QueryMessages(q Query) ([]Message, error) {
	if q.Key == "" {
		return nil, invalid("a key is required")
	}
	q.Max = min(max(q.Max, 1), 64)
	brokers, err := c.TopicBrokers(q.Topic)
	if err != nil {
		return nil, err
	}
	found, errs := perBroker(brokers, func(b BrokerRef) ([]Message, error) {
		cmd := remoting.NewRequest(remoting.RequestQueryMessage)
		cmd.Ext.Set("topic", q.Topic)
		cmd.Ext.Set("key", q.Key)
		cmd.Ext.Set("maxNum", strconv.FormatInt(q.Max, 10))
		cmd.Ext.Set("beginTimestamp", strconv.FormatInt(max(q.Begin, 0), 10))
		cmd.Ext.Set("endTimestamp", strconv.FormatInt(q.End, 10))
		if q.Unique {
			cmd.Ext.Set("_UNIQUE_KEY_QUERY", "true")
		}
		resp, err := c.Invoke(b.Addr, cmd)
		if err != nil {
			return nil, err
		}
		return decodeMessages(b.Addr, resp.Body)
	})
	msgs := []Message{}
	for _, list := range found {
		msgs = append(msgs, list...)
	}
	if len(msgs) == 0 {
		if err := Worst(errs); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: no message with key %s in topic %s", ErrNotFound, q.Key, q.Topic)
	}
	slices.SortFunc(msgs, func(a, b Message) int { return int(a.StoreTimestamp - b.StoreTimestamp) })
	return msgs, nil
}

// QueueBroker picks the master holding topic: Options.Broker, the named
// broker, or the only one.
func (c *Client) QueueBroker(topic, brokerName string) (string, error) {
	brokers, err := c.TopicBrokers(topic)
	if err != nil {
		return "", err
	}
	if brokerName == "" {
		if len(brokers) > 1 {
			return "", invalid("topic %s is on %d brokers: choose one by name", topic, len(brokers))
		}
		return brokers[0].Addr, nil
	}
	for _, b := range brokers {
		if b.Name == brokerName {
			return b.Addr, nil
		}
	}
	return "", fmt.Errorf("%w: broker %s does not hold topic %s", ErrNotFound, brokerName, topic)
}

// browseGroup is the consumer group named in browsing pulls; the pulls
// never carry the commit flag, so no offset of it is ever stored.
const browseGroup = "CometctlPrint"

// BrowseGroup is the group name browsing pulls carry.
const BrowseGroup = browseGroup

// PullRange reads up to count messages of one queue from offset on,
// following the broker's next offsets, without suspending and without
// committing.
func (c *Client) PullRange(addr, topic string, queue int32, offset, count int64) ([]Message, error) {
	out := []Message{}
	for int64(len(out)) < count {
		h := remoting.PullHeader{ConsumerGroup: browseGroup, Topic: topic, QueueID: queue, QueueOffset: offset,
			MaxMsgNums: int32(min(count-int64(len(out)), 256)), SysFlag: remoting.PullFlagSubscription,
			Subscription: "*", ExpressionType: "TAG"}
		cmd := remoting.NewRequest(remoting.RequestPullMessage)
		h.Apply(cmd)
		resp, err := c.Invoke(addr, cmd, remoting.ResponsePullNotFound, remoting.ResponsePullOffsetMoved,
			remoting.ResponsePullRetryImmediately)
		if err != nil {
			return nil, err
		}
		rh, err := remoting.ParsePullResponseHeader(resp)
		if err != nil {
			return nil, bodyError(addr, err)
		}
		switch resp.Code {
		case remoting.ResponsePullNotFound:
			return out, nil
		case remoting.ResponsePullOffsetMoved:
			if offset == rh.NextBeginOffset || rh.NextBeginOffset >= rh.MaxOffset {
				return out, nil
			}
			c.opts.Notice(fmt.Sprintf("offset %d is outside [%d, %d); continuing at %d", offset, rh.MinOffset, rh.MaxOffset, rh.NextBeginOffset))
		case remoting.ResponseSuccess:
			msgs, err := decodeMessages(addr, resp.Body)
			if err != nil {
				return nil, err
			}
			out = append(out, msgs[:min(len(msgs), int(count)-len(out))]...)
		}
		if rh.NextBeginOffset <= offset {
			return out, nil
		}
		offset = rh.NextBeginOffset
	}
	return out, nil
}

// SearchOffset answers the first offset of a queue stored at or after ts
// (SEARCH_OFFSET_BY_TIMESTAMP; the max offset when every message is older).
func (c *Client) SearchOffset(addr, topic string, queue int32, ts int64) (int64, error) {
	cmd := remoting.NewRequest(remoting.RequestSearchOffsetByTimestamp)
	cmd.Ext.Set("topic", topic)
	cmd.Ext.Set("queueId", strconv.Itoa(int(queue)))
	cmd.Ext.Set("timestamp", strconv.FormatInt(ts, 10))
	resp, err := c.Invoke(addr, cmd)
	if err != nil {
		return 0, err
	}
	off, err := resp.ExtInt64("offset")
	if err != nil {
		return 0, bodyError(addr, err)
	}
	return off, nil
}

// MessagesByTime lists up to limit messages of a topic stored within
// [begin, end] (unix ms), oldest first, reading each queue from the offset
// its broker finds for begin.
func (c *Client) MessagesByTime(topic string, begin, end int64, limit int) ([]Message, error) {
	if end < begin {
		return nil, invalid("the time range ends before it begins")
	}
	queues, err := c.TopicStatus(topic)
	if err != nil && queues == nil {
		return nil, err
	}
	out := []Message{}
	for _, q := range queues {
		from, err := c.SearchOffset(q.BrokerAddr, topic, q.QueueID, begin)
		if err != nil {
			return nil, err
		}
		msgs, err := c.PullRange(q.BrokerAddr, topic, q.QueueID, from, int64(min(limit, int(q.MaxOffset-from))))
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if m.StoreTimestamp >= begin && m.StoreTimestamp <= end {
				out = append(out, m)
			}
		}
	}
	slices.SortFunc(out, func(a, b Message) int { return int(a.StoreTimestamp - b.StoreTimestamp) })
	return out[:min(len(out), limit)], err
}
