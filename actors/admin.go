package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
	"github.com/cometmq/comet/routing"
)

// maxAdminInFlight bounds the operator requests served at once; more are
// answered SYSTEM_BUSY at once rather than queued.
const maxAdminInFlight = 8

// adminGate counts admin requests in flight.
type adminGate struct {
	inFlight  atomic.Int32
	verifying atomic.Bool // one COMET_VERIFY_STORE at a time
}

// registerAdminHandlers installs the operator-facing requests (broker
// runtime info, topic and consumer statistics, offset reset) used by
// cometctl and the RocketMQ admin tools. Their bodies are drawn in
// internal/adminwire. They may scan every queue of a topic, so each runs
// off the event loop, at most maxAdminInFlight at a time.
func (b *Broker) registerAdminHandlers() {
	b.metrics = newBrokerMetrics()
	gate := &adminGate{}
	handle := func(code int16, h func(cmd *remoting.Command) *remoting.Command) {
		b.server.Handle(code, b.guardNames(code, b.offLoop(gate, h)))
	}
	handle(remoting.RequestGetAllTopicConfig, b.adminTopicConfigs)
	handle(remoting.RequestGetBrokerConfig, b.adminBrokerConfig)
	handle(remoting.RequestGetBrokerRuntimeInfo, b.adminRuntimeInfo)
	handle(remoting.RequestGetAllConsumerOffset, b.adminConsumerOffsets)
	handle(remoting.RequestGetTopicStatsInfo, b.adminTopicStats)
	handle(remoting.RequestGetConsumerConnectionList, b.adminConsumerConnections)
	handle(remoting.RequestGetConsumeStats, b.adminConsumeStats)
	handle(remoting.RequestInvokeBrokerToResetOffset, b.adminResetOffset)
	handle(remoting.RequestUpdateAndCreateSubscriptionGroup, b.adminUpdateSubGroup)
	handle(remoting.RequestDeleteSubscriptionGroup, b.adminDeleteSubGroup)
	handle(remoting.RequestGetAllSubscriptionGroupConfig, b.adminAllSubGroups)
	b.registerToolHandlers(handle)
	handle(remoting.RequestCometVerifyStore, func(cmd *remoting.Command) *remoting.Command {
		return b.adminVerifyStore(gate, cmd)
	})
}

// adminVerifyStore checks a bounded range of the commit log at a bounded
// rate (COMET_VERIFY_STORE; fields and body in internal/adminwire) and
// reports its damaged ranges. One runs at a time; another is answered
// SYSTEM_BUSY.
func (b *Broker) adminVerifyStore(gate *adminGate, req *remoting.Command) *remoting.Command {
	if !gate.verifying.CompareAndSwap(false, true) {
		return failure(req, remoting.ResponseSystemBusy, "a verify is already running")
	}
	defer gate.verifying.Store(false)
	opts := persist.VerifyOptions{BytesPerSecond: adminwire.VerifyDefaultRate}
	if v, err := req.ExtInt64("from"); err == nil {
		opts.From = v
	}
	if v, err := req.ExtInt64("bytesPerSecond"); err == nil && v > 0 {
		opts.BytesPerSecond = min(v, adminwire.VerifyMaxRate)
	}
	opts.MaxBytes = opts.BytesPerSecond * adminwire.VerifyMaxSeconds
	if v, err := req.ExtInt64("maxBytes"); err == nil && v > 0 {
		opts.MaxBytes = min(v, opts.MaxBytes)
	}
	rep, err := b.store.Verify(context.Background(), opts)
	if err != nil {
		return failure(req, remoting.ResponseSystemError, "verify: %v", err)
	}
	for _, d := range rep.Damaged {
		b.log.Error("actors: verify found a damaged range", "segment", d.Segment, "offset", d.Offset, "bytes", d.Length, "reason", d.Reason)
	}
	out := adminwire.VerifyReport{From: rep.From, To: rep.To, LogEnd: rep.LogEnd, Records: rep.Records,
		Damaged: []adminwire.DamagedRange{}, DamagedTruncated: rep.DamagedTruncated}
	for _, d := range rep.Damaged {
		out.Damaged = append(out.Damaged, adminwire.DamagedRange(d))
	}
	return success(req, out.Encode())
}

// offLoop runs an admin handler on its own goroutine.
func (b *Broker) offLoop(gate *adminGate, h func(cmd *remoting.Command) *remoting.Command) netio.Handler {
	return func(req *netio.Request) {
		if gate.inFlight.Add(1) > maxAdminInFlight {
			gate.inFlight.Add(-1)
			b.reply(req, remoting.ResponseSystemBusy, "too many admin requests in flight")
			return
		}
		req.Detach()
		b.background.Add(1)
		go func() {
			defer b.background.Done()
			defer gate.inFlight.Add(-1)
			resp := h(&req.Cmd)
			req.Reply(resp)
			req.Release()
		}()
	}
}

