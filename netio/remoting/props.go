package remoting

import (
	"sort"
	"strings"
)

// Property string separators: key \x01 value \x02 …
const (
	PropertyNameValueSeparator = '\x01'
	PropertySeparator          = '\x02'
)

// Reserved property keys (RocketMQ 4.x MessageConst). The values are exact.
const (
	PropertyKeys                       = "KEYS"
	PropertyTags                       = "TAGS"
	PropertyWaitStoreMsgOK             = "WAIT"
	PropertyDelayLevel                 = "DELAY"
	PropertyRetryTopic                 = "RETRY_TOPIC"
	PropertyRealTopic                  = "REAL_TOPIC"
	PropertyRealQueueID                = "REAL_QID"
	PropertyTransactionPrepared        = "TRAN_MSG"
	PropertyProducerGroup              = "PGROUP"
	PropertyMinOffset                  = "MIN_OFFSET"
	PropertyMaxOffset                  = "MAX_OFFSET"
	PropertyBuyerID                    = "BUYER_ID"
	PropertyOriginMessageID            = "ORIGIN_MESSAGE_ID"
	PropertyTransferFlag               = "TRANSFER_FLAG"
	PropertyCorrectionFlag             = "CORRECTION_FLAG"
	PropertyMQ2Flag                    = "MQ2_FLAG"
	PropertyReconsumeTime              = "RECONSUME_TIME"
	PropertyMsgRegion                  = "MSG_REGION"
	PropertyTraceSwitch                = "TRACE_ON"
	PropertyUniqKey                    = "UNIQ_KEY"
	PropertyMaxReconsumeTimes          = "MAX_RECONSUME_TIMES"
	PropertyConsumeStartTimestamp      = "CONSUME_START_TIME"
	PropertyTransactionPreparedOffset  = "TRAN_PREPARED_QUEUE_OFFSET"
	PropertyTransactionCheckTimes      = "TRANSACTION_CHECK_TIMES"
	PropertyCheckImmunityTimeInSeconds = "CHECK_IMMUNITY_TIME_IN_SECONDS"
	PropertyInstanceID                 = "INSTANCE_ID"
	PropertyCorrelationID              = "CORRELATION_ID"
	PropertyReplyToClient              = "REPLY_TO_CLIENT"
	PropertyMessageTTL                 = "TTL"
	PropertyReplyMessageArriveTime     = "ARRIVE_TIME"
	PropertyPushReplyTime              = "PUSH_REPLY_TIME"
	PropertyCluster                    = "CLUSTER"
	PropertyMessageType                = "MSG_TYPE"
	PropertyInnerMultiDispatch         = "INNER_MULTI_DISPATCH"
	PropertyInnerMultiQueueOffset      = "INNER_MULTI_QUEUE_OFFSET"
	PropertyShardingKey                = "SHARDING_KEY"
	PropertyTransactionID              = "__transactionId__"
	PropertyTimerDeliverMS             = "TIMER_DELIVER_MS"
	PropertyTimerDelaySec              = "TIMER_DELAY_SEC"
	PropertyTimerDelayMS               = "TIMER_DELAY_MS"
)

// KeySeparator joins several message keys inside PropertyKeys.
const KeySeparator = " "

// Message sysFlag bits (RocketMQ MessageSysFlag), stored in SYSFLAG and sent in the
// sysFlag ext. Part of the format: do not change.
const (
	SysFlagCompressed          int32 = 0x1
	SysFlagMultiTags           int32 = 0x2
	SysFlagTransactionMask     int32 = 0xC
	SysFlagTransactionNot      int32 = 0x0
	SysFlagTransactionPrepare  int32 = 0x4
	SysFlagTransactionCommit   int32 = 0x8
	SysFlagTransactionRollback int32 = 0xC
	SysFlagBornHostIPv6        int32 = 0x10
	SysFlagStoreHostIPv6       int32 = 0x20
	SysFlagNeedUnwrap          int32 = 0x40
	SysFlagInnerBatch          int32 = 0x80
	SysFlagCompressionMask     int32 = 0x700
)

// Pull request sysFlag bits (PULL_MESSAGE).
const (
	PullFlagCommitOffset int32 = 0x1
	PullFlagSuspend      int32 = 0x2
	PullFlagSubscription int32 = 0x4
	PullFlagClassFilter  int32 = 0x8
	PullFlagLitePull     int32 = 0x10
)

// END_TRANSACTION commitOrRollback values (RocketMQ remoting).
const (
	TransactionNotType  int32 = 0
	TransactionCommit   int32 = 8
	TransactionRollback int32 = 12
)

