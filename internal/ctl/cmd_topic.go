package ctl

import (
	"cmp"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

func init() {
	register(&command{name: "topic list", args: "[-all]", help: "topics of every broker with queue counts and permissions",
		flags: func(fs *flag.FlagSet, o *cmdOpts) {
			fs.BoolVar(&o.all, "all", false, "include the broker's system topics")
		}, run: runTopicList})
	register(&command{name: "topic create", args: "<topic> [-queues N] [-read N] [-write N] [-perm 6] [-order] [-force]",
		help: "create (or overwrite) a topic on every master, or on -broker", minArgs: 1, maxArgs: 1,
		flags: func(fs *flag.FlagSet, o *cmdOpts) {
			fs.IntVar(&o.queues, "queues", 0, "read and write queue count (default: the broker's default-queue-nums, as auto-create uses)")
			fs.BoolVar(&o.force, "force", false, "allow a reserved name (%RETRY%..., %DLQ%..., system topics)")
			fs.IntVar(&o.readQueues, "read", 0, "read queue count (default -queues)")
			fs.IntVar(&o.writeQueues, "write", 0, "write queue count (default -queues)")
			fs.IntVar(&o.perm, "perm", 6, "permission bits: 2 write, 4 read, 6 both")
			fs.BoolVar(&o.order, "order", false, "orderly topic")
		}, run: runTopicCreate})
	register(&command{name: "topic update", args: "<topic> [-queues N] [-read N] [-write N] [-perm P] [-order true|false]",
		help: "change an existing topic where it exists; unset flags keep their value", minArgs: 1, maxArgs: 1,
		flags: func(fs *flag.FlagSet, o *cmdOpts) {
			fs.IntVar(&o.queues, "queues", -1, "read and write queue count")
			fs.IntVar(&o.readQueues, "read", -1, "read queue count")
			fs.IntVar(&o.writeQueues, "write", -1, "write queue count")
			fs.IntVar(&o.perm, "perm", -1, "permission bits: 2 write, 4 read, 6 both")
			fs.StringVar(&o.key, "order", "", "true or false")
			fs.BoolVar(&o.force, "force", false, "allow a reserved name (%RETRY%..., %DLQ%..., system topics)")
		}, run: runTopicUpdate})
	register(&command{name: "topic delete", args: "<topic> [-force]", help: "delete a topic from its brokers and the name servers",
		minArgs: 1, maxArgs: 1, flags: func(fs *flag.FlagSet, o *cmdOpts) {
			fs.BoolVar(&o.force, "force", false, "allow a reserved name (%RETRY%..., %DLQ%..., system topics)")
		}, run: runTopicDelete})
	register(&command{name: "topic route", args: "<topic>", help: "the topic's route as the name server gives it to clients",
		minArgs: 1, maxArgs: 1, run: runTopicRoute})
	register(&command{name: "topic status", args: "<topic>", help: "per-queue min/max offsets and last store time",
		minArgs: 1, maxArgs: 1, run: runTopicStatus})
}

// topicConfigs fetches a broker's topic table.
func (e *env) topicConfigs(addr string) (map[string]routing.TopicConfig, error) {
	resp, err := e.invoke(addr, remoting.NewRequest(remoting.RequestGetAllTopicConfig))
	if err != nil {
		return nil, err
	}
	t, err := adminwire.DecodeTopicConfigTable(resp.Body)
	if err != nil {
		return nil, brokerBodyError(addr, err)
	}
	return t.TopicConfigTable, nil
}

// isSystemTopic tells the broker's own topics from the users'.
func isSystemTopic(name string, brokerNames map[string]bool) bool {
	return remoting.IsSystemTopic(name) || strings.HasSuffix(name, remoting.ReplyTopicSuffix) ||
		strings.HasPrefix(name, "RMQ_SYS_") || brokerNames[name]
}

type topicRow struct {
	Topic       string `json:"topic"`
	BrokerAddr  string `json:"brokerAddr"`
	ReadQueues  int32  `json:"readQueueNums"`
	WriteQueues int32  `json:"writeQueueNums"`
	Perm        int32  `json:"perm"`
	Order       bool   `json:"order"`
}

func runTopicList(e *env, o *cmdOpts, _ []string) error {
	brokers, err := e.masters()
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, b := range brokers {
		names[b.Name] = true
	}
	tables, errs := perBroker(e, brokers, func(b brokerRef) (map[string]routing.TopicConfig, error) {
		return e.topicConfigs(b.Addr)
	})
	rows := []topicRow{}
	for addr, tbl := range tables {
		for name, c := range tbl {
			if o.all || !isSystemTopic(name, names) {
				rows = append(rows, topicRow{Topic: name, BrokerAddr: addr, ReadQueues: c.ReadQueueNums,
					WriteQueues: c.WriteQueueNums, Perm: c.Perm, Order: c.Order})
			}
		}
	}
	slices.SortFunc(rows, func(a, b topicRow) int { return strings.Compare(a.Topic+" "+a.BrokerAddr, b.Topic+" "+b.BrokerAddr) })
	t := newTable("TOPIC", "BROKER", "READ", "WRITE", "PERM", "ORDER")
	for _, r := range rows {
		t.add(r.Topic, r.BrokerAddr, r.ReadQueues, r.WriteQueues, permString(r.Perm), r.Order)
	}
	if err := e.emit(rows, t); err != nil {
		return err
	}
	return worst(errs)
}

func permString(p int32) string {
	s := ""
	if p&4 != 0 {
		s += "r"
	}
	if p&2 != 0 {
		s += "w"
	}
	if s == "" {
		s = "-"
	}
	return fmt.Sprintf("%s(%d)", s, p)
}

func createTopicRequest(c routing.TopicConfig) *remoting.Command {
	cmd := remoting.NewRequest(remoting.RequestUpdateAndCreateTopic)
	cmd.Ext.Set("topic", c.TopicName)
	cmd.Ext.Set("defaultTopic", remoting.AutoCreateTopicKey)
	cmd.Ext.Set("readQueueNums", strconv.Itoa(int(c.ReadQueueNums)))
	cmd.Ext.Set("writeQueueNums", strconv.Itoa(int(c.WriteQueueNums)))
	cmd.Ext.Set("perm", strconv.Itoa(int(c.Perm)))
	cmd.Ext.Set("topicFilterType", "SINGLE_TAG")
	cmd.Ext.Set("topicSysFlag", "0")
	cmd.Ext.Set("order", strconv.FormatBool(c.Order))
	return cmd
}

type resultRow struct {
	BrokerAddr string `json:"brokerAddr"`
	Result     string `json:"result"`
}

// applyTopic sends one topic config to each broker and reports per broker.
func (e *env) applyTopic(targets map[string]routing.TopicConfig) error {
	addrs := slices.Sorted(maps.Keys(targets))
	rows := []resultRow{}
	var errs []error
	t := newTable("BROKER", "RESULT")
	for _, addr := range addrs {
		c := targets[addr]
		result := fmt.Sprintf("ok: read %d write %d perm %d order %t", c.ReadQueueNums, c.WriteQueueNums, c.Perm, c.Order)
		if _, err := e.invoke(addr, createTopicRequest(c)); err != nil {
			errs = append(errs, err)
			result = err.Error()
		}
		rows = append(rows, resultRow{addr, result})
		t.add(addr, result)
	}
	if err := e.emit(rows, t); err != nil {
		return err
	}
	return worst(errs)
}

func validQueues(n int) bool { return n >= 1 && n <= 1024 }

func runTopicCreate(e *env, o *cmdOpts, args []string) error {
	if o.queues < 0 || o.readQueues < 0 || o.writeQueues < 0 {
		return usageError("queue counts must be within 1..1024")
	}
	brokers, err := e.masters()
	if err != nil {
		return err
	}
	if err := e.checkReserved(args[0], o.force, brokers); err != nil {
		return err
	}
	targets := map[string]routing.TopicConfig{}
	for _, b := range brokers {
		queues := o.queues
		if queues == 0 {
			queues = e.autoCreateQueues(b.Addr)
		}
		c := routing.TopicConfig{TopicName: args[0], Perm: int32(o.perm), Order: o.order,
			ReadQueueNums: int32(cmp0(o.readQueues, queues)), WriteQueueNums: int32(cmp0(o.writeQueues, queues))}
		if !validQueues(int(c.ReadQueueNums)) || !validQueues(int(c.WriteQueueNums)) {
			return usageError("queue counts must be within 1..1024")
		}
		targets[b.Addr] = c
	}
	return e.applyTopic(targets)
}

// cmp0 returns v, or def when v is 0.
func cmp0(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func runTopicUpdate(e *env, o *cmdOpts, args []string) error {
	topic := args[0]
	if err := e.checkReserved(topic, o.force, nil); err != nil {
		return err
	}
	holders, err := e.topicHolders(topic)
	if err != nil {
		return err
	}
	targets := map[string]routing.TopicConfig{}
	for addr, c := range holders {
		if err := o.applyUpdate(&c); err != nil {
			return err
		}
		targets[addr] = c
	}
	return e.applyTopic(targets)
}

func (o *cmdOpts) applyUpdate(c *routing.TopicConfig) error {
	if o.queues >= 0 {
		c.ReadQueueNums, c.WriteQueueNums = int32(o.queues), int32(o.queues)
	}
	if o.readQueues >= 0 {
		c.ReadQueueNums = int32(o.readQueues)
	}
	if o.writeQueues >= 0 {
		c.WriteQueueNums = int32(o.writeQueues)
	}
	if o.perm >= 0 {
		c.Perm = int32(o.perm)
	}
	if o.key != "" {
		order, err := strconv.ParseBool(o.key)
		if err != nil {
			return usageError("-order %q: want true or false", o.key)
		}
		c.Order = order
	}
	if !validQueues(int(c.ReadQueueNums)) || !validQueues(int(c.WriteQueueNums)) {
		return usageError("queue counts must be within 1..1024")
	}
	return nil
}

// topicHolders returns the topic's config on each addressed master that
// has it; none is ErrNotFound.
func (e *env) topicHolders(topic string) (map[string]routing.TopicConfig, error) {
	brokers, err := e.masters()
	if err != nil {
		return nil, err
	}
	tables, errs := perBroker(e, brokers, func(b brokerRef) (map[string]routing.TopicConfig, error) {
		return e.topicConfigs(b.Addr)
	})
	out := map[string]routing.TopicConfig{}
	for addr, tbl := range tables {
		if c, ok := tbl[topic]; ok {
			out[addr] = c
		}
	}
	if len(out) == 0 {
		if err := worst(errs); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: topic %s exists on no broker", ErrNotFound, topic)
	}
	return out, nil
}

func runTopicDelete(e *env, o *cmdOpts, args []string) error {
	topic := args[0]
	if err := e.checkReserved(topic, o.force, nil); err != nil {
		return err
	}
	holders, err := e.topicHolders(topic)
	if err != nil {
		return err
	}
	rows := []resultRow{}
	var errs []error
	t := newTable("SERVER", "RESULT")
	record := func(addr string, err error) {
		result := "deleted"
		if err != nil {
			errs, result = append(errs, err), err.Error()
		}
		rows = append(rows, resultRow{addr, result})
		t.add(addr, result)
	}
	for _, addr := range slices.Sorted(maps.Keys(holders)) {
		cmd := remoting.NewRequest(remoting.RequestDeleteTopicInBroker)
		cmd.Ext.Set("topic", topic)
		_, err := e.invoke(addr, cmd)
		record(addr, err)
	}
	for _, ns := range e.namesrvAddrs() {
		cmd := remoting.NewRequest(remoting.RequestDeleteTopicInNameSrv)
		cmd.Ext.Set("topic", topic)
		_, err := e.invoke(ns, cmd)
		record(ns+" (name server)", err)
	}
	if err := e.emit(rows, t); err != nil {
		return err
	}
	return worst(errs)
}

func runTopicRoute(e *env, _ *cmdOpts, args []string) error {
	r, err := e.route(args[0])
	if err != nil {
		return err
	}
	brokers := newTable("BROKER", "CLUSTER", "ID", "ADDRESS")
	for _, bd := range r.BrokerDatas {
		for _, id := range slices.Sorted(maps.Keys(bd.BrokerAddrs)) {
			brokers.add(bd.BrokerName, bd.Cluster, id, bd.BrokerAddrs[id])
		}
	}
	queues := newTable("BROKER", "READ", "WRITE", "PERM")
	for _, q := range r.QueueDatas {
		queues.add(q.BrokerName, q.ReadQueueNums, q.WriteQueueNums, permString(q.Perm))
	}
	return e.emit(r, brokers, queues)
}

type queueStatusRow struct {
	BrokerAddr          string `json:"brokerAddr"`
	BrokerName          string `json:"brokerName"`
	QueueID             int32  `json:"queueId"`
	MinOffset           int64  `json:"minOffset"`
	MaxOffset           int64  `json:"maxOffset"`
	LastUpdateTimestamp int64  `json:"lastUpdateTimestamp"`
}

func runTopicStatus(e *env, _ *cmdOpts, args []string) error {
	topic := args[0]
	brokers, err := e.topicBrokers(topic)
	if err != nil {
		return err
	}
	stats, errs := perBroker(e, brokers, func(b brokerRef) (*adminwire.TopicStatsTable, error) {
		cmd := remoting.NewRequest(remoting.RequestGetTopicStatsInfo)
		cmd.Ext.Set("topic", topic)
		resp, err := e.invoke(b.Addr, cmd)
		if err != nil {
			return nil, err
		}
		st, err := adminwire.DecodeTopicStatsTable(resp.Body)
		if err != nil {
			return nil, brokerBodyError(b.Addr, err)
		}
		return st, nil
	})
	rows := []queueStatusRow{}
	for addr, st := range stats {
		for _, q := range st.OffsetTable {
			rows = append(rows, queueStatusRow{addr, q.Queue.BrokerName, q.Queue.QueueID, q.Value.MinOffset,
				q.Value.MaxOffset, q.Value.LastUpdateTimestamp})
		}
	}
	if len(rows) == 0 && len(errs) > 0 {
		return worst(errs)
	}
	slices.SortFunc(rows, func(a, b queueStatusRow) int {
		return cmp.Or(strings.Compare(a.BrokerName, b.BrokerName), strings.Compare(a.BrokerAddr, b.BrokerAddr),
			cmp.Compare(a.QueueID, b.QueueID))
	})
	t := newTable("BROKER", "QUEUE", "MIN", "MAX", "MESSAGES", "LAST_UPDATED")
	for _, r := range rows {
		t.add(r.BrokerName, r.QueueID, r.MinOffset, r.MaxOffset, r.MaxOffset-r.MinOffset, millisTime(r.LastUpdateTimestamp))
	}
	if err := e.emit(rows, t); err != nil {
		return err
	}
	return worst(errs)
}
