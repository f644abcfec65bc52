package actors

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
	"github.com/cometmq/comet/routing"
)

func (b *Broker) registerHandlers() {
	s := b.server
	s.Handle(remoting.RequestSendMessage, b.handleSend)
	s.Handle(remoting.RequestSendMessageV2, b.handleSend)
	s.Handle(remoting.RequestSendBatchMessage, b.handleSend)
	s.Handle(remoting.RequestSendReplyMessage, b.handleSend)
	s.Handle(remoting.RequestPullMessage, b.handlePull)
	s.Handle(remoting.RequestHeartbeat, b.handleHeartbeat)
	s.Handle(remoting.RequestGetConsumerListByGroup, b.handleConsumerList)
	s.Handle(remoting.RequestQueryConsumerOffset, b.handleQueryOffset)
	s.Handle(remoting.RequestUpdateConsumerOffset, b.handleUpdateOffset)
	s.Handle(remoting.RequestGetMaxOffset, b.handleMaxOffset)
	s.Handle(remoting.RequestGetMinOffset, b.handleMinOffset)
	s.Handle(remoting.RequestSearchOffsetByTimestamp, b.handleSearchOffset)
	s.Handle(remoting.RequestLockBatchMQ, b.handleLock)
	s.Handle(remoting.RequestUnlockBatchMQ, b.handleUnlock)
	s.Handle(remoting.RequestUpdateAndCreateTopic, b.handleCreateTopic)
	s.Handle(remoting.RequestDeleteTopicInBroker, b.handleDeleteTopic)
	s.Handle(remoting.RequestViewMessageByID, b.handleViewMessage)
	s.Handle(remoting.RequestQueryMessage, b.handleQueryMessage)
	s.Handle(remoting.RequestGetAllSubscriptionGroupConfig, b.handleSubscriptionGroups)
	s.Handle(remoting.RequestConsumerSendMsgBack, b.handleSendBack)
	s.Handle(remoting.RequestEndTransaction, b.handleEndTransaction)
	s.Handle(remoting.RequestCheckClientConfig, b.handleCheckClientConfig)
	s.Handle(remoting.RequestUnregisterClient, b.handleUnregisterClient)
	b.registerAdminHandlers()
}

func (b *Broker) handleHeartbeat(req *netio.Request) {
	hb, err := decodeHeartbeat(req.Cmd.Body)
	if err != nil {
		b.log.Warn("actors: bad heartbeat body", "conn", req.Conn.RemoteAddr(), "err", err)
		b.reply(req, remoting.ResponseSystemError, "bad heartbeat body: "+err.Error())
		return
	}
	compiled, deferred := b.heartbeatFilters(req, hb)
	if deferred {
		return // the compile worker runs this handler again
	}
	now := time.Now()
	for _, cd := range hb.ConsumerDataSet {
		if strings.EqualFold(cd.MessageModel, "BROADCASTING") {
			continue
		}
		retry := RetryTopicPrefix + cd.GroupName
		if _, created, err := b.topics.ensure(newTopicConfig(retry, 1, PermRead|PermWrite), now.UnixMilli()); err != nil {
			b.log.Error("actors: create retry topic", "topic", retry, "err", err)
		} else if created {
			b.topicsChanged()
		}
	}
	changed := b.groups.heartbeat(req.Conn, hb, compiled, now)
	b.finish(req, remoting.ResponseSuccess, "")
	if len(changed) > 0 {
		b.notifyGroups(changed)
	}
}

// handleUnregisterClient removes a closing client from its groups at once
// (rather than at connection close or expiry) and tells the remaining
// consumers to rebalance.
func (b *Broker) handleUnregisterClient(req *netio.Request) {
	producerGroup, _ := req.Cmd.ExtString("producerGroup")
	consumerGroup, _ := req.Cmd.ExtString("consumerGroup")
	if b.groups.unregister(req.Conn.ID(), producerGroup, consumerGroup) {
		b.notifyGroups([]string{consumerGroup})
	}
	b.reply(req, remoting.ResponseSuccess, "")
}

