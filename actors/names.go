package actors

import (
	"encoding/json"
	"strings"

	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
)

// Names are checked once, where they enter: before a handler runs, every
// topic and group a request names in its header is held against
// remoting's naming rule (remoting.ValidateTopic and friends). Bodies that
// carry names (HEART_BEAT, LOCK_BATCH_MQ, UNLOCK_BATCH_MQ) are checked by
// their handlers right after decoding (CHECK_CLIENT_CONFIG by a guard of
// its own), and the send family checks its
// parsed header (the short v2 keys are resolved there). A refused name is
// answered with
//
//	topic                    TOPIC_NOT_EXIST (17): no topic of that name can exist
//	group, consumer group    SUBSCRIPTION_GROUP_NOT_EXIST (26)
//	the broker's own group   NO_PERMISSION (16)
//
// and logged at WARN under one message, which the process logger rate
// limits; the log line and the remark carry at most the first 64 bytes
// of the name.

// nameKind is the rule a name field follows.
type nameKind uint8

const (
	topicName         nameKind = iota
	groupName                  // producer groups, and consumer groups in read-only admin requests
	consumerGroupName          // its retry and DLQ topics must be valid; not a system group
)

// nameField is a header field that carries a name.
type nameField struct {
	key  string
	kind nameKind
	// optional: an empty value means none (UNREGISTER_CLIENT names one
	// group or the other; GET_CONSUME_STATS may name no topic).
	optional bool
}

// requestNameFields lists, per request code, the header fields that name
// a topic or a group. A field that is absent is left to the handler, which
// answers its own "missing field" error; one that is present is checked.
var requestNameFields = map[int16][]nameField{
	remoting.RequestPullMessage:             {{key: remoting.ExtConsumerGroup, kind: consumerGroupName}, {key: remoting.ExtTopic}},
	remoting.RequestQueryMessage:            {{key: remoting.ExtTopic}},
	remoting.RequestQueryConsumerOffset:     {{key: remoting.ExtConsumerGroup, kind: consumerGroupName}, {key: remoting.ExtTopic}},
	remoting.RequestUpdateConsumerOffset:    {{key: remoting.ExtConsumerGroup, kind: consumerGroupName}, {key: remoting.ExtTopic}},
	remoting.RequestUpdateAndCreateTopic:    {{key: remoting.ExtTopic}},
	remoting.RequestSearchOffsetByTimestamp: {{key: remoting.ExtTopic}},
	remoting.RequestGetMaxOffset:            {{key: remoting.ExtTopic}},
	remoting.RequestGetMinOffset:            {{key: remoting.ExtTopic}},
	remoting.RequestUnregisterClient: {{key: remoting.ExtProducerGroup, kind: groupName, optional: true},
		{key: remoting.ExtConsumerGroup, kind: consumerGroupName, optional: true}},
	remoting.RequestConsumerSendMsgBack: {{key: remoting.ExtGroup, kind: consumerGroupName},
		{key: remoting.ExtOriginTopic, optional: true}},
	remoting.RequestEndTransaction:            {{key: remoting.ExtProducerGroup, kind: groupName}},
	remoting.RequestGetConsumerListByGroup:    {{key: remoting.ExtConsumerGroup, kind: consumerGroupName}},
	remoting.RequestDeleteTopicInBroker:       {{key: remoting.ExtTopic}},
	remoting.RequestGetTopicStatsInfo:         {{key: remoting.ExtTopic}},
	remoting.RequestGetConsumerConnectionList: {{key: remoting.ExtConsumerGroup, kind: groupName}},
	remoting.RequestGetConsumeStats: {{key: remoting.ExtConsumerGroup, kind: groupName},
		{key: remoting.ExtTopic, optional: true}},
	remoting.RequestInvokeBrokerToResetOffset: {{key: remoting.ExtTopic}, {key: remoting.ExtGroup, kind: consumerGroupName}},
	remoting.RequestDeleteSubscriptionGroup:   {{key: "groupName", kind: consumerGroupName}},
	remoting.RequestGetProducerConnectionList: {{key: remoting.ExtProducerGroup, kind: groupName}},
	remoting.RequestQueryTopicConsumeByWho:    {{key: remoting.ExtTopic}},
	remoting.RequestQueryConsumeQueue:         {{key: remoting.ExtTopic}, {key: remoting.ExtConsumerGroup, kind: groupName, optional: true}},
	remoting.RequestGetConsumerRunningInfo:    {{key: remoting.ExtConsumerGroup, kind: groupName}},
}

// guardNames wraps the handler of code with the check of the names its
// header carries.
func (b *Broker) guardNames(code int16, h netio.Handler) netio.Handler {
	return b.whenServing(b.checkNames(code, h))
}

