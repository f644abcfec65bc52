package ctl

import (
	"encoding/base64"
	"flag"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cometmq/comet/netio/remoting"
)

func init() {
	register(&command{name: "message view", args: "<msgId> [-topic T]",
		help: "one message by offset message id or by the MSG_ID (unique key) message print shows", minArgs: 1, maxArgs: 1,
		flags: func(fs *flag.FlagSet, o *cmdOpts) {
			fs.StringVar(&o.topic, "topic", "", "topic to search for a unique key (default: every topic)")
		}, run: runMessageView})
	register(&command{name: "message query", args: "-topic T -key K [-begin WHEN] [-end WHEN] [-count N]",
		help: "messages of a topic carrying a key (QUERY_MESSAGE)",
		flags: func(fs *flag.FlagSet, o *cmdOpts) {
			fs.StringVar(&o.topic, "topic", "", "topic (required)")
			fs.StringVar(&o.key, "key", "", "message key or unique key (required)")
			fs.StringVar(&o.begin, "begin", "earliest", "oldest store time to search")
			fs.StringVar(&o.end, "end", "now", "newest store time to search")
			fs.Int64Var(&o.count, "count", 32, "most messages per broker (1..64)")
		}, run: runMessageQuery})
	register(&command{name: "message print", args: "-topic T -queue Q [-offset N] [-count N] [-broker-name B]",
		help: "a queue's messages from an offset, without committing any group offset",
		flags: func(fs *flag.FlagSet, o *cmdOpts) {
			fs.StringVar(&o.topic, "topic", "", "topic (required)")
			fs.IntVar(&o.queue, "queue", -1, "queue id (required)")
			fs.Int64Var(&o.offset, "offset", 0, "first queue offset")
			fs.Int64Var(&o.count, "count", 32, "most messages to print")
			fs.StringVar(&o.brokerName, "broker-name", "", "broker holding the queue (default: the only one)")
		}, run: runMessagePrint})
}

// messageOut is a message as cometctl prints it.
type messageOut struct {
	MsgID           string            `json:"msgId"`
	OffsetMsgID     string            `json:"offsetMsgId"`
	Topic           string            `json:"topic"`
	QueueID         int32             `json:"queueId"`
	QueueOffset     int64             `json:"queueOffset"`
	CommitLogOffset int64             `json:"commitLogOffset"`
	Tags            string            `json:"tags,omitempty"`
	Keys            string            `json:"keys,omitempty"`
	BornTime        string            `json:"bornTime"`
	StoreTime       string            `json:"storeTime"`
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
	raw             []byte
}

func newMessageOut(m *remoting.MessageExt) messageOut {
	out := messageOut{MsgID: m.MsgID, OffsetMsgID: m.OffsetMsgID, Topic: m.Topic, QueueID: m.QueueID,
		QueueOffset: m.QueueOffset, CommitLogOffset: m.CommitLogOffset, Tags: m.Tags(), Keys: m.Keys(),
		BornTime: millisTime(m.BornTimestamp), StoreTime: millisTime(m.StoreTimestamp), BornHost: m.BornHost.String(),
		StoreHost: m.StoreHost.String(), ReconsumeTimes: m.ReconsumeTimes, SysFlag: m.SysFlag, Flag: m.Flag,
		BodyCRC: m.BodyCRC, BodySize: len(m.Body), Properties: m.Properties, raw: m.Body}
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

func decodeMessages(addr string, body []byte) ([]messageOut, error) {
	msgs, err := remoting.DecodeMessages(body)
	if err != nil {
		return nil, brokerBodyError(addr, err)
	}
	out := make([]messageOut, len(msgs))
	for i, m := range msgs {
		out[i] = newMessageOut(m)
	}
	return out, nil
}

func messageDetail(m messageOut) *table {
	t := newTable("FIELD", "VALUE")
	t.add("msgId", m.MsgID)
	t.add("offsetMsgId", m.OffsetMsgID)
	t.add("topic", m.Topic)
	t.add("queue", m.QueueID)
	t.add("queueOffset", m.QueueOffset)
	t.add("commitLogOffset", m.CommitLogOffset)
	t.add("tags", m.Tags)
	t.add("keys", m.Keys)
	t.add("bornTime", m.BornTime+" from "+m.BornHost)
	t.add("storeTime", m.StoreTime+" at "+m.StoreHost)
	t.add("reconsumeTimes", m.ReconsumeTimes)
	t.add("sysFlag", m.SysFlag)
	t.add("bodySize", m.BodySize)
	for _, k := range slices.Sorted(maps.Keys(m.Properties)) {
		t.add("property "+k, m.Properties[k])
	}
	t.add("body", printable(m.raw, 2000))
	return t
}

func runMessageView(e *env, o *cmdOpts, args []string) error {
	id := args[0]
	ip, port, offset, perr := remoting.ParseOffsetMsgID(id)
	addr := e.broker
	if perr == nil && addr == "" {
		addr = net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
	}
	if perr != nil || (e.broker == "" && !e.knownBroker(addr)) {
		if !isUniqueKey(id) {
			return usageError("%q is neither an offset message id nor a MSG_ID (unique key): want 32 hex digits", id)
		}
		if o.topic == "" {
			return e.viewUniqueKeyAnywhere(id)
		}
		return e.queryAndEmit(o.topic, id, 0, time.Now().UnixMilli(), 32, true)
	}
	cmd := remoting.NewRequest(remoting.RequestViewMessageByID)
	cmd.Ext.Set("offset", strconv.FormatInt(offset, 10))
	resp, err := e.invoke(addr, cmd)
	if err != nil {
		if strings.Contains(err.Error(), "no message at offset") {
			return fmt.Errorf("%w: %v", ErrNotFound, err)
		}
		return err
	}
	msgs, err := decodeMessages(addr, resp.Body)
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return fmt.Errorf("%w: no message %s", ErrNotFound, id)
	}
	return e.emit(msgs[0], messageDetail(msgs[0]))
}