func (b *Broker) handleConsumerList(req *netio.Request) {
	group, err := req.Cmd.ExtString("consumerGroup")
	if err != nil {
		b.reply(req, remoting.ResponseSystemError, err.Error())
		return
	}
	ids := b.groups.consumerIDs(group)
	b.log.Debug("actors: consumer list", "group", group, "ids", ids, "conn", req.Conn.RemoteAddr())
	if len(ids) == 0 {
		b.reply(req, remoting.ResponseSystemError, "no consumer of group "+group+" is online")
		return
	}
	body, _ := json.Marshal(struct {
		ConsumerIDList []string `json:"consumerIdList"`
	}{ids})
	resp := remoting.NewResponse(&req.Cmd, remoting.ResponseSuccess, "")
	resp.Body = body
	req.Reply(resp)
}

// queueArgs reads topic and queueId.
func queueArgs(cmd *remoting.Command) (string, int32, error) {
	topic, err := cmd.ExtString("topic")
	if err != nil {
		return "", 0, err
	}
	qid, err := cmd.ExtInt32("queueId")
	return topic, qid, err
}

// handleQueryOffset answers the committed offset, or QUERY_NOT_FOUND for a
// group with none, so the client applies its ConsumeFromWhere.
func (b *Broker) handleQueryOffset(req *netio.Request) {
	topic, qid, err := queueArgs(&req.Cmd)
	group, gerr := req.Cmd.ExtString("consumerGroup")
	if err != nil || gerr != nil {
		b.reply(req, remoting.ResponseSystemError, "bad header: missing topic, queueId or consumerGroup")
		return
	}
	off, ok := b.offsets.query(topic, group, qid)
	if !ok {
		b.reply(req, remoting.ResponseQueryNotFound, "no committed offset")
		return
	}
	resp := remoting.NewResponse(&req.Cmd, remoting.ResponseSuccess, "")
	resp.Ext.Set("offset", itoa(off))
	req.Reply(resp)
}

func (b *Broker) handleUpdateOffset(req *netio.Request) {
	topic, qid, err := queueArgs(&req.Cmd)
	group, gerr := req.Cmd.ExtString("consumerGroup")
	off, oerr := req.Cmd.ExtInt64("commitOffset")
	if err != nil || gerr != nil || oerr != nil {
		b.reply(req, remoting.ResponseSystemError, "bad header: missing topic, queueId, consumerGroup or commitOffset")
		return
	}
	b.offsets.commit(topic, group, qid, off)
	b.reply(req, remoting.ResponseSuccess, "")
}

func (b *Broker) offsetReply(req *netio.Request, off int64) {
	resp := remoting.NewResponse(&req.Cmd, remoting.ResponseSuccess, "")
	resp.Ext.Set("offset", itoa(off))
	req.Reply(resp)
}

func (b *Broker) handleMaxOffset(req *netio.Request) {
	topic, qid, err := queueArgs(&req.Cmd)
	if err != nil {
		b.offsetReply(req, 0)
		return
	}
	var off int64
	if cq := b.store.ConsumeQueue(topic, qid); cq != nil {
		off = cq.MaxOffset()
	}
	b.offsetReply(req, off)
}

func (b *Broker) handleMinOffset(req *netio.Request) {
	topic, qid, err := queueArgs(&req.Cmd)
	var off int64
	if cq := b.store.ConsumeQueue(topic, qid); err == nil && cq != nil {
		off = cq.MinOffset()
	}
	b.offsetReply(req, off)
}

// handleSearchOffset answers the first offset stored at or after the
// timestamp (the max offset when every message is older).
func (b *Broker) handleSearchOffset(req *netio.Request) {
	topic, qid, err := queueArgs(&req.Cmd)
	ts, terr := req.Cmd.ExtInt64("timestamp")
	var off int64
	if cq := b.store.ConsumeQueue(topic, qid); err == nil && terr == nil && cq != nil {
		off = b.store.SearchOffsetByTime(cq, ts)
	}
	b.offsetReply(req, off)
}

