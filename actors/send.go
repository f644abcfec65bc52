package actors

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
	"github.com/cometmq/comet/routing"
)

// sendCompletion answers a producer once the writer has stored (and, in
// sync-flush mode, synced) its messages. Pooled: one per in-flight send.
type sendCompletion struct {
	broker *Broker
	req    *netio.Request
	append AppendRequest
	msgID  []byte
}

var sendPool = sync.Pool{New: func() any { return &sendCompletion{} }}

func (b *Broker) handleSend(req *netio.Request) {
	cmd := &req.Cmd
	if code, remark := b.writeRefusal(); code != remoting.ResponseSuccess {
		b.reply(req, code, remark)
		return
	}
	h, err := remoting.ParseSendHeader(cmd)
	if err != nil {
		b.reply(req, remoting.ResponseSystemError, err.Error())
		return
	}
	if code, remark := b.checkSendTopic(&h); code != remoting.ResponseSuccess {
		b.refuseName(req, remoting.ExtTopic, code, remark)
		return
	}
	if code, remark := checkName(groupName, h.ProducerGroup); code != remoting.ResponseSuccess {
		b.refuseName(req, remoting.ExtProducerGroup, code, remark)
		return
	}
	if t, ok := b.topics.get(h.Topic); ok {
		b.sendToTopic(req, &h, t)
		return
	}
	b.autoCreateThenSend(req, &h)
}

// checkSendTopic refuses a send to a topic that breaks the naming rule or
// that only the broker writes.
func (b *Broker) checkSendTopic(h *remoting.SendHeader) (int16, string) {
	if code, remark := checkName(topicName, h.Topic); code != remoting.ResponseSuccess {
		return code, remark
	}
	if reservedTopics[h.Topic] {
		return remoting.ResponseNoPermission, "topic " + h.Topic + " is reserved for the broker"
	}
	return remoting.ResponseSuccess, ""
}

// autoCreateThenSend creates a missing topic when the broker allows it
// (retry topics always), and sends once the topic is durable. The send
// continues on the topic table's goroutine: the event loop never waits
// for the disk.
func (b *Broker) autoCreateThenSend(req *netio.Request, h *remoting.SendHeader) {
	if !b.live.autoCreateTopic.Load() && !strings.HasPrefix(h.Topic, remoting.RetryGroupTopicPrefix) {
		b.reply(req, remoting.ResponseTopicNotExist, "topic "+h.Topic+" does not exist")
		return
	}
	queues := b.live.defaultQueueNums.Load()
	if h.DefaultTopicQueueNums > 0 && h.DefaultTopicQueueNums < queues {
		queues = h.DefaultTopicQueueNums
	}
	b.creates.join(b, req, h, newTopicConfig(h.Topic, queues, remoting.PermRead|remoting.PermWrite))
}

// topicCreates coalesces the sends that wait for the same topic to be
// created on first send: one change request per topic, however many sends
// a client pipelined before the topic existed, so a burst cannot fill the
// topic table's queue. Waiters are sent in arrival order once the topic is
// durable.
type topicCreates struct {
	mu      sync.Mutex
	waiting map[string][]createWaiter
}

type createWaiter struct {
	req    *netio.Request
	header remoting.SendHeader
}

// join parks req (detached) until cfg's topic exists, submitting its
// creation unless one is already pending.
func (c *topicCreates) join(b *Broker, req *netio.Request, h *remoting.SendHeader, cfg routing.TopicConfig) {
	req.Detach()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waiting == nil {
		c.waiting = map[string][]createWaiter{}
	}
	if waiters, pending := c.waiting[cfg.TopicName]; pending {
		c.waiting[cfg.TopicName] = append(waiters, createWaiter{req: req, header: *h})
		return
	}
	c.waiting[cfg.TopicName] = []createWaiter{{req: req, header: *h}}
	change := topicChange{op: topicEnsure, cfg: cfg}
	if !b.topics.submit(&topicRequest{changes: []topicChange{change}, done: func(r *topicRequest) { c.created(b, r) }}) {
		delete(c.waiting, cfg.TopicName)
		b.replyDone(req, remoting.ResponseSystemBusy, "[OVERLOAD]topic table busy, try again")
	}
}

// created runs on the topic table's goroutine once the creation is
// durable (or failed) and sends every waiter.
func (c *topicCreates) created(b *Broker, r *topicRequest) {
	topic := r.changes[0].cfg.TopicName
	c.mu.Lock()
	waiters := c.waiting[topic]
	delete(c.waiting, topic)
	c.mu.Unlock()
	if len(waiters) > 0 {
		b.topicsCreated(r, "topic on first send", waiters[0].req.Conn)
	}
	for _, w := range waiters {
		if r.err != nil {
			b.replyDone(w.req, remoting.ResponseSystemError, "create topic: "+r.err.Error())
			continue
		}
		b.sendToTopic(w.req, &w.header, r.changes[0].result)
	}
}