// whenServing answers SYSTEM_BUSY to a request that arrives while the
// broker is still starting: the listener is bound before the store, the
// writer and replication exist (STOREHOST needs the bound port), and no
// handler may touch them before Start has published them.
func (b *Broker) whenServing(h netio.Handler) netio.Handler {
	return func(req *netio.Request) {
		if !b.serving.Load() {
			b.reply(req, remoting.ResponseSystemBusy, "broker is starting")
			return
		}
		h(req)
	}
}

func (b *Broker) checkNames(code int16, h netio.Handler) netio.Handler {
	fields := requestNameFields[code]
	if len(fields) == 0 {
		return h
	}
	return func(req *netio.Request) {
		for _, f := range fields {
			v, ok := req.Cmd.Ext.Get(f.key)
			if !ok || (f.optional && v == "") {
				continue
			}
			if code, remark := checkName(f.kind, v); code != remoting.ResponseSuccess {
				b.refuseName(req, f.key, code, remark)
				return
			}
		}
		h(req)
	}
}

// checkName holds one name against its rule and returns the refusal.
func checkName(kind nameKind, name string) (int16, string) {
	switch kind {
	case topicName:
		if err := remoting.ValidateTopic(name); err != nil {
			return remoting.ResponseTopicNotExist, err.Error()
		}
	case groupName:
		if err := remoting.ValidateGroup(name); err != nil {
			return remoting.ResponseSubscriptionGroupNotExist, err.Error()
		}
	default:
		if err := remoting.ValidateConsumerGroup(name); err != nil {
			return remoting.ResponseSubscriptionGroupNotExist, err.Error()
		}
		if remoting.IsSystemGroup(name) {
			return remoting.ResponseNoPermission, "consumer group " + name + " is the broker's own"
		}
	}
	return remoting.ResponseSuccess, ""
}

// refuseName answers a request whose field names something the rule
// refuses, and logs it (rate limited by the process logger).
func (b *Broker) refuseName(req *netio.Request, field string, code int16, remark string) {
	b.log.Warn("actors: request with an invalid name refused", "request", remoting.RequestName(req.Cmd.Code),
		"field", field, "response", remoting.ResponseName(code), "err", remark, "conn", req.Conn.RemoteAddr())
	b.replyDone(req, code, remark)
}

// checkHeartbeatNames checks every group and subscribed topic of a
// heartbeat.
func checkHeartbeatNames(hb *heartbeatData) (int16, string) {
	for _, p := range hb.ProducerDataSet {
		if code, remark := checkName(groupName, p.GroupName); code != remoting.ResponseSuccess {
			return code, remark
		}
	}
	for i := range hb.ConsumerDataSet {
		cd := &hb.ConsumerDataSet[i]
		if code, remark := checkName(consumerGroupName, cd.GroupName); code != remoting.ResponseSuccess {
			return code, remark
		}
		for _, sd := range cd.SubscriptionDataSet {
			if code, remark := checkName(topicName, sd.Topic); code != remoting.ResponseSuccess {
				return code, remark
			}
		}
	}
	return remoting.ResponseSuccess, ""
}

// checkLockNames checks the group and the topics of a lock or unlock.
func checkLockNames(lr *lockRequest) (int16, string) {
	if code, remark := checkName(consumerGroupName, lr.ConsumerGroup); code != remoting.ResponseSuccess {
		return code, remark
	}
	for _, mq := range lr.MQSet {
		if code, remark := checkName(topicName, mq.Topic); code != remoting.ResponseSuccess {
			return code, remark
		}
	}
	return remoting.ResponseSuccess, ""
}

// guardClientConfigNames checks the group and the topic a
// CHECK_CLIENT_CONFIG body names before h compiles its expression. A body
// that does not decode is left to h.
func (b *Broker) guardClientConfigNames(h netio.Handler) netio.Handler {
	return func(req *netio.Request) {
		var body checkClientRequest
		if json.Unmarshal(req.Cmd.Body, &body) == nil {
			code, remark := checkName(consumerGroupName, body.Group)
			if code == remoting.ResponseSuccess {
				code, remark = checkName(topicName, body.SubscriptionData.Topic)
			}
			if code != remoting.ResponseSuccess {
				b.refuseName(req, "body", code, remark)
				return
			}
		}
		h(req)
	}
}

// isSystemTopic reports whether clients may not delete or change topic:
// RocketMQ's system topics, this broker's cluster, broker and reply
// topics, and the retry and dead-letter topics of its own groups.
func (b *Broker) isSystemTopic(topic string) bool {
	o := &b.opts
	switch {
	case remoting.IsSystemTopic(topic), topic == o.ClusterName, topic == o.BrokerName,
		topic == o.ClusterName+remoting.ReplyTopicSuffix:
		return true
	}
	for _, prefix := range []string{remoting.RetryGroupTopicPrefix, remoting.DLQGroupTopicPrefix} {
		if g, ok := strings.CutPrefix(topic, prefix); ok && remoting.IsSystemGroup(g) {
			return true
		}
	}
	return false
}
