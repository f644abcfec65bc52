package ctl

import (
	"flag"
	"maps"
	"slices"
	"time"

	"github.com/cometmq/comet/internal/admin"
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
	t.add("body", printable(m.Raw, 2000))
	return t
}

func runMessageView(e *env, o *cmdOpts, args []string) error {
	msgs, err := e.admin().ViewMessage(args[0], o.topic)
	if err != nil {
		return err
	}
	if len(msgs) == 1 {
		return e.emit(msgs[0], messageDetail(msgs[0]))
	}
	return e.emit(msgs, messageList(msgs))
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
	msgs, err := e.admin().QueryMessages(admin.Query{Topic: o.topic, Key: o.key, Begin: max(begin, 0), End: end, Max: o.count})
	if err != nil {
		return err
	}
	return e.emit(msgs, messageList(msgs))
}

func messageList(msgs []messageOut) *table {
	t := newTable("QUEUE", "OFFSET", "MSG_ID", "STORED", "TAGS", "KEYS", "BODY")
	for _, m := range msgs {
		t.add(m.QueueID, m.QueueOffset, m.MsgID, m.StoreTime, dash(m.Tags), dash(m.Keys), printable(m.Raw, 60))
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
const printGroup = admin.BrowseGroup

func runMessagePrint(e *env, o *cmdOpts, _ []string) error {
	if o.topic == "" || o.queue < 0 {
		return usageError("-topic and -queue are required")
	}
	if o.offset < 0 || o.count < 1 {
		return usageError("-offset must be >= 0 and -count >= 1")
	}
	addr, err := e.admin().QueueBroker(o.topic, o.brokerName)
	if err != nil {
		return err
	}
	msgs, err := e.admin().PullRange(addr, o.topic, int32(o.queue), o.offset, o.count)
	if err != nil {
		return err
	}
	return e.emit(msgs, messageList(msgs))
}