// sendToTopic stores the messages of a send to an existing topic. On the
// event loop (req not detached) a small send may be stored inline;
// otherwise it goes through the writer's ring.
func (b *Broker) sendToTopic(req *netio.Request, h *remoting.SendHeader, topic routing.TopicConfig) {
	cmd := &req.Cmd
	if topic.Perm&remoting.PermWrite == 0 {
		b.replyDone(req, remoting.ResponseNoPermission, "topic "+h.Topic+" is not writable")
		return
	}
	queueID := h.QueueID
	if queueID < 0 {
		queueID = rand.Int32N(max(topic.WriteQueueNums, 1))
	}
	if queueID >= max(topic.WriteQueueNums, topic.ReadQueueNums) {
		b.replyDone(req, remoting.ResponseSystemError, "queueId out of range for topic "+h.Topic)
		return
	}
	sc := sendPool.Get().(*sendCompletion)
	sc.broker, sc.req = b, req
	sc.append.Done = sc
	msgs := sc.append.Messages[:0]
	born := bornHost(req.Conn)
	var code int16
	var remark string
	if h.Batch || cmd.Code == remoting.RequestSendBatchMessage {
		msgs, code, remark = b.batchMessages(msgs, h, queueID, cmd.Body, born)
	} else {
		msgs, code, remark = b.singleMessage(msgs, h, queueID, cmd.Body, born)
		if code == remoting.ResponseSuccess {
			code, remark = b.routeSpecial(&msgs[0])
		}
	}
	if code == remoting.ResponseSuccess {
		code, remark = checkPropertiesLength(msgs)
	}
	sc.append.Messages = msgs
	if code != remoting.ResponseSuccess {
		sc.recycle()
		b.replyDone(req, code, remark)
		return
	}
	if !req.Detached() && b.writer.TryAppendInline(&sc.append) {
		return // answered in this read pass; Complete recycled sc
	}
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

// checkPropertiesLength refuses a message whose stored properties (the
// client's, with what the broker adds) would not fit the record's 16-bit
// length: MESSAGE_ILLEGAL, as for any other illegal message.
func checkPropertiesLength(msgs []persist.Message) (int16, string) {
	for i := range msgs {
		if n := len(msgs[i].Properties); n > persist.MaxPropertiesLength {
			return remoting.ResponseMessageIllegal, "message properties are " + itoa(int64(n)) +
				" bytes, more than " + itoa(persist.MaxPropertiesLength)
		}
	}
	return remoting.ResponseSuccess, ""
}

func (b *Broker) singleMessage(msgs []persist.Message, h *remoting.SendHeader, queueID int32, body []byte, born persist.Host) ([]persist.Message, int16, string) {
	if len(body) > b.opts.MaxMessageSize {
		return msgs, remoting.ResponseMessageIllegal, "message body larger than the maximum"
	}
	props := b.storedProperties(nil, []byte(h.Properties))
	if h.SysFlag&txnTypeMask != 0 && !isTransactional(props) {
		return msgs, remoting.ResponseMessageIllegal, "sysFlag has transaction bits but the message has no TRAN_MSG property"
	}
	msgs = append(msgs, persist.Message{
		Topic: h.Topic, QueueID: queueID, Flag: h.Flag, SysFlag: h.SysFlag,
		BornTimestamp: h.BornTimestamp, BornHost: born, ReconsumeTimes: h.ReconsumeTimes,
		Body: body, Properties: props,
	})
	return msgs, remoting.ResponseSuccess, ""
}

func (b *Broker) batchMessages(msgs []persist.Message, h *remoting.SendHeader, queueID int32, body []byte, born persist.Host) ([]persist.Message, int16, string) {
	if len(body) > b.opts.MaxMessageSize {
		return msgs, remoting.ResponseMessageIllegal, "batch larger than the maximum message size"
	}
	err := remoting.DecodeBatch(body, func(flag int32, msgBody, props []byte) error {
		if hasSpecialProperty(props) {
			return errors.New("transactional and delayed messages cannot be batched")
		}
		msgs = append(msgs, persist.Message{
			Topic: h.Topic, QueueID: queueID, Flag: flag, BornTimestamp: h.BornTimestamp,
			BornHost: born, Body: msgBody, Properties: b.storedProperties(nil, props),
		})
		return nil
	})
	if err != nil {
		return msgs, remoting.ResponseMessageIllegal, "bad batch: " + err.Error()
	}
	if len(msgs) == 0 {
		return msgs, remoting.ResponseMessageIllegal, "empty batch"
	}
	return msgs, remoting.ResponseSuccess, ""
}

// routeSpecial sends a transactional half message to the half topic and a
// message for later delivery to the timer ladder.
func (b *Broker) routeSpecial(m *persist.Message) (int16, string) {
	if !hasSpecialProperty(m.Properties) {
		return remoting.ResponseSuccess, "" // the common case: one pass, no allocation
	}
	if isTransactional(m.Properties) {
		if err := b.txns.prepareHalf(m); err != nil {
			return remoting.ResponseMessageIllegal, err.Error()
		}
		return remoting.ResponseSuccess, ""
	}
	if _, err := b.timers.prepare(m, time.Now().UnixMilli()); err != nil {
		return remoting.ResponseMessageIllegal, err.Error()
	}
	return remoting.ResponseSuccess, ""
}

// specialKeys are the properties that route a send away from its topic.
var specialKeys = [...]string{remoting.PropertyTransactionPrepared, remoting.PropertyDelayLevel,
	remoting.PropertyTimerDeliverMS, remoting.PropertyTimerDelaySec, remoting.PropertyTimerDelayMS}

// hasSpecialProperty reports, in one pass over the raw properties, whether
// any key asks for a transaction or a later delivery.
func hasSpecialProperty(props []byte) bool {
	for len(props) > 0 {
		item := props
		if i := bytes.IndexByte(props, remoting.PropertySeparator); i >= 0 {
			item, props = props[:i], props[i+1:]
		} else {
			props = nil
		}
		sep := bytes.IndexByte(item, remoting.PropertyNameValueSeparator)
		if sep <= 0 {
			continue
		}
		for _, k := range specialKeys {
			if string(item[:sep]) == k {
				return true
			}
		}
	}
	return false
}

// storedProperties is the client's property string with the broker's
// CLUSTER, MSG_REGION and TRACE_ON properties added where the client did
// not set them (RocketMQ stores the region and trace switch with every
// message, so a consumer's trace records carry them), separators
// normalized.
func (b *Broker) storedProperties(dst, props []byte) []byte {
	dst = append(dst, props...)
	if len(dst) > 0 && dst[len(dst)-1] == remoting.PropertySeparator {
		dst = dst[:len(dst)-1]
	}
	for _, p := range [...]struct{ key, value string }{{remoting.PropertyCluster, b.opts.ClusterName},
		{remoting.PropertyMsgRegion, msgRegion}, {remoting.PropertyTraceSwitch, traceOn}} {
		if _, ok := remoting.PropertyValue(string(props), p.key); !ok {
			dst = remoting.AppendProperty(dst, p.key, p.value)
		}
	}
	return dst
}

// The region and trace switch a RocketMQ broker reports by default
// (regionId, traceOn), in send responses and stored messages.
const (
	msgRegion = "DefaultRegion"
	traceOn   = "true"
)

func bornHost(c *netio.Conn) persist.Host {
	if h, ok := c.Attachment().(persist.Host); ok {
		return h
	}
	h, err := parseIPv4HostPort(c.RemoteAddr())
	if err != nil {
		h = persist.Host{IP: []byte{127, 0, 0, 1}}
	}
	c.SetAttachment(h) // parsed once per connection; the IP is never modified
	return h
}

// Complete runs on the writer goroutine, or inside the send handler for an
// inline append: answer, and release a detached request.
func (sc *sendCompletion) Complete(a *AppendRequest) {
	b, req := sc.broker, sc.req
	b.metrics.countAppend(a)
	if a.Err != nil {
		code, remark := appendErrorCode(a.Err)
		req.Reply(remoting.NewResponse(&req.Cmd, code, remark))
	} else {
		resp := remoting.NewResponse(&req.Cmd, remoting.ResponseSuccess, "")
		sc.msgID = sc.msgID[:0]
		for i, r := range a.Results {
			if i > 0 {
				sc.msgID = append(sc.msgID, ',')
			}
			sc.msgID = remoting.AppendOffsetMsgID(sc.msgID, b.storeHost.IP, b.storeHost.Port, r.PhysicalOffset)
		}
		resp.Ext.Set("msgId", string(sc.msgID))
		resp.Ext.Set("queueId", itoa(int64(a.Messages[0].QueueID)))
		resp.Ext.Set("queueOffset", itoa(a.Results[0].QueueOffset))
		resp.Ext.Set(remoting.ExtMsgRegion, msgRegion)
		resp.Ext.Set(remoting.ExtTraceOn, traceOn)
		req.Reply(resp)
	}
	if req.Detached() {
		req.Release()
	}
	sc.req = nil
	sc.recycle()
}

func (sc *sendCompletion) recycle() {
	for i := range sc.append.Messages {
		sc.append.Messages[i] = persist.Message{}
	}
	sc.append.Messages = sc.append.Messages[:0]
	sc.append.Results = sc.append.Results[:0]
	sc.append.Err = nil
	sc.broker = nil
	sendPool.Put(sc)
}

// replyDone answers req and, when it was detached, releases it: the last
// thing a handler or its continuation does with a request.
func (b *Broker) replyDone(req *netio.Request, code int16, remark string) {
	b.reply(req, code, remark)
	if req.Detached() {
		req.Release()
	}
}

// reply answers req with a code and remark.
func (b *Broker) reply(req *netio.Request, code int16, remark string) {
	if code != remoting.ResponseSuccess && remark != "" {
		b.log.Debug("actors: request refused", "code", remoting.RequestName(req.Cmd.Code), "response", remoting.ResponseName(code), "remark", remark, "conn", req.Conn.RemoteAddr())
	}
	req.Reply(remoting.NewResponse(&req.Cmd, code, remark))
}
