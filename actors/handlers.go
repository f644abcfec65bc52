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
	handle := func(code int16, h netio.Handler) { b.server.Handle(code, b.guardNames(code, h)) }
	handle(remoting.RequestSendMessage, b.handleSend)
	handle(remoting.RequestSendMessageV2, b.handleSend)
	handle(remoting.RequestSendBatchMessage, b.handleSend)
	handle(remoting.RequestSendReplyMessage, b.handleSend)
	handle(remoting.RequestPullMessage, b.handlePull)
	handle(remoting.RequestHeartbeat, b.handleHeartbeat)
	handle(remoting.RequestGetConsumerListByGroup, b.handleConsumerList)
	handle(remoting.RequestQueryConsumerOffset, b.handleQueryOffset)
	handle(remoting.RequestUpdateConsumerOffset, b.handleUpdateOffset)
	handle(remoting.RequestGetMaxOffset, b.handleMaxOffset)
	handle(remoting.RequestGetMinOffset, b.handleMinOffset)
	handle(remoting.RequestSearchOffsetByTimestamp, b.handleSearchOffset)
	handle(remoting.RequestLockBatchMQ, b.handleLock)
	handle(remoting.RequestUnlockBatchMQ, b.handleUnlock)
	handle(remoting.RequestUpdateAndCreateTopic, b.handleCreateTopic)
	handle(remoting.RequestDeleteTopicInBroker, b.handleDeleteTopic)
	handle(remoting.RequestViewMessageByID, b.handleViewMessage)
	handle(remoting.RequestQueryMessage, b.handleQueryMessage)
	handle(remoting.RequestConsumerSendMsgBack, b.handleSendBack)
	handle(remoting.RequestEndTransaction, b.handleEndTransaction)
	handle(remoting.RequestCheckClientConfig, b.guardClientConfigNames(b.handleCheckClientConfig))
	handle(remoting.RequestUnregisterClient, b.handleUnregisterClient)
	b.registerAdminHandlers()
	b.registerGatewayHandlers()
}

// handleHeartbeat registers the client in its groups and answers once the
// retry topics of its clustering consumer groups exist. Creating one is a
// durable change made by the topic table's goroutine, so a heartbeat that
// needs one is answered from there, not from the event loop.
func (b *Broker) handleHeartbeat(req *netio.Request) {
	hb, err := decodeHeartbeat(req.Cmd.Body)
	if err != nil {
		b.log.Warn("actors: bad heartbeat body", "conn", req.Conn.RemoteAddr(), "err", err)
		b.reply(req, remoting.ResponseSystemError, "bad heartbeat body: "+err.Error())
		return
	}
	hb.language, hb.version = req.Cmd.Language, req.Cmd.Version
	if code, remark := checkHeartbeatNames(hb); code != remoting.ResponseSuccess {
		b.refuseName(req, "body", code, remark)
		return
	}
	compiled, deferred := b.heartbeatFilters(req, hb)
	if deferred {
		return // the compile worker runs this handler again
	}
	var missing []topicChange
	for _, cd := range hb.ConsumerDataSet {
		retry := remoting.RetryGroupTopicPrefix + cd.GroupName
		if strings.EqualFold(cd.MessageModel, "BROADCASTING") {
			continue
		}
		if _, ok := b.topics.get(retry); !ok {
			missing = append(missing, topicChange{op: topicEnsure, cfg: newTopicConfig(retry, b.retryQueues(cd.GroupName), remoting.PermRead|remoting.PermWrite)})
		}
	}
	changed := b.groups.heartbeat(req.Conn, hb, compiled, time.Now())
	if len(missing) == 0 {
		b.replyDone(req, remoting.ResponseSuccess, "")
		b.notifyGroups(changed)
		return
	}
	if !req.Detached() { // the compile worker may already own it
		req.Detach()
	}
	submitted := b.topics.submit(&topicRequest{changes: missing, done: func(r *topicRequest) {
		b.topicsCreated(r, "retry topic", req.Conn)
		b.replyDone(req, remoting.ResponseSuccess, "")
		b.notifyGroups(changed)
	}})
	if !submitted {
		b.log.Warn("actors: retry topics not created, topic table busy", "conn", req.Conn.RemoteAddr())
		b.replyDone(req, remoting.ResponseSuccess, "")
		b.notifyGroups(changed)
	}
}

