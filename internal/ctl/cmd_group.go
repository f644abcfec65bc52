package ctl

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/netio/remoting"
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

type groupRow struct {
	Group      string   `json:"group"`
	BrokerAddr string   `json:"brokerAddr"`
	Online     bool     `json:"online"`
	Topics     []string `json:"topics"`
}

// brokerGroups lists a broker's groups: those with offsets and those online.
func (e *env) brokerGroups(addr string) (map[string]*groupRow, error) {
	resp, err := e.invoke(addr, remoting.NewRequest(remoting.RequestGetAllConsumerOffset))
	if err != nil {
		return nil, err
	}
	offsets, err := adminwire.DecodeConsumerOffsets(resp.Body)
	if err != nil {
		return nil, brokerBodyError(addr, err)
	}
	groups := map[string]*groupRow{}
	row := func(g string) *groupRow {
		if groups[g] == nil {
			groups[g] = &groupRow{Group: g, BrokerAddr: addr, Topics: []string{}}
		}
		return groups[g]
	}
	for key := range offsets.OffsetTable {
		if topic, g, ok := adminwire.SplitOffsetKey(key); ok && !strings.HasPrefix(topic, "%RETRY%") {
			r := row(g)
			r.Topics = append(r.Topics, topic)
		}
	}
	if resp, err = e.invoke(addr, remoting.NewRequest(remoting.RequestGetAllSubscriptionGroupConfig)); err != nil {
		return nil, err
	}
	online, err := adminwire.DecodeSubscriptionGroups(resp.Body)
	if err != nil {
		return nil, brokerBodyError(addr, err)
	}
	for g := range online.SubscriptionGroupTable {
		row(g)
	}
	for g, r := range groups {
		r.Online = e.groupOnline(addr, g)
	}
	return groups, nil
}

// groupOnline reports whether the broker at addr has a consumer of group
// connected (subscription group configs outlive their consumers).
func (e *env) groupOnline(addr, group string) bool {
	cmd := remoting.NewRequest(remoting.RequestGetConsumerConnectionList)
	cmd.Ext.Set("consumerGroup", group)
	resp, err := e.invoke(addr, cmd)
	if err != nil || resp.Code != remoting.ResponseSuccess {
		return false
	}
	cc, err := adminwire.DecodeConsumerConnection(resp.Body)
	return err == nil && len(cc.ConnectionSet) > 0
}

func runGroupList(e *env, _ *cmdOpts, _ []string) error {
	brokers, err := e.masters()
	if err != nil {
		return err
	}
	byBroker, errs := perBroker(e, brokers, func(b brokerRef) (map[string]*groupRow, error) { return e.brokerGroups(b.Addr) })
	rows := []groupRow{}
	for _, groups := range byBroker {
		for _, r := range groups {
			slices.Sort(r.Topics)
			rows = append(rows, *r)
		}
	}
	slices.SortFunc(rows, func(a, b groupRow) int {
		return cmp.Or(strings.Compare(a.Group, b.Group), strings.Compare(a.BrokerAddr, b.BrokerAddr))
	})
	t := newTable("GROUP", "BROKER", "ONLINE", "TOPICS")
	for _, r := range rows {
		t.add(r.Group, r.BrokerAddr, r.Online, strings.Join(r.Topics, ","))
	}
	if err := e.emit(rows, t); err != nil {
		return err
	}
	return worst(errs)
}

type progressRow struct {
	Topic          string `json:"topic"`
	BrokerName     string `json:"brokerName"`
	BrokerAddr     string `json:"brokerAddr"`
	QueueID        int32  `json:"queueId"`
	BrokerOffset   int64  `json:"brokerOffset"`
	ConsumerOffset int64  `json:"consumerOffset"`
	Lag            int64  `json:"lag"`
	LastTimestamp  int64  `json:"lastTimestamp"`
}

type progressReport struct {
	Group    string        `json:"group"`
	TotalLag int64         `json:"totalLag"`
	Queues   []progressRow `json:"queues"`
}

// onEveryBroker runs fetch on each master, skipping brokers that answer
// "not found"; it is ErrNotFound only when every broker does.
func onEveryBroker[T any](e *env, what string, fetch func(b brokerRef) (T, error)) (map[string]T, error) {
	brokers, err := e.masters()
	if err != nil {
		return nil, err
	}
	out, errs := perBroker(e, brokers, fetch)
	var hard []error
	for _, err := range errs {
		if !errors.Is(err, ErrNotFound) {
			hard = append(hard, err)
		}
	}
	if len(out) == 0 {
		if len(hard) > 0 {
			return nil, worst(hard)
		}
		return nil, fmt.Errorf("%w: %s", ErrNotFound, what)
	}
	return out, worst(hard)
}

