package ctl

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/cometmq/comet/internal/admin"
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
			fs.BoolVar(&o.force, "force", false, forceHelp)
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
			fs.BoolVar(&o.force, "force", false, forceHelp)
		}, run: runTopicUpdate})
	register(&command{name: "topic delete", args: "<topic> [-force]", help: "delete a topic from its brokers and the name servers",
		minArgs: 1, maxArgs: 1, flags: func(fs *flag.FlagSet, o *cmdOpts) {
			fs.BoolVar(&o.force, "force", false, forceHelp)
		}, run: runTopicDelete})
	register(&command{name: "topic route", args: "<topic>", help: "the topic's route as the name server gives it to clients",
		minArgs: 1, maxArgs: 1, run: runTopicRoute})
	register(&command{name: "topic status", args: "<topic>", help: "per-queue min/max offsets and last store time",
		minArgs: 1, maxArgs: 1, run: runTopicStatus})
}

func runTopicList(e *env, o *cmdOpts, _ []string) error {
	rows, err := e.admin().Topics(o.all)
	if rows == nil {
		return err
	}
	t := newTable("TOPIC", "BROKER", "READ", "WRITE", "PERM", "ORDER")
	for _, r := range rows {
		t.add(r.Topic, r.BrokerAddr, r.ReadQueues, r.WriteQueues, permString(r.Perm), r.Order)
	}
	if emitErr := e.emit(rows, t); emitErr != nil {
		return emitErr
	}
	return err
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

// forceHelp is the -force flag of the topic changes.
const forceHelp = "allow a reserved name (%RETRY%..., %DLQ%..., system topics)"

// emitResults prints per-server outcomes of a change.
func (e *env) emitResults(rows []resultRow, err error, serverHeader string) error {
	if errors.Is(err, admin.ErrReserved) {
		err = fmt.Errorf("%w; add -force to change it anyway", err)
	}
	if rows == nil {
		return err
	}
	t := newTable(serverHeader, "RESULT")
	for _, r := range rows {
		t.add(r.BrokerAddr, r.Result)
	}
	if emitErr := e.emit(rows, t); emitErr != nil {
		return emitErr
	}
	return err
}

// runTopicCreate creates a topic; a queue count left at 0 is each broker's
// auto-create count (admin.CreateTopic asks the broker).
func runTopicCreate(e *env, o *cmdOpts, args []string) error {
	c := routing.TopicConfig{TopicName: args[0], Perm: int32(o.perm), Order: o.order,
		ReadQueueNums: int32(cmp0(o.readQueues, o.queues)), WriteQueueNums: int32(cmp0(o.writeQueues, o.queues))}
	if !validQueues(c.ReadQueueNums) || !validQueues(c.WriteQueueNums) {
		return usageError("queue counts must be within 1..%d", admin.MaxQueues)
	}
	rows, err := e.admin().CreateTopic(c, o.force)
	return e.emitResults(rows, err, "BROKER")
}

// validQueues accepts a queue count, 0 standing for the broker's default.
func validQueues(n int32) bool { return n >= 0 && n <= admin.MaxQueues }

// cmp0 returns v, or def when v is 0.
func cmp0(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func runTopicUpdate(e *env, o *cmdOpts, args []string) error {
	var order *bool
	if o.key != "" {
		v, err := strconv.ParseBool(o.key)
		if err != nil {
			return usageError("-order %q: want true or false", o.key)
		}
		order = &v
	}
	rows, err := e.admin().UpdateTopic(args[0], o.force, func(c *routing.TopicConfig) { o.applyUpdate(c, order) })
	return e.emitResults(rows, err, "BROKER")
}

func (o *cmdOpts) applyUpdate(c *routing.TopicConfig, order *bool) {
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
	if order != nil {
		c.Order = *order
	}
}

func runTopicDelete(e *env, o *cmdOpts, args []string) error {
	rows, err := e.admin().DeleteTopic(args[0], o.force)
	return e.emitResults(rows, err, "SERVER")
}

func runTopicRoute(e *env, _ *cmdOpts, args []string) error {
	r, err := e.admin().Route(args[0])
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

func runTopicStatus(e *env, _ *cmdOpts, args []string) error {
	rows, err := e.admin().TopicStatus(args[0])
	if rows == nil {
		return err
	}
	t := newTable("BROKER", "QUEUE", "MIN", "MAX", "MESSAGES", "LAST_UPDATED")
	for _, r := range rows {
		t.add(r.BrokerName, r.QueueID, r.MinOffset, r.MaxOffset, r.MaxOffset-r.MinOffset, millisTime(r.LastUpdateTimestamp))
	}
	if emitErr := e.emit(rows, t); emitErr != nil {
		return emitErr
	}
	return err
}