// topicsCreated logs what a completed request created and pushes the
// table to the name servers when it changed.
func (b *Broker) topicsCreated(r *topicRequest, what string, conn *netio.Conn) {
	if r.err != nil {
		b.log.Error("actors: create "+what, "err", r.err)
		return
	}
	created := false
	for _, c := range r.changes {
		if c.changed {
			created = true
			b.log.Info("actors: created "+what, "topic", c.cfg.TopicName, "queues", c.cfg.WriteQueueNums, "conn", conn.RemoteAddr())
		}
	}
	if created {
		b.topicsChanged()
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
	if code, remark := checkLockNames(&lr); code != remoting.ResponseSuccess {
		b.refuseName(req, "body", code, remark)
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
	if code, remark := checkLockNames(&lr); code != remoting.ResponseSuccess {
		b.refuseName(req, "body", code, remark)
		return
	}
	b.groups.unlock(&lr)
	b.reply(req, remoting.ResponseSuccess, "")
}

// handleCreateTopic creates or replaces a topic (UPDATE_AND_CREATE_TOPIC)
// and answers once the change is durable. The name was checked by the
// guard; system topics are refused with NO_PERMISSION, out-of-range queue
// counts and permissions with SYSTEM_ERROR (Java's answer to a bad admin
// argument).
func (b *Broker) handleCreateTopic(req *netio.Request) {
	c, code, remark := b.parseCreateTopic(&req.Cmd)
	if code != remoting.ResponseSuccess {
		b.log.Warn("actors: create topic refused", "err", remark, "conn", req.Conn.RemoteAddr())
		b.reply(req, code, remark)
		return
	}
	req.Detach()
	submitted := b.topics.submit(&topicRequest{changes: []topicChange{{op: topicPut, cfg: c}}, done: func(r *topicRequest) {
		if r.err != nil {
			b.replyDone(req, remoting.ResponseSystemError, "store topic: "+r.err.Error())
			return
		}
		if r.changes[0].changed {
			b.log.Info("actors: topic created or updated", "topic", c.TopicName, "read", c.ReadQueueNums,
				"write", c.WriteQueueNums, "perm", c.Perm, "conn", req.Conn.RemoteAddr())
			b.topicsChanged()
		}
		b.replyDone(req, remoting.ResponseSuccess, "")
	}})
	if !submitted {
		b.replyDone(req, remoting.ResponseSystemBusy, "[OVERLOAD]topic table busy, try again")
	}
}

// parseCreateTopic reads and checks an UPDATE_AND_CREATE_TOPIC header.
func (b *Broker) parseCreateTopic(cmd *remoting.Command) (routing.TopicConfig, int16, string) {
	name, err := cmd.ExtString(remoting.ExtTopic)
	if err != nil {
		return routing.TopicConfig{}, remoting.ResponseSystemError, "bad header: " + err.Error()
	}
	if b.isSystemTopic(name) {
		return routing.TopicConfig{}, remoting.ResponseNoPermission, "topic " + name + " is a system topic: clients cannot change it"
	}
	c := newTopicConfig(name, 8, remoting.PermRead|remoting.PermWrite)
	if v, err := cmd.ExtInt32(remoting.ExtReadQueueNums); err == nil {
		c.ReadQueueNums = v
	}
	if v, err := cmd.ExtInt32(remoting.ExtWriteQueueNums); err == nil {
		c.WriteQueueNums = v
	}
	if v, err := cmd.ExtInt32(remoting.ExtPerm); err == nil {
		c.Perm = v
	}
	if v, err := cmd.ExtBool(remoting.ExtOrder); err == nil {
		c.Order = v
	}
	if c.ReadQueueNums <= 0 || c.WriteQueueNums <= 0 || c.ReadQueueNums > 1024 || c.WriteQueueNums > 1024 {
		return c, remoting.ResponseSystemError, "queue counts must be within 1..1024"
	}
	if c.Perm < 0 || c.Perm > permAll {
		return c, remoting.ResponseSystemError, "perm " + itoa(int64(c.Perm)) + " outside 0..7"
	}
	return c, remoting.ResponseSuccess, ""
}

// handleDeleteTopic removes a topic's configuration, consume queues and
// committed offsets (DELETE_TOPIC_IN_BROKER), off the event loop, at most
// maxAdminInFlight at a time. System topics are refused with NO_PERMISSION.
func (b *Broker) handleDeleteTopic(req *netio.Request) {
	name, err := req.Cmd.ExtString(remoting.ExtTopic)
	if err != nil {
		b.reply(req, remoting.ResponseSystemError, "bad header: "+err.Error())
		return
	}
	if b.isSystemTopic(name) {
		b.log.Warn("actors: delete of a system topic refused", "topic", name, "conn", req.Conn.RemoteAddr())
		b.reply(req, remoting.ResponseNoPermission, "topic "+name+" is a system topic: clients cannot delete it")
		return
	}
	if b.deletes.inFlight.Add(1) > maxAdminInFlight {
		b.deletes.inFlight.Add(-1)
		b.reply(req, remoting.ResponseSystemBusy, "too many topic deletions in flight")
		return
	}
	req.Detach()
	go func() {
		defer b.deletes.inFlight.Add(-1)
		code, remark := b.deleteTopic(name, req.Conn.RemoteAddr())
		b.replyDone(req, code, remark)
	}()
}

// deleteTopic removes the topic from the table, then its queues and
// offsets (queue files of a topic missing from the table too, as RocketMQ
// cleans unused topics).
func (b *Broker) deleteTopic(name, caller string) (int16, string) {
	res, err := b.topics.apply(topicChange{op: topicDelete, cfg: routing.TopicConfig{TopicName: name}})
	if err != nil {
		return remoting.ResponseSystemError, "delete topic: " + err.Error()
	}
	if err := b.store.DeleteTopic(name); err != nil {
		b.log.Error("actors: delete topic queues", "topic", name, "err", err)
	}
	b.offsets.dropTopic(name)
	if res[0].changed {
		b.log.Info("actors: topic deleted", "topic", name, "conn", caller)
		b.topicsChanged()
	}
	return remoting.ResponseSuccess, ""
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
	if err != nil {
		maxTimes = -1
	}
	maxTimes = b.maxReconsumeTimes(group, maxTimes)
	rv, err := b.store.RecordAt(off)
	if err != nil {
		b.reply(req, remoting.ResponseSystemError, "no message at commit-log offset "+itoa(off))
		return
	}
	target := remoting.RetryGroupTopicPrefix + group
	toDLQ := rv.ReconsumeTimes() >= maxTimes || delayLevel < 0
	if toDLQ {
		target = remoting.DLQGroupTopicPrefix + group
	}
	msg := copyRecord(&rv)
	msg.Topic, msg.QueueID, msg.ReconsumeTimes = target, b.sendBackQueue(target, toDLQ), rv.ReconsumeTimes()+1
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
	if _, ok := b.topics.get(target); ok {
		b.storeInternal(req, msg)
		return
	}
	b.createGroupTopicThenStore(req, target, msg)
}

// createGroupTopicThenStore creates a retry or dead-letter topic (one
// queue), then stores msg, answering req from the topic table's goroutine.
func (b *Broker) createGroupTopicThenStore(req *netio.Request, topic string, msg persist.Message) {
	req.Detach()
	queues := int32(1)
	if g, ok := strings.CutPrefix(topic, remoting.RetryGroupTopicPrefix); ok {
		queues = b.retryQueues(g)
	}
	change := topicChange{op: topicEnsure, cfg: newTopicConfig(topic, queues, remoting.PermRead|remoting.PermWrite)}
	submitted := b.topics.submit(&topicRequest{changes: []topicChange{change}, done: func(r *topicRequest) {
		b.topicsCreated(r, "group topic", req.Conn)
		if r.err != nil {
			b.replyDone(req, remoting.ResponseSystemError, "cannot create "+topic+": "+r.err.Error())
			return
		}
		b.storeInternal(req, msg)
	}})
	if !submitted {
		b.replyDone(req, remoting.ResponseSystemBusy, "[OVERLOAD]topic table busy, try again")
	}
}

// ensureGroupTopic creates a retry or dead-letter topic (one queue) when
// it does not exist yet. It waits for the disk: not for event loops.
func (b *Broker) ensureGroupTopic(name string) (routing.TopicConfig, bool) {
	cfg, created, err := b.topics.ensure(newTopicConfig(name, 1, remoting.PermRead|remoting.PermWrite))
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
// stored. req may already be detached (answered from another goroutine).
func (b *Broker) storeInternal(req *netio.Request, msg persist.Message) {
	sc := sendPool.Get().(*sendCompletion)
	sc.broker, sc.req = b, req
	sc.append.Done = sc
	sc.append.Messages = append(sc.append.Messages[:0], msg)
	if !req.Detached() {
		req.Detach()
	}
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