func success(req *remoting.Command, body []byte) *remoting.Command {
	resp := remoting.NewResponse(req, remoting.ResponseSuccess, "")
	resp.Body = body
	return resp
}

func failure(req *remoting.Command, code int16, format string, args ...any) *remoting.Command {
	return remoting.NewResponse(req, code, fmt.Sprintf(format, args...))
}

func (b *Broker) adminTopicConfigs(req *remoting.Command) *remoting.Command {
	table := map[string]routing.TopicConfig{}
	for _, c := range b.topics.all() {
		table[c.TopicName] = c
	}
	body, _ := json.Marshal(routing.TopicConfigSerializeWrapper{DataVersion: b.topics.version(), TopicConfigTable: table})
	return success(req, body)
}

// brokerConfig is the GET_BROKER_CONFIG view: Java's key names for the
// broker options, then whatever the process adds (ConfigView).
func (b *Broker) brokerConfig() map[string]string {
	o := &b.opts
	_, port, _ := net.SplitHostPort(b.server.Addr())
	props := map[string]string{
		"brokerClusterName":      o.ClusterName,
		"brokerName":             o.BrokerName,
		"brokerId":               strconv.FormatInt(o.BrokerID, 10),
		"listenPort":             port,
		"brokerAddr":             b.advertise,
		"namesrvAddr":            strings.Join(o.NamesrvAddrs, ";"),
		"flushDiskType":          flushTypeName(o.Flush.String()),
		"autoCreateTopicEnable":  strconv.FormatBool(o.AutoCreateTopic),
		"defaultTopicQueueNums":  strconv.Itoa(int(o.DefaultQueueNums)),
		"maxMessageSize":         strconv.Itoa(o.MaxMessageSize),
		"fileReservedTime":       strconv.Itoa(int(o.RetentionAge.Hours())),
		"storePathRootDir":       o.DataDir,
		"mapedFileSizeCommitLog": strconv.FormatInt(b.segmentSize(), 10),
	}
	if o.ConfigView != nil {
		maps.Copy(props, o.ConfigView())
	}
	b.liveConfigView(props)
	return props
}

func (b *Broker) adminBrokerConfig(req *remoting.Command) *remoting.Command {
	resp := success(req, adminwire.EncodeProperties(b.brokerConfig()))
	version, _ := json.Marshal(routing.DataVersion{Counter: 1, Timestamp: b.metrics.bootTime.UnixMilli()})
	resp.Ext.Set("version", string(version))
	return resp
}

func (b *Broker) adminRuntimeInfo(req *remoting.Command) *remoting.Command {
	kv := adminwire.KVTable{Table: b.runtimeInfo(time.Now())}
	return success(req, kv.Encode())
}

func (b *Broker) adminConsumerOffsets(req *remoting.Command) *remoting.Command {
	body := adminwire.ConsumerOffsets{OffsetTable: b.offsets.snapshotAll()}
	return success(req, body.Encode())
}

// queueCount is the number of queues a topic has on this broker.
func queueCount(c routing.TopicConfig) int32 { return max(c.ReadQueueNums, c.WriteQueueNums) }

func (b *Broker) adminTopicStats(req *remoting.Command) *remoting.Command {
	topic, err := req.ExtString("topic")
	if err != nil {
		return failure(req, remoting.ResponseSystemError, "bad header: %v", err)
	}
	c, ok := b.topics.get(topic)
	if !ok {
		return failure(req, remoting.ResponseTopicNotExist, "topic[%s] not exist", topic)
	}
	stats := adminwire.TopicStatsTable{}
	for q := range queueCount(c) {
		var v adminwire.TopicOffset
		if cq := b.store.ConsumeQueue(topic, q); cq != nil {
			v.MinOffset, v.MaxOffset = cq.MinOffset(), cq.MaxOffset()
			v.LastUpdateTimestamp = b.storeTimeAt(topic, q, v.MaxOffset-1)
		}
		stats.OffsetTable = append(stats.OffsetTable, adminwire.QueueValue[adminwire.TopicOffset]{
			Queue: b.queueName(topic, q), Value: v})
	}
	return success(req, stats.Encode())
}

func (b *Broker) queueName(topic string, q int32) adminwire.MessageQueue {
	return adminwire.MessageQueue{BrokerName: b.opts.BrokerName, QueueID: q, Topic: topic}
}