// Topic permission bits (RocketMQ PermName).
const (
	PermPriority int32 = 0x8
	PermRead     int32 = 0x4
	PermWrite    int32 = 0x2
	PermInherit  int32 = 0x1
	// PermReadWrite is what normal topics carry; TBW102 carries 7.
	PermReadWrite = PermRead | PermWrite
)

// System topic names and prefixes.
const (
	RetryGroupTopicPrefix     = "%RETRY%"
	DLQGroupTopicPrefix       = "%DLQ%"
	AutoCreateTopicKey        = "TBW102"
	DefaultTopicQueueNums     = 4
	ScheduleTopic             = "SCHEDULE_TOPIC_XXXX"
	TransactionHalfTopic      = "RMQ_SYS_TRANS_HALF_TOPIC"
	TransactionOpHalfTopic    = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
	TransactionCheckMaxTopic  = "TRANS_CHECK_MAX_TIME_TOPIC"
	TraceTopic                = "RMQ_SYS_TRACE_TOPIC"
	ReplyTopicSuffix          = "_REPLY_TOPIC"
	OffsetMovedEventTopic     = "OFFSET_MOVED_EVENT"
	SelfTestTopic             = "SELF_TEST_TOPIC"
	BenchmarkTopic            = "BenchmarkTest"
	SystemTopicPrefix         = "rmq_sys_"
	TransactionConsumerGroup  = "CID_RMQ_SYS_TRANS"
	TransactionOpRemoveTag    = "d"
	NamespaceSeparator        = "%"
	DefaultDelayLevels        = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"
	DefaultMaxReconsumeTimes  = 16
	DefaultRetryQueueNums     = 1
	ClientIDSeparator         = "@"
	DefaultConsumerGroupName  = "DEFAULT_CONSUMER"
	MaxTopicNameLength        = 127
	MaxGroupNameLength        = 255
	MaxPropertiesLength       = 32767
	DefaultMaxMessageBodySize = 4 << 20
)

// RetryTopic is the retry topic of a consumer group.
func RetryTopic(group string) string { return RetryGroupTopicPrefix + group }

// DLQTopic is the dead-letter topic of a consumer group.
func DLQTopic(group string) string { return DLQGroupTopicPrefix + group }

// PropertyValue returns the value of key in a property string without
// allocating. It follows ParseProperties exactly: items are split on \x02,
// empty items and items without \x01 are ignored, the key ends at the first
// \x01, an empty key is ignored, and the last occurrence of a key wins.
func PropertyValue(props, key string) (string, bool) {
	if key == "" || strings.IndexByte(key, PropertyNameValueSeparator) >= 0 || strings.IndexByte(key, PropertySeparator) >= 0 {
		return "", false
	}
	value, found := "", false
	for len(props) > 0 {
		item := props
		if i := strings.IndexByte(props, PropertySeparator); i >= 0 {
			item, props = props[:i], props[i+1:]
		} else {
			props = ""
		}
		if len(item) > len(key) && item[len(key)] == PropertyNameValueSeparator && item[:len(key)] == key {
			value, found = item[len(key)+1:], true
		}
	}
	return value, found
}

// ParseProperties splits a property string into a map with the rules of
// PropertyValue. It accepts a trailing \x02 and any key order.
func ParseProperties(props string) map[string]string {
	m := make(map[string]string, strings.Count(props, "\x01"))
	for len(props) > 0 {
		item := props
		if i := strings.IndexByte(props, PropertySeparator); i >= 0 {
			item, props = props[:i], props[i+1:]
		} else {
			props = ""
		}
		sep := strings.IndexByte(item, PropertyNameValueSeparator)
		if sep <= 0 {
			continue
		}
		m[item[:sep]] = item[sep+1:]
	}
	return m
}

// AppendProperties appends m as a property string with keys in sorted order
// and no trailing \x02, so equal maps encode to equal bytes. Keys must not be
// empty or contain \x01 or \x02, and values must not contain \x02; such
// entries cannot be represented and are skipped.
func AppendProperties(dst []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if k == "" || strings.ContainsAny(k, "\x01\x02") || strings.IndexByte(v, PropertySeparator) >= 0 {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, PropertySeparator)
		}
		dst = append(dst, k...)
		dst = append(dst, PropertyNameValueSeparator)
		dst = append(dst, m[k]...)
	}
	return dst
}

// AppendProperty appends one key/value pair to a property string, adding the
// \x02 separator when props is non-empty and does not already end with one.
func AppendProperty(props []byte, key, value string) []byte {
	if len(props) > 0 && props[len(props)-1] != PropertySeparator {
		props = append(props, PropertySeparator)
	}
	props = append(props, key...)
	props = append(props, PropertyNameValueSeparator)
	return append(props, value...)
}