func (b *Broker) handleLock(req *netio.Request) {
	var lr lockRequest
	if err := json.Unmarshal(req.Cmd.Body, &lr); err != nil {
		b.reply(req, remoting.ResponseSystemError, "bad lock body: "+err.Error())
		return
	}
	granted := b.groups.lock(&lr, time.Now())
	b.log.Debug("actors: lock batch", "group", lr.ConsumerGroup, "client", lr.ClientID, "asked", len(lr.MQSet), "granted", len(granted))
	body, _ := json.Marshal(struct {
		LockOKMQSet []messageQueue `json:"lockOKMQSet"`
	}{granted})
	resp := remoting.NewResponse(&req.Cmd, remoting.ResponseSuccess, "")
	resp.Body = body
	req.Reply(resp)
}

func (b *Broker) handleUnlock(req *netio.Request) {
	var lr lockRequest
	if err := json.Unmarshal(req.Cmd.Body, &lr); err != nil {
		b.reply(req, remoting.ResponseSystemError, "bad unlock body: "+err.Error())
		return
	}
	b.groups.unlock(&lr)
	b.reply(req, remoting.ResponseSuccess, "")
}

func (b *Broker) handleCreateTopic(req *netio.Request) {
	cmd := &req.Cmd
	name, err := cmd.ExtString("topic")
	if err == nil {
		err = ValidateTopicName(name)
	}
	if err != nil {
		b.reply(req, remoting.ResponseSystemError, "bad topic: "+err.Error())
		return
	}
	if reservedTopics[name] || name == TopicAutoCreateTemplate {
		b.reply(req, remoting.ResponseSystemError, "topic "+name+" is reserved")
		return
	}
	c := newTopicConfig(name, 8, PermRead|PermWrite)
	if v, err := cmd.ExtInt32("readQueueNums"); err == nil {
		c.ReadQueueNums = v
	}
	if v, err := cmd.ExtInt32("writeQueueNums"); err == nil {
		c.WriteQueueNums = v
	}
	if v, err := cmd.ExtInt32("perm"); err == nil {
		c.Perm = v
	}
	if v, err := cmd.ExtBool("order"); err == nil {
		c.Order = v
	}
	if c.ReadQueueNums <= 0 || c.WriteQueueNums <= 0 || c.ReadQueueNums > 1024 || c.WriteQueueNums > 1024 {
		b.reply(req, remoting.ResponseSystemError, "queue counts must be within 1..1024")
		return
	}
	if _, err := b.topics.update(func(m map[string]routing.TopicConfig) bool {
		m[name] = c
		return true
	}, time.Now().UnixMilli()); err != nil {
		b.reply(req, remoting.ResponseSystemError, "store topic: "+err.Error())
		return
	}
	b.log.Info("actors: topic created or updated", "topic", name, "read", c.ReadQueueNums, "write", c.WriteQueueNums, "perm", c.Perm)
	b.topicsChanged()
	b.reply(req, remoting.ResponseSuccess, "")
}

func (b *Broker) handleDeleteTopic(req *netio.Request) {
	name, err := req.Cmd.ExtString("topic")
	if err != nil {
		b.reply(req, remoting.ResponseSystemError, err.Error())
		return
	}
	if _, err := b.topics.update(func(m map[string]routing.TopicConfig) bool {
		_, ok := m[name]
		delete(m, name)
		return ok
	}, time.Now().UnixMilli()); err != nil {
		b.reply(req, remoting.ResponseSystemError, err.Error())
		return
	}
	if err := b.store.DeleteTopic(name); err != nil {
		b.log.Error("actors: delete topic queues", "topic", name, "err", err)
	}
	b.offsets.dropTopic(name)
	b.topicsChanged()
	b.reply(req, remoting.ResponseSuccess, "")
}

func (b *Broker) handleViewMessage(req *netio.Request) {
	off, err := req.Cmd.ExtInt64("offset")
	if err != nil {
		b.reply(req, remoting.ResponseSystemError, err.Error())
		return
	}
	rv, err := b.store.RecordAt(off)
	if err != nil {
		b.reply(req, remoting.ResponseSystemError, "no message at offset "+itoa(off)+": "+err.Error())
		return
	}
	resp := remoting.NewResponse(&req.Cmd, remoting.ResponseSuccess, "")
	resp.Body = rv.Raw()
	req.Reply(resp)
}

