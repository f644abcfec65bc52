package ctl

import (
	"flag"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cometmq/comet/internal/admin"
)

func init() {
	register(&command{name: "group list", args: "", help: "consumer groups with committed offsets or online members",
		run: runGroupList})
	register(&command{name: "group progress", args: "<group> [-topic T]",
		help: "per-queue broker offset, committed offset and lag of a group", minArgs: 1, maxArgs: 1,
		flags: func(fs *flag.FlagSet, o *cmdOpts) {
			fs.StringVar(&o.topic, "topic", "", "only this topic")
		}, run: runGroupProgress})
	register(&command{name: "group connections", args: "<group>", help: "online clients of a group and their subscriptions",
		minArgs: 1, maxArgs: 1, run: runGroupConnections})
	register(&command{name: "group reset", args: "<group> -topic T (-timestamp WHEN | -offset N [-queue Q]) [-force=false]",
		help: "rewrite a group's committed offsets to a time or an offset", minArgs: 1, maxArgs: 1,
		flags: func(fs *flag.FlagSet, o *cmdOpts) {
			fs.StringVar(&o.topic, "topic", "", "topic whose offsets to reset (required)")
			fs.StringVar(&o.timestamp, "timestamp", "", "now, earliest, latest, unix milliseconds, RFC 3339, or -DURATION (ago)")
			fs.Int64Var(&o.offset, "offset", -1, "reset to this queue offset (clamped to the queue's range)")
			fs.IntVar(&o.queue, "queue", -1, "only this queue id (with -offset)")
			fs.BoolVar(&o.force, "force", true, "also move offsets forward (false: only backwards)")
		}, run: runGroupReset})
}

func runGroupList(e *env, _ *cmdOpts, _ []string) error {
	rows, err := e.admin().Groups()
	if rows == nil {
		return err
	}
	t := newTable("GROUP", "BROKER", "ONLINE", "TOPICS")
	for _, r := range rows {
		t.add(r.Group, r.BrokerAddr, r.Online, strings.Join(r.Topics, ","))
	}
	if emitErr := e.emit(rows, t); emitErr != nil {
		return emitErr
	}
	return err
}

func runGroupProgress(e *env, o *cmdOpts, args []string) error {
	report, partial := e.admin().GroupProgress(args[0], o.topic)
	if report == nil {
		return partial
	}
	t := newTable("TOPIC", "BROKER", "QUEUE", "BROKER_OFFSET", "CONSUMER_OFFSET", "LAG", "LAST_CONSUMED")
	for _, r := range report.Queues {
		t.add(r.Topic, r.BrokerName, r.QueueID, r.BrokerOffset, r.ConsumerOffset, r.Lag, millisTime(r.LastTimestamp))
	}
	t.add("TOTAL", "", "", "", "", report.TotalLag, "")
	if err := e.emit(report, t); err != nil {
		return err
	}
	return partial
}

func runGroupConnections(e *env, _ *cmdOpts, args []string) error {
	conns, partial := e.admin().GroupConnections(args[0])
	if conns == nil {
		return partial
	}
	clients := newTable("BROKER", "CLIENT_ID", "ADDRESS", "MODEL", "TYPE")
	subs := newTable("BROKER", "TOPIC", "TYPE", "EXPRESSION")
	for _, addr := range slices.Sorted(maps.Keys(conns)) {
		cc := conns[addr]
		for _, c := range cc.ConnectionSet {
			clients.add(addr, c.ClientID, c.ClientAddr, cc.MessageModel, cc.ConsumeType)
		}
		for _, topic := range slices.Sorted(maps.Keys(cc.SubscriptionTable)) {
			s := cc.SubscriptionTable[topic]
			subs.add(addr, topic, s.ExpressionType, s.SubString)
		}
	}
	if err := e.emit(conns, clients, subs); err != nil {
		return err
	}
	return partial
}

// parseWhen reads -timestamp into unix milliseconds; -1 means latest.
func parseWhen(s string, now time.Time) (int64, error) {
	ms, err := admin.ParseWhen(s, now)
	if err != nil {
		return 0, usageError("-timestamp %q: want now, earliest, latest, unix milliseconds, RFC 3339 or -DURATION", s)
	}
	return ms, nil
}

func (o *cmdOpts) reset(group string) (admin.Reset, error) {
	r := admin.Reset{Group: group, Topic: o.topic, Offset: o.offset, Queue: o.queue, Force: o.force}
	if o.topic == "" {
		return r, usageError("-topic is required")
	}
	if (o.timestamp == "") == (o.offset < 0) {
		return r, usageError("give exactly one of -timestamp and -offset")
	}
	if o.offset >= 0 {
		return r, nil
	}
	if o.queue >= 0 {
		return r, usageError("-queue goes with -offset")
	}
	ts, err := parseWhen(o.timestamp, time.Now())
	r.Timestamp = ts
	return r, err
}

func runGroupReset(e *env, o *cmdOpts, args []string) error {
	r, err := o.reset(args[0])
	if err != nil {
		return err
	}
	rows, err := e.admin().ResetOffsets(r)
	if rows == nil {
		return err
	}
	t := newTable("TOPIC", "BROKER", "QUEUE", "NEW_OFFSET")
	for _, r := range rows {
		t.add(r.Topic, r.BrokerName, r.QueueID, r.Offset)
	}
	if emitErr := e.emit(rows, t); emitErr != nil {
		return emitErr
	}
	return err
}
