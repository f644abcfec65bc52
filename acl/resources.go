package acl

import (
	"encoding/json"
	"fmt"

	"github.com/cometmq/comet/netio/remoting"
)

// Profile says which server a Gate guards: the requests of a broker and of
// a name server differ in which ones need an admin account.
type Profile uint8

const (
	// BrokerProfile guards a broker.
	BrokerProfile Profile = iota + 1
	// NameServerProfile guards a name server: every request needs an
	// authenticated account; writes need an admin one (brokers register
	// with theirs).
	NameServerProfile
)

// brokerAdminCodes need an admin account on a broker: RocketMQ's list
// (Permission.ADMIN_CODE: topic and group creation and deletion, broker
// config) and the other requests that change what a broker serves or
// stores, reset offsets or read the whole log.
var brokerAdminCodes = map[int16]bool{
	remoting.RequestUpdateAndCreateTopic:             true,
	remoting.RequestUpdateBrokerConfig:               true,
	remoting.RequestDeleteTopicInBroker:              true,
	remoting.RequestUpdateAndCreateSubscriptionGroup: true,
	remoting.RequestDeleteSubscriptionGroup:          true,
	remoting.RequestInvokeBrokerToResetOffset:        true,
	remoting.RequestResetConsumerOffsetInBroker:      true,
	remoting.RequestTriggerDeleteFiles:               true,
	remoting.RequestWipeWritePermOfBroker:            true,
	remoting.RequestSuspendConsumer:                  true,
	remoting.RequestResumeConsumer:                   true,
	remoting.RequestCleanExpiredConsumeQueue:         true,
	remoting.RequestCleanUnusedTopic:                 true,
	remoting.RequestCloneGroupOffset:                 true,
	remoting.RequestNotifyBrokerRoleChanged:          true,
	remoting.RequestCometVerifyStore:                 true,
}

// nameServerAdminCodes are a name server's writes.
var nameServerAdminCodes = map[int16]bool{
	remoting.RequestRegisterBroker:        true,
	remoting.RequestUnregisterBroker:      true,
	remoting.RequestDeleteTopicInNameSrv:  true,
	remoting.RequestPutKVConfig:           true,
	remoting.RequestDeleteKVConfig:        true,
	remoting.RequestUpdateNameSrvConfig:   true,
	remoting.RequestWipeWritePermOfBroker: true,
}

// needsAdmin reports whether code needs an admin account under p.
func (p Profile) needsAdmin(code int16) bool {
	if p == NameServerProfile {
		return nameServerAdminCodes[code]
	}
	return brokerAdminCodes[code]
}

// authorize checks what cmd touches against acct (RocketMQ's
// PlainAccessResource.parse, plus QUERY_CONSUMER_OFFSET and the batch and
// reply sends, which Comet checks too):
//
//	send (10, 310, 320, 324, 325)   PUB on the topic; a %RETRY%g topic: SUB on group g
//	pull (11)                       SUB on the topic and on consumerGroup
//	query/update offset (14, 15)    SUB on the topic and on consumerGroup
//	query message (12)              SUB on the topic
//	heartbeat (34)                  SUB on each consumer group and each subscribed topic
//	send back (36)                  SUB on group
//	consumer list, unregister (38, 35)  SUB on consumerGroup
//
// Other requests need only an authenticated account, or an admin one
// (needsAdmin).
func (p Profile) authorize(acct *Account, cmd *remoting.Command) error {
	if p.needsAdmin(cmd.Code) && !acct.Admin {
		return fmt.Errorf("%w: %s needs an admin account, accessKey=%s is not one",
			ErrDenied, remoting.RequestName(cmd.Code), acct.AccessKey)
	}
	if p != BrokerProfile {
		return nil
	}
	ext := &cmd.Ext
	switch cmd.Code {
	case remoting.RequestSendMessage, remoting.RequestSendReplyMessage:
		return allowSend(acct, ext, remoting.ExtTopic)
	case remoting.RequestSendMessageV2, remoting.RequestSendBatchMessage, remoting.RequestSendReplyMessageV2:
		return allowSend(acct, ext, remoting.ExtV2Topic)
	case remoting.RequestPullMessage, remoting.RequestQueryConsumerOffset, remoting.RequestUpdateConsumerOffset:
		if err := allowExt(acct, ext, remoting.ExtTopic, false, Sub); err != nil {
			return err
		}
		return allowExt(acct, ext, remoting.ExtConsumerGroup, true, Sub)
	case remoting.RequestQueryMessage:
		return allowExt(acct, ext, remoting.ExtTopic, false, Sub)
	case remoting.RequestConsumerSendMsgBack:
		return allowExt(acct, ext, remoting.ExtGroup, true, Sub)
	case remoting.RequestGetConsumerListByGroup:
		return allowExt(acct, ext, remoting.ExtConsumerGroup, true, Sub)
	case remoting.RequestUnregisterClient:
		if g, _ := ext.Get(remoting.ExtConsumerGroup); g != "" {
			return acct.Allowed(g, true, Sub)
		}
	case remoting.RequestHeartbeat:
		return allowHeartbeat(acct, cmd.Body)
	}
	return nil
}

func allowSend(acct *Account, ext *remoting.Ext, topicKey string) error {
	topic, _ := ext.Get(topicKey)
	if topic == traceTopic {
		return nil
	}
	if len(topic) > len(retryTopicPrefix) && topic[:len(retryTopicPrefix)] == retryTopicPrefix {
		return acct.Allowed(topic, false, Sub)
	}
	return acct.Allowed(topic, false, Pub)
}

func allowExt(acct *Account, ext *remoting.Ext, key string, group bool, needed Perm) error {
	name, _ := ext.Get(key)
	return acct.Allowed(name, group, needed)
}

// heartbeatGroups is the part of a HEART_BEAT body the ACL reads.
type heartbeatGroups struct {
	ConsumerDataSet []struct {
		GroupName           string `json:"groupName"`
		SubscriptionDataSet []struct {
			Topic string `json:"topic"`
		} `json:"subscriptionDataSet"`
	} `json:"consumerDataSet"`
}

func allowHeartbeat(acct *Account, body []byte) error {
	var hb heartbeatGroups
	if err := json.Unmarshal(body, &hb); err != nil {
		return fmt.Errorf("%w: heartbeat body unreadable: %v", ErrDenied, err)
	}
	for _, cd := range hb.ConsumerDataSet {
		if err := acct.Allowed(cd.GroupName, true, Sub); err != nil {
			return err
		}
		for _, sd := range cd.SubscriptionDataSet {
			if err := acct.Allowed(sd.Topic, false, Sub); err != nil {
				return err
			}
		}
	}
	return nil
}
