package actors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
	"github.com/cometmq/comet/routing"
)

// Subscription group configs: what an operator sets for a consumer group
// with mqadmin updateSubGroup (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP) and
// removes with deleteSubGroup (DELETE_SUBSCRIPTIONGROUP). A group without
// one behaves as RocketMQ's default config says (DefaultSubscriptionGroup).
// The broker honours a group's config:
//
//	consumeEnable=false            pulls answered NO_PERMISSION
//	consumeBroadcastEnable=false   pulls of a broadcasting member answered NO_PERMISSION
//	retryMaxTimes                  send-backs beyond it go to %DLQ%group; a
//	                               client's own maxReconsumeTimes applies only below it
//	retryQueueNums                 queues of %RETRY%group when it is created;
//	                               send-backs spread over its write queues
//	brokerId                       suggestWhichBrokerId of pulls near the log end
//	whichBrokerWhenConsumeSlowly   suggestWhichBrokerId of pulls far behind it
//	notifyConsumerIdsChangedEnable false: members are not told of rebalances
//
// The table lives in <data>/config/subscriptionGroup.json, RocketMQ's
// layout (part of the format: do not change):
//
//	{"dataVersion":{"counter":n,"timestamp":ms},
//	 "subscriptionGroupTable":{"g":{"brokerId":0,"consumeBroadcastEnable":true,
//	   "consumeEnable":true,"consumeFromMinEnable":true,"groupName":"g",
//	   "notifyConsumerIdsChangedEnable":true,"retryMaxTimes":16,
//	   "retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}}}
//
// A change is written (atomically, through persist.FS) before it is
// published and answered; pulls read the published table without locks.

// SubscriptionGroupConfig is one consumer group's config (RocketMQ 4.9.8
// SubscriptionGroupConfig).
type SubscriptionGroupConfig struct {
	BrokerID                       int64  `json:"brokerId"`
	ConsumeBroadcastEnable         bool   `json:"consumeBroadcastEnable"`
	ConsumeEnable                  bool   `json:"consumeEnable"`
	ConsumeFromMinEnable           bool   `json:"consumeFromMinEnable"`
	GroupName                      string `json:"groupName"`
	NotifyConsumerIDsChangedEnable bool   `json:"notifyConsumerIdsChangedEnable"`
	RetryMaxTimes                  int32  `json:"retryMaxTimes"`
	RetryQueueNums                 int32  `json:"retryQueueNums"`
	WhichBrokerWhenConsumeSlowly   int64  `json:"whichBrokerWhenConsumeSlowly"`
}

// DefaultSubscriptionGroup is the config of a group nobody configured.
func DefaultSubscriptionGroup(name string) SubscriptionGroupConfig {
	return SubscriptionGroupConfig{GroupName: name, ConsumeEnable: true, ConsumeFromMinEnable: true,
		ConsumeBroadcastEnable: true, RetryQueueNums: 1, RetryMaxTimes: 16, WhichBrokerWhenConsumeSlowly: 1,
		NotifyConsumerIDsChangedEnable: true}
}

// maxRetryQueueNums bounds retryQueueNums as topic queue counts are bounded.
const maxRetryQueueNums = 1024

// ErrBadSubscriptionGroup classes a config the broker refuses.
var ErrBadSubscriptionGroup = errors.New("actors: bad subscription group config")

// validate checks a config from the network.
func (c *SubscriptionGroupConfig) validate() error {
	switch {
	case c.RetryQueueNums < 0 || c.RetryQueueNums > maxRetryQueueNums:
		return fmt.Errorf("%w: retryQueueNums %d outside 0..%d", ErrBadSubscriptionGroup, c.RetryQueueNums, maxRetryQueueNums)
	case c.RetryMaxTimes < -1:
		return fmt.Errorf("%w: retryMaxTimes %d below -1", ErrBadSubscriptionGroup, c.RetryMaxTimes)
	case c.BrokerID < 0 || c.WhichBrokerWhenConsumeSlowly < 0:
		return fmt.Errorf("%w: negative broker id", ErrBadSubscriptionGroup)
	}
	return nil
}

// subGroupFile is the on-disk and GET_ALL_SUBSCRIPTIONGROUP_CONFIG form.
type subGroupFile struct {
	DataVersion            routing.DataVersion                `json:"dataVersion"`
	SubscriptionGroupTable map[string]SubscriptionGroupConfig `json:"subscriptionGroupTable"`
}

// subGroupTable holds the configured groups.
type subGroupTable struct {
	fs        persist.FS
	path      string
	published atomic.Pointer[subGroupFile] // read without locks; replaced whole
	writeMu   sync.Mutex                   // one change at a time
}