// storeTimeAt is the store time of the message at queue offset off, or 0.
func (b *Broker) storeTimeAt(topic string, q int32, off int64) int64 {
	cq := b.store.ConsumeQueue(topic, q)
	if cq == nil || off < cq.MinOffset() || off >= cq.MaxOffset() {
		return 0
	}
	e, ok := cq.Entry(off)
	if !ok {
		return 0
	}
	rv, err := b.store.RecordAt(e.CommitLogOffset)
	if err != nil {
		return 0
	}
	return rv.StoreTimestamp()
}

// groupView is a copy of one consumer group's membership.
type groupView struct {
	messageModel, consumeType, consumeFromWhere string
	conns                                       []adminwire.Connection
	subs                                        map[string]adminwire.SubscriptionData
}

// adminView copies a consumer group's live membership, or reports false.
func (g *groupRegistry) adminView(name string) (groupView, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	cg := g.mu.consumers[name]
	if cg == nil || len(cg.channels) == 0 {
		return groupView{}, false
	}
	v := groupView{messageModel: cg.messageModel, consumeType: cg.consumeType, consumeFromWhere: cg.consumeFromWhere,
		subs: map[string]adminwire.SubscriptionData{}}
	v.conns = connections(cg.channels)
	for topic, s := range cg.subs {
		sd := adminwire.SubscriptionData{Topic: topic, SubString: s.Expr, ExpressionType: s.Type, SubVersion: s.Version,
			TagsSet: slices.Sorted(maps.Keys(s.Tags)), CodeSet: []int32{}}
		for code := range s.Codes {
			sd.CodeSet = append(sd.CodeSet, int32(code))
		}
		slices.Sort(sd.CodeSet)
		v.subs[topic] = sd
	}
	return v, true
}

func (b *Broker) adminConsumerConnections(req *remoting.Command) *remoting.Command {
	group, err := req.ExtString("consumerGroup")
	if err != nil {
		return failure(req, remoting.ResponseSystemError, "bad header: %v", err)
	}
	v, ok := b.groups.adminView(group)
	if !ok {
		return failure(req, remoting.ResponseConsumerNotOnline, "the consumer group[%s] not online", group)
	}
	body := adminwire.ConsumerConnection{ConnectionSet: v.conns, ConsumeType: v.consumeType,
		ConsumeFromWhere: v.consumeFromWhere, MessageModel: v.messageModel, SubscriptionTable: v.subs}
	return success(req, body.Encode())
}

