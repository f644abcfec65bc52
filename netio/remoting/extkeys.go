package remoting

// Ext keys used by the requests and responses clients, brokers and name servers exchange.
// Decoding maps these to the constant strings, so well-known keys cost no
// allocation.
const (
	ExtTopic                 = "topic"
	ExtQueueID               = "queueId"
	ExtProducerGroup         = "producerGroup"
	ExtConsumerGroup         = "consumerGroup"
	ExtGroup                 = "group"
	ExtSysFlag               = "sysFlag"
	ExtBornTimestamp         = "bornTimestamp"
	ExtFlag                  = "flag"
	ExtProperties            = "properties"
	ExtReconsumeTimes        = "reconsumeTimes"
	ExtUnitMode              = "unitMode"
	ExtMaxReconsumeTimes     = "maxReconsumeTimes"
	ExtBatch                 = "batch"
	ExtDefaultTopic          = "defaultTopic"
	ExtDefaultTopicQueueNums = "defaultTopicQueueNums"
	ExtQueueOffset           = "queueOffset"
	ExtMaxMsgNums            = "maxMsgNums"
	ExtCommitOffset          = "commitOffset"
	ExtSuspendTimeoutMillis  = "suspendTimeoutMillis"
	ExtSubscription          = "subscription"
	ExtSubVersion            = "subVersion"
	ExtExpressionType        = "expressionType"
	ExtNextBeginOffset       = "nextBeginOffset"
	ExtMinOffset             = "minOffset"
	ExtMaxOffset             = "maxOffset"
	ExtSuggestWhichBrokerID  = "suggestWhichBrokerId"
	ExtMsgID                 = "msgId"
	ExtOffset                = "offset"
	ExtTimestamp             = "timestamp"
	ExtDelayLevel            = "delayLevel"
	ExtOriginMsgID           = "originMsgId"
	ExtOriginTopic           = "originTopic"
	ExtCommitLogOffset       = "commitLogOffset"
	ExtTranStateTableOffset  = "tranStateTableOffset"
	ExtCommitOrRollback      = "commitOrRollback"
	ExtFromTransactionCheck  = "fromTransactionCheck"
	ExtTransactionID         = "transactionId"
	ExtOffsetMsgID           = "offsetMsgId"
	ExtMsgRegion             = "MSG_REGION"
	ExtTraceOn               = "TRACE_ON"
	ExtBrokerName            = "brokerName"
	ExtBrokerAddr            = "brokerAddr"
	ExtClusterName           = "clusterName"
	ExtHAServerAddr          = "haServerAddr"
	ExtBrokerID              = "brokerId"
	ExtCompressed            = "compressed"
	ExtBodyCRC32             = "bodyCrc32"
	ExtMasterAddr            = "masterAddr"
	ExtReadQueueNums         = "readQueueNums"
	ExtWriteQueueNums        = "writeQueueNums"
	ExtPerm                  = "perm"
	ExtTopicFilterType       = "topicFilterType"
	ExtTopicSysFlag          = "topicSysFlag"
	ExtOrder                 = "order"
	ExtClientID              = "clientId"
	ExtClientAddr            = "clientAddr"
	ExtJstackEnable          = "jstackEnable"
	ExtKey                   = "key"
	ExtMaxNum                = "maxNum"
	ExtBeginTimestamp        = "beginTimestamp"
	ExtEndTimestamp          = "endTimestamp"
	ExtIndexLastUpdateTime   = "indexLastUpdateTimestamp"
	ExtIndexLastUpdateOffset = "indexLastUpdatePhyoffset"
	ExtStoreHost             = "storeHost"
	ExtBornHost              = "bornHost"
	ExtStoreTimestamp        = "storeTimestamp"
	ExtAccessKey             = "AccessKey"
	ExtSignature             = "Signature"
	ExtSecurityToken         = "SecurityToken"
)

// Short ext keys of the v2 send header (SEND_MESSAGE_V2, SEND_BATCH_MESSAGE).
const (
	ExtV2ProducerGroup         = "a"
	ExtV2Topic                 = "b"
	ExtV2DefaultTopic          = "c"
	ExtV2DefaultTopicQueueNums = "d"
	ExtV2QueueID               = "e"
	ExtV2SysFlag               = "f"
	ExtV2BornTimestamp         = "g"
	ExtV2Flag                  = "h"
	ExtV2Properties            = "i"
	ExtV2ReconsumeTimes        = "j"
	ExtV2UnitMode              = "k"
	ExtV2MaxReconsumeTimes     = "l"
	ExtV2Batch                 = "m"
)

var internedExtKeys = func() map[string]string {
	keys := []string{
		ExtTopic, ExtQueueID, ExtProducerGroup, ExtConsumerGroup, ExtGroup, ExtSysFlag,
		ExtBornTimestamp, ExtFlag, ExtProperties, ExtReconsumeTimes, ExtUnitMode,
		ExtMaxReconsumeTimes, ExtBatch, ExtDefaultTopic, ExtDefaultTopicQueueNums,
		ExtQueueOffset, ExtMaxMsgNums, ExtCommitOffset, ExtSuspendTimeoutMillis,
		ExtSubscription, ExtSubVersion, ExtExpressionType, ExtNextBeginOffset,
		ExtMinOffset, ExtMaxOffset, ExtSuggestWhichBrokerID, ExtMsgID, ExtOffset,
		ExtTimestamp, ExtDelayLevel, ExtOriginMsgID, ExtOriginTopic, ExtCommitLogOffset,
		ExtTranStateTableOffset, ExtCommitOrRollback, ExtFromTransactionCheck,
		ExtTransactionID, ExtOffsetMsgID, ExtMsgRegion, ExtTraceOn, ExtBrokerName,
		ExtBrokerAddr, ExtClusterName, ExtHAServerAddr, ExtBrokerID, ExtCompressed,
		ExtBodyCRC32, ExtMasterAddr, ExtReadQueueNums, ExtWriteQueueNums, ExtPerm,
		ExtTopicFilterType, ExtTopicSysFlag, ExtOrder, ExtClientID, ExtClientAddr,
		ExtJstackEnable, ExtKey, ExtMaxNum, ExtBeginTimestamp, ExtEndTimestamp,
		ExtIndexLastUpdateTime, ExtIndexLastUpdateOffset, ExtStoreHost, ExtBornHost,
		ExtStoreTimestamp, ExtAccessKey, ExtSignature, ExtSecurityToken,
		ExtV2ProducerGroup, ExtV2Topic, ExtV2DefaultTopic, ExtV2DefaultTopicQueueNums,
		ExtV2QueueID, ExtV2SysFlag, ExtV2BornTimestamp, ExtV2Flag, ExtV2Properties,
		ExtV2ReconsumeTimes, ExtV2UnitMode, ExtV2MaxReconsumeTimes, ExtV2Batch,
	}
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[k] = k
	}
	return m
}()

// internExtKey returns the constant string for a well-known key without
// allocating.
func internExtKey(key []byte) (string, bool) {
	s, ok := internedExtKeys[string(key)]
	return s, ok
}