// knownBroker reports whether the name server lists addr.
func (e *env) knownBroker(addr string) bool {
	all, err := e.allBrokers()
	if err != nil {
		return false
	}
	return slices.ContainsFunc(all, func(b brokerRef) bool { return b.Addr == addr })
}

func runMessageQuery(e *env, o *cmdOpts, _ []string) error {
	if o.topic == "" || o.key == "" {
		return usageError("-topic and -key are required")
	}
	now := time.Now()
	begin, err := parseWhen(o.begin, now)
	if err != nil {
		return err
	}
	end, err := parseWhen(o.end, now)
	if err != nil {
		return err
	}
	if end < 0 {
		end = now.UnixMilli()
	}
	return e.queryAndEmit(o.topic, o.key, max(begin, 0), end, min(max(o.count, 1), 64), false)
}

// queryAndEmit runs QUERY_MESSAGE on every broker of topic.
func (e *env) queryAndEmit(topic, key string, begin, end, count int64, unique bool) error {
	brokers, err := e.topicBrokers(topic)
	if err != nil {
		return err
	}
	found, errs := perBroker(e, brokers, func(b brokerRef) ([]messageOut, error) {
		cmd := remoting.NewRequest(remoting.RequestQueryMessage)
		cmd.Ext.Set("topic", topic)
		cmd.Ext.Set("key", key)
		cmd.Ext.Set("maxNum", strconv.FormatInt(count, 10))
		cmd.Ext.Set("beginTimestamp", strconv.FormatInt(begin, 10))
		cmd.Ext.Set("endTimestamp", strconv.FormatInt(end, 10))
		if unique {
			cmd.Ext.Set("_UNIQUE_KEY_QUERY", "true")
		}
		resp, err := e.invoke(b.Addr, cmd)
		if err != nil {
			return nil, err
		}
		return decodeMessages(b.Addr, resp.Body)
	})
	msgs := []messageOut{}
	for _, list := range found {
		msgs = append(msgs, list...)
	}
	if len(msgs) == 0 {
		if err := worst(errs); err != nil {
			return err
		}
		return fmt.Errorf("%w: no message with key %s in topic %s", ErrNotFound, key, topic)
	}
	slices.SortFunc(msgs, func(a, b messageOut) int { return strings.Compare(a.StoreTime, b.StoreTime) })
	if unique && len(msgs) == 1 {
		return e.emit(msgs[0], messageDetail(msgs[0]))
	}
	return e.emit(msgs, messageList(msgs))
}

func messageList(msgs []messageOut) *table {
	t := newTable("QUEUE", "OFFSET", "MSG_ID", "STORED", "TAGS", "KEYS", "BODY")
	for _, m := range msgs {
		t.add(m.QueueID, m.QueueOffset, m.MsgID, m.StoreTime, dash(m.Tags), dash(m.Keys), printable(m.raw, 60))
	}
	return t
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printGroup is the consumer group named in print pulls; the pulls never
// carry the commit flag, so no offset of it is ever stored.
const printGroup = "CometctlPrint"

func runMessagePrint(e *env, o *cmdOpts, _ []string) error {
	if o.topic == "" || o.queue < 0 {
		return usageError("-topic and -queue are required")
	}
	if o.offset < 0 || o.count < 1 {
		return usageError("-offset must be >= 0 and -count >= 1")
	}
	addr, err := e.queueBroker(o.topic, o.brokerName)
	if err != nil {
		return err
	}
	msgs, err := e.pullRange(addr, o.topic, int32(o.queue), o.offset, o.count)
	if err != nil {
		return err
	}
	return e.emit(msgs, messageList(msgs))
}

// queueBroker picks the master holding the topic: -broker, the named
// broker, or the only one.
func (e *env) queueBroker(topic, brokerName string) (string, error) {
	brokers, err := e.topicBrokers(topic)
	if err != nil {
		return "", err
	}
	if brokerName == "" {
		if len(brokers) > 1 {
			return "", usageError("topic %s is on %d brokers: choose one with -broker-name", topic, len(brokers))
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

// pullRange pulls up to count messages from offset on, following the
// broker's next offsets, without suspending and without committing.
func (e *env) pullRange(addr, topic string, queue int32, offset, count int64) ([]messageOut, error) {
	out := []messageOut{}
	for int64(len(out)) < count {
		h := remoting.PullHeader{ConsumerGroup: printGroup, Topic: topic, QueueID: queue, QueueOffset: offset,
			MaxMsgNums: int32(min(count-int64(len(out)), 256)), SysFlag: remoting.PullFlagSubscription,
			Subscription: "*", ExpressionType: "TAG"}
		cmd := remoting.NewRequest(remoting.RequestPullMessage)
		h.Apply(cmd)
		resp, err := e.invoke(addr, cmd, remoting.ResponsePullNotFound, remoting.ResponsePullOffsetMoved,
			remoting.ResponsePullRetryImmediately)
		if err != nil {
			return nil, err
		}
		rh, err := remoting.ParsePullResponseHeader(resp)
		if err != nil {
			return nil, brokerBodyError(addr, err)
		}
		switch resp.Code {
		case remoting.ResponsePullNotFound:
			return out, nil
		case remoting.ResponsePullOffsetMoved:
			if offset == rh.NextBeginOffset || rh.NextBeginOffset >= rh.MaxOffset {
				return out, nil
			}
			fmt.Fprintf(e.stderr, "cometctl: offset %d is outside [%d, %d); continuing at %d\n", offset, rh.MinOffset, rh.MaxOffset, rh.NextBeginOffset)
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