// groupTopics lists the topics a group has committed offsets for or
// subscribes to now.
func (b *Broker) groupTopics(group string) []string {
	set := map[string]bool{}
	for key := range b.offsets.snapshotAll() {
		if topic, g, ok := strings.Cut(key, "@"); ok && g == group {
			set[topic] = true
		}
	}
	if v, ok := b.groups.adminView(group); ok {
		for topic := range v.subs {
			set[topic] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

func (b *Broker) adminConsumeStats(req *remoting.Command) *remoting.Command {
	group, err := req.ExtString("consumerGroup")
	if err != nil {
		return failure(req, remoting.ResponseSystemError, "bad header: %v", err)
	}
	topics := b.groupTopics(group)
	if t, _ := req.ExtString("topic"); t != "" {
		topics = slices.DeleteFunc(topics, func(s string) bool { return s != t })
	}
	if len(topics) == 0 {
		return failure(req, remoting.ResponseSubscriptionGroupNotExist, "consumer group[%s] has no offsets or subscriptions", group)
	}
	stats := adminwire.ConsumeStats{}
	for _, topic := range topics {
		c, ok := b.topics.get(topic)
		if !ok {
			continue
		}
		for q := range queueCount(c) {
			stats.OffsetTable = append(stats.OffsetTable, adminwire.QueueValue[adminwire.OffsetWrapper]{
				Queue: b.queueName(topic, q), Value: b.queueProgress(topic, group, q)})
		}
	}
	return success(req, stats.Encode())
}

// queueProgress is one queue's broker offset, the group's committed offset
// (0 when none) and the store time of the last consumed message.
func (b *Broker) queueProgress(topic, group string, q int32) adminwire.OffsetWrapper {
	var w adminwire.OffsetWrapper
	if cq := b.store.ConsumeQueue(topic, q); cq != nil {
		w.BrokerOffset = cq.MaxOffset()
	}
	if off, ok := b.offsets.query(topic, group, q); ok && off > 0 {
		w.ConsumerOffset = off
		w.LastTimestamp = b.storeTimeAt(topic, q, off-1)
	}
	return w
}

// resetRequest is a parsed INVOKE_BROKER_TO_RESET_OFFSET header.
type resetRequest struct {
	topic, group string
	timestamp    int64 // ms; -1 means the max offset
	force        bool  // false: only move offsets backwards
	queueID      int32 // -1: every queue
	offset       int64 // used when hasOffset
	hasOffset    bool
}

func parseResetRequest(cmd *remoting.Command) (resetRequest, error) {
	r := resetRequest{queueID: -1}
	var err error
	if r.topic, err = cmd.ExtString("topic"); err != nil {
		return r, err
	}
	if r.group, err = cmd.ExtString("group"); err != nil {
		return r, err
	}
	r.force, _ = cmd.ExtBool("isForce")
	if q, err := cmd.ExtInt32("queueId"); err == nil {
		r.queueID = q
	}
	if off, err := cmd.ExtInt64("offset"); err == nil {
		r.offset, r.hasOffset = off, true
	}
	if r.timestamp, err = cmd.ExtInt64("timestamp"); err != nil && !r.hasOffset {
		return r, err
	}
	return r, nil
}

// adminResetOffset rewrites a group's committed offsets of a topic to the
// first message stored at or after a timestamp, or to a given offset
// (clamped to the queue's range), persists them at once, and tells the
// group's online clients (RESET_CONSUMER_CLIENT_OFFSET, oneway) so they
// drop what they hold and continue from there. Unlike Java 4.x it does not
// require the group to be online: an offline group simply starts from the
// new offsets.
func (b *Broker) adminResetOffset(req *remoting.Command) *remoting.Command {
	r, err := parseResetRequest(req)
	if err != nil {
		return failure(req, remoting.ResponseSystemError, "bad header: %v", err)
	}
	c, ok := b.topics.get(r.topic)
	if !ok {
		return failure(req, remoting.ResponseTopicNotExist, "topic[%s] not exist", r.topic)
	}
	if r.queueID >= queueCount(c) {
		return failure(req, remoting.ResponseSystemError, "queueId %d out of range for topic %s", r.queueID, r.topic)
	}
	table := adminwire.ResetOffsetBody{}
	for q := range queueCount(c) {
		if r.queueID >= 0 && q != r.queueID {
			continue
		}
		off := b.resetTarget(&r, q)
		b.offsets.commit(r.topic, r.group, q, off)
		table.OffsetTable = append(table.OffsetTable, adminwire.QueueValue[int64]{Queue: b.queueName(r.topic, q), Value: off})
	}
	if err := b.offsets.persist(); err != nil {
		b.log.Error("actors: persist offsets after reset", "group", r.group, "topic", r.topic, "err", err)
	}
	body := table.Encode()
	notified := b.notifyReset(&r, body)
	b.log.Info("actors: consumer offsets reset", "group", r.group, "topic", r.topic, "queues", len(table.OffsetTable),
		"timestamp", r.timestamp, "force", r.force, "onlineClientsNotified", notified)
	return success(req, body)
}

// resetTarget computes the new offset of one queue.
func (b *Broker) resetTarget(r *resetRequest, q int32) int64 {
	var minOff, maxOff int64
	cq := b.store.ConsumeQueue(r.topic, q)
	if cq != nil {
		minOff, maxOff = cq.MinOffset(), cq.MaxOffset()
	}
	var target int64
	switch {
	case r.hasOffset:
		target = min(max(r.offset, minOff), maxOff)
	case r.timestamp < 0 || cq == nil:
		target = maxOff
	default:
		target = b.store.SearchOffsetByTime(cq, r.timestamp)
	}
	if cur, ok := b.offsets.query(r.topic, r.group, q); ok && !r.force && target > cur {
		return cur
	}
	return target
}

// notifyReset sends RESET_CONSUMER_CLIENT_OFFSET to every online member of
// the group and returns how many it reached.
func (b *Broker) notifyReset(r *resetRequest, body []byte) int {
	n := 0
	for _, conn := range b.groups.members(r.group) {
		cmd := remoting.NewRequest(remoting.RequestResetConsumerClientOffset)
		cmd.Ext.Set("topic", r.topic)
		cmd.Ext.Set("group", r.group)
		cmd.Ext.Set("timestamp", itoa(r.timestamp))
		cmd.Ext.Set("isForce", strconv.FormatBool(r.force))
		cmd.Flag |= remoting.FlagOneway
		cmd.Body = body
		if err := conn.Send(cmd); err != nil {
			b.log.Warn("actors: reset offset notification", "group", r.group, "conn", conn.RemoteAddr(), "err", err)
			continue
		}
		n++
	}
	return n
}

// snapshotAll copies every committed offset, keyed "topic@group".
func (t *offsetTable) snapshotAll() map[string]map[int32]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]map[int32]int64, len(t.mu.offsets))
	for key, m := range t.mu.offsets {
		out[key] = maps.Clone(m)
	}
	return out
}