func loadSubGroups(fsys persist.FS, dir string) (*subGroupTable, error) {
	t := &subGroupTable{fs: fsys, path: filepath.Join(dir, "config", "subscriptionGroup.json")}
	f := &subGroupFile{SubscriptionGroupTable: map[string]SubscriptionGroupConfig{}}
	t.published.Store(f)
	if _, err := persist.RemoveMetaTemps(fsys, t.path); err != nil {
		return nil, fmt.Errorf("actors: subscription groups: %w", err)
	}
	data, err := persist.ReadFile(fsys, t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("actors: read subscription groups: %w", err)
	}
	if err := json.Unmarshal(data, f); err != nil {
		return nil, fmt.Errorf("actors: parse %s: %w", t.path, err)
	}
	for name := range f.SubscriptionGroupTable {
		if remoting.ValidateGroup(name) != nil {
			delete(f.SubscriptionGroupTable, name)
		}
	}
	if f.SubscriptionGroupTable == nil {
		f.SubscriptionGroupTable = map[string]SubscriptionGroupConfig{}
	}
	return t, nil
}

// get returns a group's explicit config. A nil table (a broker built
// without one in tests) has none.
func (t *subGroupTable) get(name string) (SubscriptionGroupConfig, bool) {
	if t == nil {
		return SubscriptionGroupConfig{}, false
	}
	c, ok := t.published.Load().SubscriptionGroupTable[name]
	return c, ok
}

// config returns a group's config, the default when it has none.
func (t *subGroupTable) config(name string) SubscriptionGroupConfig {
	if c, ok := t.get(name); ok {
		return c
	}
	return DefaultSubscriptionGroup(name)
}

// change applies fn to a copy of the table, writes it and publishes it.
func (t *subGroupTable) change(fn func(table map[string]SubscriptionGroupConfig) bool) error {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	old := t.published.Load()
	next := &subGroupFile{DataVersion: old.DataVersion, SubscriptionGroupTable: maps.Clone(old.SubscriptionGroupTable)}
	if !fn(next.SubscriptionGroupTable) {
		return nil
	}
	next.DataVersion = routing.DataVersion{Counter: old.DataVersion.Counter + 1, Timestamp: time.Now().UnixMilli()}
	data, err := json.Marshal(next)
	if err == nil {
		err = persist.WriteFileAtomic(t.fs, t.path, data)
	}
	if err != nil {
		return fmt.Errorf("actors: write subscription groups: %w", err)
	}
	t.published.Store(next)
	return nil
}

// subGroupNames lists the configured groups, sorted.
func (b *Broker) subGroupNames() []string {
	if b.subGroups == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(b.subGroups.published.Load().SubscriptionGroupTable))
}

// adminUpdateSubGroup answers UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: the
// body is the whole config (RocketMQ's JSON); it is durable when answered.
func (b *Broker) adminUpdateSubGroup(req *remoting.Command) *remoting.Command {
	c := DefaultSubscriptionGroup("")
	if err := json.Unmarshal(req.Body, &c); err != nil {
		return failure(req, remoting.ResponseSystemError, "bad subscription group body: %v", err)
	}
	if code, remark := checkName(consumerGroupName, c.GroupName); code != remoting.ResponseSuccess {
		b.log.Warn("actors: request with an invalid name refused", "request", remoting.RequestName(req.Code),
			"field", "groupName", "response", remoting.ResponseName(code), "err", remark)
		return failure(req, code, "%s", remark)
	}
	if err := c.validate(); err != nil {
		b.log.Warn("actors: subscription group refused", "group", c.GroupName, "err", err)
		return failure(req, remoting.ResponseSystemError, "%v", err)
	}
	err := b.subGroups.change(func(table map[string]SubscriptionGroupConfig) bool {
		if old, ok := table[c.GroupName]; ok && old == c {
			return false
		}
		table[c.GroupName] = c
		return true
	})
	if err != nil {
		b.log.Error("actors: store subscription group", "group", c.GroupName, "err", err)
		return failure(req, remoting.ResponseSystemError, "%v", err)
	}
	b.log.Info("actors: subscription group updated", "group", c.GroupName, "consumeEnable", c.ConsumeEnable,
		"retryMaxTimes", c.RetryMaxTimes, "retryQueueNums", c.RetryQueueNums)
	return success(req, nil)
}