func (b *Broker) handleQueryMessage(req *netio.Request) {
	cmd := &req.Cmd
	topic, err1 := cmd.ExtString("topic")
	key, err2 := cmd.ExtString("key")
	maxNum, _ := cmd.ExtInt32("maxNum")
	begin, _ := cmd.ExtInt64("beginTimestamp")
	end, err3 := cmd.ExtInt64("endTimestamp")
	if err1 != nil || err2 != nil || err3 != nil {
		b.reply(req, remoting.ResponseSystemError, "bad header: need topic, key, endTimestamp")
		return
	}
	if maxNum <= 0 || maxNum > 64 {
		maxNum = 64
	}
	recs, err := b.store.QueryByKey(topic, key, begin, end, int(maxNum))
	if err != nil || len(recs) == 0 {
		b.reply(req, remoting.ResponseQueryNotFound, "no message for key "+key)
		return
	}
	resp := remoting.NewResponse(&req.Cmd, remoting.ResponseSuccess, "")
	for _, r := range recs {
		resp.Body = append(resp.Body, r.Raw()...)
	}
	resp.Ext.Set("indexLastUpdateTimestamp", itoa(time.Now().UnixMilli()))
	resp.Ext.Set("indexLastUpdatePhyoffset", itoa(b.store.MaxPhysicalOffset()))
	req.Reply(resp)
}

type subscriptionGroupConfig struct {
	GroupName                      string `json:"groupName"`
	ConsumeEnable                  bool   `json:"consumeEnable"`
	ConsumeFromMinEnable           bool   `json:"consumeFromMinEnable"`
	ConsumeBroadcastEnable         bool   `json:"consumeBroadcastEnable"`
	RetryMaxTimes                  int    `json:"retryMaxTimes"`
	RetryQueueNums                 int    `json:"retryQueueNums"`
	BrokerID                       int    `json:"brokerId"`
	WhichBrokerWhenConsumeSlowly   int    `json:"whichBrokerWhenConsumeSlowly"`
	NotifyConsumerIDsChangedEnable bool   `json:"notifyConsumerIdsChangedEnable"`
}

func (b *Broker) handleSubscriptionGroups(req *netio.Request) {
	table := map[string]subscriptionGroupConfig{}
	for _, g := range b.groups.groupNames() {
		table[g] = subscriptionGroupConfig{GroupName: g, ConsumeEnable: true, ConsumeFromMinEnable: true,
			ConsumeBroadcastEnable: true, RetryMaxTimes: 16, RetryQueueNums: 1, WhichBrokerWhenConsumeSlowly: 1,
			NotifyConsumerIDsChangedEnable: true}
	}
	body, _ := json.Marshal(struct {
		SubscriptionGroupTable map[string]subscriptionGroupConfig `json:"subscriptionGroupTable"`
		DataVersion            routing.DataVersion                `json:"dataVersion"`
	}{table, b.topics.version()})
	resp := remoting.NewResponse(&req.Cmd, remoting.ResponseSuccess, "")
	resp.Body = body
	req.Reply(resp)
}