func runGroupProgress(e *env, o *cmdOpts, args []string) error {
	group := args[0]
	stats, partial := onEveryBroker(e, "consumer group "+group+" has no offsets or subscriptions on any broker",
		func(b brokerRef) (*adminwire.ConsumeStats, error) {
			cmd := remoting.NewRequest(remoting.RequestGetConsumeStats)
			cmd.Ext.Set("consumerGroup", group)
			if o.topic != "" {
				cmd.Ext.Set("topic", o.topic)
			}
			resp, err := e.invoke(b.Addr, cmd)
			if err != nil {
				return nil, err
			}
			st, err := adminwire.DecodeConsumeStats(resp.Body)
			if err != nil {
				return nil, brokerBodyError(b.Addr, err)
			}
			return st, nil
		})
	if stats == nil {
		return partial
	}
	report := progressReport{Group: group, Queues: []progressRow{}}
	for addr, st := range stats {
		for _, q := range st.OffsetTable {
			lag := q.Value.Lag()
			report.TotalLag += lag
			report.Queues = append(report.Queues, progressRow{q.Queue.Topic, q.Queue.BrokerName, addr, q.Queue.QueueID,
				q.Value.BrokerOffset, q.Value.ConsumerOffset, lag, q.Value.LastTimestamp})
		}
	}
	slices.SortFunc(report.Queues, func(a, b progressRow) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), strings.Compare(a.BrokerName, b.BrokerName), cmp.Compare(a.QueueID, b.QueueID))
	})
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
	group := args[0]
	conns, partial := onEveryBroker(e, "consumer group "+group+" is not online on any broker",
		func(b brokerRef) (*adminwire.ConsumerConnection, error) {
			cmd := remoting.NewRequest(remoting.RequestGetConsumerConnectionList)
			cmd.Ext.Set("consumerGroup", group)
			resp, err := e.invoke(b.Addr, cmd)
			if err != nil {
				return nil, err
			}
			cc, err := adminwire.DecodeConsumerConnection(resp.Body)
			if err != nil {
				return nil, brokerBodyError(b.Addr, err)
			}
			return cc, nil
		})
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
	switch s {
	case "now":
		return now.UnixMilli(), nil
	case "latest", "-1":
		return -1, nil
	case "earliest":
		return 0, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms >= 0 {
		return ms, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UnixMilli(), nil
	}
	if strings.HasPrefix(s, "-") {
		if d, err := time.ParseDuration(s[1:]); err == nil {
			return now.Add(-d).UnixMilli(), nil
		}
	}
	return 0, usageError("-timestamp %q: want now, earliest, latest, unix milliseconds, RFC 3339 or -DURATION", s)
}

type resetRow struct {
	BrokerAddr string `json:"brokerAddr"`
	BrokerName string `json:"brokerName"`
	Topic      string `json:"topic"`
	QueueID    int32  `json:"queueId"`
	Offset     int64  `json:"offset"`
}

func (o *cmdOpts) resetRequest(group string) (*remoting.Command, error) {
	if o.topic == "" {
		return nil, usageError("-topic is required")
	}
	if (o.timestamp == "") == (o.offset < 0) {
		return nil, usageError("give exactly one of -timestamp and -offset")
	}
	cmd := remoting.NewRequest(remoting.RequestInvokeBrokerToResetOffset)
	cmd.Ext.Set("topic", o.topic)
	cmd.Ext.Set("group", group)
	cmd.Ext.Set("isForce", strconv.FormatBool(o.force))
	if o.offset >= 0 {
		cmd.Ext.Set("timestamp", "0")
		cmd.Ext.Set("offset", strconv.FormatInt(o.offset, 10))
		cmd.Ext.Set("queueId", strconv.Itoa(o.queue))
		return cmd, nil
	}
	if o.queue >= 0 {
		return nil, usageError("-queue goes with -offset")
	}
	ts, err := parseWhen(o.timestamp, time.Now())
	if err != nil {
		return nil, err
	}
	cmd.Ext.Set("timestamp", strconv.FormatInt(ts, 10))
	return cmd, nil
}

func runGroupReset(e *env, o *cmdOpts, args []string) error {
	group := args[0]
	if _, err := o.resetRequest(group); err != nil {
		return err
	}
	brokers, err := e.topicBrokers(o.topic)
	if err != nil {
		return err
	}
	tables, errs := perBroker(e, brokers, func(b brokerRef) (*adminwire.ResetOffsetBody, error) {
		cmd, _ := o.resetRequest(group)
		resp, err := e.invoke(b.Addr, cmd)
		if err != nil {
			return nil, err
		}
		body, err := adminwire.DecodeResetOffsetBody(resp.Body)
		if err != nil {
			return nil, brokerBodyError(b.Addr, err)
		}
		return body, nil
	})
	rows := []resetRow{}
	for addr, body := range tables {
		for _, q := range body.OffsetTable {
			rows = append(rows, resetRow{addr, q.Queue.BrokerName, q.Queue.Topic, q.Queue.QueueID, q.Value})
		}
	}
	slices.SortFunc(rows, func(a, b resetRow) int {
		return cmp.Or(strings.Compare(a.BrokerName, b.BrokerName), cmp.Compare(a.QueueID, b.QueueID))
	})
	t := newTable("TOPIC", "BROKER", "QUEUE", "NEW_OFFSET")
	for _, r := range rows {
		t.add(r.Topic, r.BrokerName, r.QueueID, r.Offset)
	}
	if err := e.emit(rows, t); err != nil {
		return err
	}
	return worst(errs)
}