// adminDeleteSubGroup answers DELETE_SUBSCRIPTIONGROUP: the config goes
// (the group behaves as the default again) and, with removeOffset, its
// committed offsets too.
func (b *Broker) adminDeleteSubGroup(req *remoting.Command) *remoting.Command {
	name, err := req.ExtString("groupName")
	if err != nil {
		return failure(req, remoting.ResponseSystemError, "bad header: %v", err)
	}
	err = b.subGroups.change(func(table map[string]SubscriptionGroupConfig) bool {
		_, ok := table[name]
		delete(table, name)
		return ok
	})
	if err != nil {
		return failure(req, remoting.ResponseSystemError, "%v", err)
	}
	if removeOffset, _ := req.ExtBool("removeOffset"); removeOffset {
		b.offsets.dropGroup(name)
		if err := b.offsets.persist(); err != nil {
			b.log.Error("actors: persist offsets after deleting a group", "group", name, "err", err)
		}
	}
	b.log.Info("actors: subscription group deleted", "group", name)
	return success(req, nil)
}

// adminAllSubGroups answers GET_ALL_SUBSCRIPTIONGROUP_CONFIG: the
// configured groups, and every online group with the default config.
func (b *Broker) adminAllSubGroups(req *remoting.Command) *remoting.Command {
	f := b.subGroups.published.Load()
	out := subGroupFile{DataVersion: f.DataVersion, SubscriptionGroupTable: maps.Clone(f.SubscriptionGroupTable)}
	for _, g := range b.groups.groupNames() {
		if _, ok := out.SubscriptionGroupTable[g]; !ok {
			out.SubscriptionGroupTable[g] = DefaultSubscriptionGroup(g)
		}
	}
	body, _ := json.Marshal(out)
	return success(req, body)
}

// dropGroup removes every committed offset of a group.
func (t *offsetTable) dropGroup(group string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for key := range t.mu.offsets {
		if strings.HasSuffix(key, "@"+group) {
			delete(t.mu.offsets, key)
			t.mu.dirty = true
			t.version.Add(1)
		}
	}
}

// pullRefusal is the answer to a pull the group's config forbids, or
// SUCCESS. It reads the published table without locks; only a group that
// forbids broadcasting looks at the group's members.
func (b *Broker) pullRefusal(group string) (int16, string) {
	c, ok := b.subGroups.get(group)
	if !ok {
		return remoting.ResponseSuccess, ""
	}
	if !c.ConsumeEnable {
		return remoting.ResponseNoPermission, "subscription group no permission, " + group
	}
	if !c.ConsumeBroadcastEnable {
		if v, ok := b.groups.adminView(group); ok && strings.EqualFold(v.messageModel, "BROADCASTING") {
			return remoting.ResponseNoPermission, "the consumer group[" + group + "] can not consume by broadcast way"
		}
	}
	return remoting.ResponseSuccess, ""
}

// maxReconsumeTimes is how often a group's message is retried before it
// goes to the dead-letter topic: the client's own limit (header, < 0 when
// absent), bounded by the group's retryMaxTimes when the group has a
// config.
func (b *Broker) maxReconsumeTimes(group string, fromHeader int32) int32 {
	c, configured := b.subGroups.get(group)
	switch {
	case !configured && fromHeader >= 0:
		return fromHeader
	case !configured:
		return DefaultSubscriptionGroup(group).RetryMaxTimes
	case fromHeader >= 0 && fromHeader < c.RetryMaxTimes:
		return fromHeader
	}
	return max(c.RetryMaxTimes, 0)
}

// retryQueues is the queue count of a group's %RETRY% topic when created.
func (b *Broker) retryQueues(group string) int32 {
	return max(1, b.subGroups.config(group).RetryQueueNums)
}

// sendBackQueue is the queue a send-back is stored in: a retry topic's
// write queues take turns at random (retryQueueNums of them when the
// broker created it), a dead-letter topic has one.
func (b *Broker) sendBackQueue(topic string, toDLQ bool) int32 {
	if toDLQ {
		return 0
	}
	n := b.retryQueues(strings.TrimPrefix(topic, remoting.RetryGroupTopicPrefix))
	if c, ok := b.topics.get(topic); ok {
		n = max(1, c.WriteQueueNums)
	}
	return rand.Int32N(n)
}

// groupSuggestion applies a configured group's brokerId and
// whichBrokerWhenConsumeSlowly to the broker a master suggests: brokerId
// for reads near the log end, whichBrokerWhenConsumeSlowly for cold ones.
func (b *Broker) groupSuggestion(group string, computed int64) int64 {
	c, ok := b.subGroups.get(group)
	if !ok || b.repl == nil || !b.repl.master() {
		return computed
	}
	if computed == 0 {
		return c.BrokerID
	}
	return c.WhichBrokerWhenConsumeSlowly
}

// notifyEnabled reports whether a group's members are told of membership
// changes.
func (b *Broker) notifyEnabled(group string) bool {
	c, ok := b.subGroups.get(group)
	return !ok || c.NotifyConsumerIDsChangedEnable
}