// handleSendBack moves a message a consumer failed to process to the
// group's retry topic after a delay (level 3 + reconsume times unless the
// request asks for one), or to its dead-letter topic once it has been
// retried maxReconsumeTimes times or when delayLevel < 0.
func (b *Broker) handleSendBack(req *netio.Request) {
	cmd := &req.Cmd
	group, err1 := cmd.ExtString("group")
	off, err2 := cmd.ExtInt64("offset")
	if err1 != nil || err2 != nil || group == "" {
		b.reply(req, remoting.ResponseSystemError, "bad header: need group and offset")
		return
	}
	delayLevel, _ := cmd.ExtInt32("delayLevel")
	maxTimes, err := cmd.ExtInt32("maxReconsumeTimes")
	if err != nil || maxTimes < 0 {
		maxTimes = 16
	}
	rv, err := b.store.RecordAt(off)
	if err != nil {
		b.reply(req, remoting.ResponseSystemError, "no message at commit-log offset "+itoa(off))
		return
	}
	target := RetryTopicPrefix + group
	toDLQ := rv.ReconsumeTimes() >= maxTimes || delayLevel < 0
	if toDLQ {
		target = DLQTopicPrefix + group
	}
	if _, ok := b.ensureGroupTopic(target); !ok {
		b.reply(req, remoting.ResponseSystemError, "cannot create "+target)
		return
	}
	msg := copyRecord(&rv)
	msg.Topic, msg.QueueID, msg.ReconsumeTimes = target, 0, rv.ReconsumeTimes()+1
	origTopic, _ := cmd.ExtString("originTopic")
	if origTopic == "" {
		origTopic = string(rv.Topic())
	}
	if _, ok := remoting.PropertyValue(string(msg.Properties), remoting.PropertyRetryTopic); !ok {
		msg.Properties = remoting.AppendProperty(msg.Properties, remoting.PropertyRetryTopic, origTopic)
	}
	if _, ok := remoting.PropertyValue(string(msg.Properties), remoting.PropertyOriginMessageID); !ok {
		msg.Properties = remoting.AppendProperty(msg.Properties, remoting.PropertyOriginMessageID,
			remoting.OffsetMsgID(b.storeHost.IP, b.storeHost.Port, off))
	}
	msg.Properties = stripProperties(msg.Properties, timerProperties...)
	if !toDLQ {
		if delayLevel == 0 {
			delayLevel = 3 + rv.ReconsumeTimes()
		}
		delayLevel = min(delayLevel, int32(b.timers.ladder.levels))
		msg.Properties = remoting.AppendProperty(msg.Properties, remoting.PropertyDelayLevel, itoa(int64(delayLevel)))
		if _, err := b.timers.prepare(&msg, time.Now().UnixMilli()); err != nil {
			b.reply(req, remoting.ResponseSystemError, err.Error())
			return
		}
	}
	b.storeInternal(req, msg)
}

// ensureGroupTopic creates a retry or dead-letter topic (one queue) when
// it does not exist yet.
func (b *Broker) ensureGroupTopic(name string) (routing.TopicConfig, bool) {
	cfg, created, err := b.topics.ensure(newTopicConfig(name, 1, PermRead|PermWrite), time.Now().UnixMilli())
	if err != nil {
		b.log.Error("actors: create group topic", "topic", name, "err", err)
		return cfg, false
	}
	if created {
		b.topicsChanged()
	}
	return cfg, true
}

// storeInternal appends a broker-made message and answers req when it is
// stored.
func (b *Broker) storeInternal(req *netio.Request, msg persist.Message) {
	sc := sendPool.Get().(*sendCompletion)
	sc.broker, sc.req = b, req
	sc.append.Done = sc
	sc.append.Messages = append(sc.append.Messages[:0], msg)
	req.Detach()
	if err := b.writer.Submit(&sc.append); err != nil {
		sc.req = nil
		sc.recycle()
		code, remark := submitRefusal(err)
		req.Reply(remoting.NewResponse(&req.Cmd, code, remark))
		req.Release()
	}
}

// handleEndTransaction hands a producer's decision to the transaction
// actor, which answers (when the request is not oneway) once it is stored.
// At most maxQueuedEndTxn decisions wait in the actor's mailbox; past that a
// decision is refused SYSTEM_BUSY at once (the producer retries, or the
// check-back asks again).
func (b *Broker) handleEndTransaction(req *netio.Request) {
	if b.queuedEndTxn.Add(1) > maxQueuedEndTxn {
		b.queuedEndTxn.Add(-1)
		b.reply(req, remoting.ResponseSystemBusy, "too many transaction decisions queued")
		return
	}
	req.Detach()
	if !b.sendTxns(&endTxn{req: req}) {
		b.queuedEndTxn.Add(-1)
		if !req.Cmd.IsOneway() {
			req.Reply(remoting.NewResponse(&req.Cmd, remoting.ResponseSystemBusy, "broker starting or stopping"))
		}
		req.Release()
	}
}
