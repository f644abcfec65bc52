package remoting

import "strconv"

// Request codes: the one table of request codes the project uses (RocketMQ
// 4.9.8 RequestCode; client v2.1.2 sends a subset of them).
// Part of the format: do not change.
const (
	RequestSendMessage                      int16 = 10
	RequestPullMessage                      int16 = 11
	RequestQueryMessage                     int16 = 12
	RequestQueryBrokerOffset                int16 = 13
	RequestQueryConsumerOffset              int16 = 14
	RequestUpdateConsumerOffset             int16 = 15
	RequestUpdateAndCreateTopic             int16 = 17
	RequestGetAllTopicConfig                int16 = 21
	RequestGetTopicConfigList               int16 = 22
	RequestGetTopicNameList                 int16 = 23
	RequestUpdateBrokerConfig               int16 = 25
	RequestGetBrokerConfig                  int16 = 26
	RequestTriggerDeleteFiles               int16 = 27
	RequestGetBrokerRuntimeInfo             int16 = 28
	RequestSearchOffsetByTimestamp          int16 = 29
	RequestGetMaxOffset                     int16 = 30
	RequestGetMinOffset                     int16 = 31
	RequestGetEarliestMsgStoreTime          int16 = 32
	RequestViewMessageByID                  int16 = 33
	RequestHeartbeat                        int16 = 34
	RequestUnregisterClient                 int16 = 35
	RequestConsumerSendMsgBack              int16 = 36
	RequestEndTransaction                   int16 = 37
	RequestGetConsumerListByGroup           int16 = 38
	RequestCheckTransactionState            int16 = 39
	RequestNotifyConsumerIDsChanged         int16 = 40
	RequestLockBatchMQ                      int16 = 41
	RequestUnlockBatchMQ                    int16 = 42
	RequestGetAllConsumerOffset             int16 = 43
	RequestGetAllDelayOffset                int16 = 45
	RequestCheckClientConfig                int16 = 46
	RequestPutKVConfig                      int16 = 100
	RequestGetKVConfig                      int16 = 101
	RequestDeleteKVConfig                   int16 = 102
	RequestRegisterBroker                   int16 = 103
	RequestUnregisterBroker                 int16 = 104
	RequestGetRouteInfoByTopic              int16 = 105
	RequestGetBrokerClusterInfo             int16 = 106
	RequestUpdateAndCreateSubscriptionGroup int16 = 200
	RequestGetAllSubscriptionGroupConfig    int16 = 201
	RequestGetTopicStatsInfo                int16 = 202
	RequestGetConsumerConnectionList        int16 = 203
	RequestGetProducerConnectionList        int16 = 204
	RequestWipeWritePermOfBroker            int16 = 205
	RequestGetAllTopicListFromNameServer    int16 = 206
	RequestDeleteSubscriptionGroup          int16 = 207
	RequestGetConsumeStats                  int16 = 208
	RequestSuspendConsumer                  int16 = 209
	RequestResumeConsumer                   int16 = 210
	RequestResetConsumerOffsetInConsumer    int16 = 211
	RequestResetConsumerOffsetInBroker      int16 = 212
	RequestAdjustConsumerThreadPool         int16 = 213
	RequestWhoConsumeTheMessage             int16 = 214
	RequestDeleteTopicInBroker              int16 = 215
	RequestDeleteTopicInNameSrv             int16 = 216
	RequestGetKVListByNamespace             int16 = 219
	RequestResetConsumerClientOffset        int16 = 220
	RequestGetConsumerStatusFromClient      int16 = 221
	RequestInvokeBrokerToResetOffset        int16 = 222
	RequestInvokeBrokerToGetConsumerStatus  int16 = 223
	RequestGetTopicsByCluster               int16 = 224
	RequestQueryTopicConsumeByWho           int16 = 300
	RequestRegisterFilterServer             int16 = 301
	RequestRegisterMessageFilterClass       int16 = 302
	RequestQueryConsumeTimeSpan             int16 = 303
	RequestGetSystemTopicListFromNS         int16 = 304
	RequestGetSystemTopicListFromBroker     int16 = 305
	RequestCleanExpiredConsumeQueue         int16 = 306
	RequestGetConsumerRunningInfo           int16 = 307
	RequestQueryCorrectionOffset            int16 = 308
	RequestConsumeMessageDirectly           int16 = 309
	RequestSendMessageV2                    int16 = 310
	RequestGetUnitTopicList                 int16 = 311
	RequestGetHasUnitSubTopicList           int16 = 312
	RequestGetHasUnitSubUnunitTopicList     int16 = 313
	RequestCloneGroupOffset                 int16 = 314
	RequestViewBrokerStatsData              int16 = 315
	RequestCleanUnusedTopic                 int16 = 316
	RequestGetBrokerConsumeStats            int16 = 317
	RequestUpdateNameSrvConfig              int16 = 318
	RequestGetNameSrvConfig                 int16 = 319
	RequestSendBatchMessage                 int16 = 320
	RequestQueryConsumeQueue                int16 = 321
	RequestQueryDataVersion                 int16 = 322
	RequestResumeCheckHalfMessage           int16 = 323
	RequestSendReplyMessage                 int16 = 324
	RequestSendReplyMessageV2               int16 = 325
	RequestPushReplyMessageToClient         int16 = 326
	RequestAddWritePermOfBroker             int16 = 327

	// Controller requests (RocketMQ 5 RequestCode); Comet's controller
	// package draws their bodies.
	RequestBrokerHeartbeat             int16 = 904
	RequestControllerAlterSyncStateSet int16 = 1001
	RequestControllerElectMaster       int16 = 1002
	RequestControllerRegisterBroker    int16 = 1003
	RequestControllerGetReplicaInfo    int16 = 1004
	RequestControllerGetMetadataInfo   int16 = 1005
	RequestControllerGetSyncStateData  int16 = 1006
	RequestNotifyBrokerRoleChanged     int16 = 1008

	// Comet's own requests, far above RocketMQ's codes.

	// RequestCometVerifyStore checks a range of the commit log and reports
	// damaged records (body: internal/adminwire.VerifyReport).
	RequestCometVerifyStore int16 = 20001

	// RequestCometMQTTClients lists the MQTT gateway's sessions (body:
	// internal/adminwire.MQTTClient list); RequestCometMQTTKick disconnects
	// one (ext clientId; end=true also ends its session).
	RequestCometMQTTClients int16 = 20010
	RequestCometMQTTKick    int16 = 20011
)

// Response codes: the one table of response codes the project sends.
// Part of the format: do not change.
const (
	ResponseSuccess                    int16 = 0
	ResponseSystemError                int16 = 1
	ResponseSystemBusy                 int16 = 2
	ResponseRequestCodeNotSupported    int16 = 3
	ResponseTransactionFailed          int16 = 4
	ResponseFlushDiskTimeout           int16 = 10
	ResponseSlaveNotAvailable          int16 = 11
	ResponseFlushSlaveTimeout          int16 = 12
	ResponseMessageIllegal             int16 = 13
	ResponseServiceNotAvailable        int16 = 14
	ResponseVersionNotSupported        int16 = 15
	ResponseNoPermission               int16 = 16
	ResponseTopicNotExist              int16 = 17
	ResponseTopicExistAlready          int16 = 18
	ResponsePullNotFound               int16 = 19
	ResponsePullRetryImmediately       int16 = 20
	ResponsePullOffsetMoved            int16 = 21
	ResponseQueryNotFound              int16 = 22
	ResponseSubscriptionParseFailed    int16 = 23
	ResponseSubscriptionNotExist       int16 = 24
	ResponseSubscriptionNotLatest      int16 = 25
	ResponseSubscriptionGroupNotExist  int16 = 26
	ResponseFilterDataNotExist         int16 = 27
	ResponseFilterDataNotLatest        int16 = 28
	ResponseTransactionShouldCommit    int16 = 200
	ResponseTransactionShouldRollback  int16 = 201
	ResponseTransactionStateUnknown    int16 = 202
	ResponseTransactionStateGroupWrong int16 = 203
	ResponseNoBuyerID                  int16 = 204
	ResponseNotInCurrentUnit           int16 = 205
	ResponseConsumerNotOnline          int16 = 206
	ResponseConsumeMsgTimeout          int16 = 207
	ResponseNoMessage                  int16 = 208

	// Controller refusals (RocketMQ 5 ResponseCode).
	ResponseControllerFencedMasterEpoch        int16 = 2000
	ResponseControllerFencedSyncStateSetEpoch  int16 = 2001
	ResponseControllerInvalidMaster            int16 = 2002
	ResponseControllerInvalidReplicas          int16 = 2003
	ResponseControllerMasterNotAvailable       int16 = 2004
	ResponseControllerInvalidRequest           int16 = 2005
	ResponseControllerBrokerNotAlive           int16 = 2006
	ResponseControllerNotLeader                int16 = 2007
	ResponseControllerBrokerMetadataNotExist   int16 = 2008
	ResponseControllerBrokerNeedToBeRegistered int16 = 2010
	ResponseControllerMasterStillExist         int16 = 2011
	ResponseControllerElectMasterFailed        int16 = 2012
	ResponseControllerAlterSyncStateSetFailed  int16 = 2013
	ResponseControllerBrokerIDInvalid          int16 = 2014
)

var requestNames = map[int16]string{
	RequestSendMessage:                      "SEND_MESSAGE",
	RequestPullMessage:                      "PULL_MESSAGE",
	RequestQueryMessage:                     "QUERY_MESSAGE",
	RequestQueryBrokerOffset:                "QUERY_BROKER_OFFSET",
	RequestQueryConsumerOffset:              "QUERY_CONSUMER_OFFSET",
	RequestUpdateConsumerOffset:             "UPDATE_CONSUMER_OFFSET",
	RequestUpdateAndCreateTopic:             "UPDATE_AND_CREATE_TOPIC",
	RequestGetAllTopicConfig:                "GET_ALL_TOPIC_CONFIG",
	RequestGetTopicConfigList:               "GET_TOPIC_CONFIG_LIST",
	RequestGetTopicNameList:                 "GET_TOPIC_NAME_LIST",
	RequestUpdateBrokerConfig:               "UPDATE_BROKER_CONFIG",
	RequestGetBrokerConfig:                  "GET_BROKER_CONFIG",
	RequestTriggerDeleteFiles:               "TRIGGER_DELETE_FILES",
	RequestGetBrokerRuntimeInfo:             "GET_BROKER_RUNTIME_INFO",
	RequestSearchOffsetByTimestamp:          "SEARCH_OFFSET_BY_TIMESTAMP",
	RequestGetMaxOffset:                     "GET_MAX_OFFSET",
	RequestGetMinOffset:                     "GET_MIN_OFFSET",
	RequestGetEarliestMsgStoreTime:          "GET_EARLIEST_MSG_STORETIME",
	RequestViewMessageByID:                  "VIEW_MESSAGE_BY_ID",
	RequestHeartbeat:                        "HEART_BEAT",
	RequestUnregisterClient:                 "UNREGISTER_CLIENT",
	RequestConsumerSendMsgBack:              "CONSUMER_SEND_MSG_BACK",
	RequestEndTransaction:                   "END_TRANSACTION",
	RequestGetConsumerListByGroup:           "GET_CONSUMER_LIST_BY_GROUP",
	RequestCheckTransactionState:            "CHECK_TRANSACTION_STATE",
	RequestNotifyConsumerIDsChanged:         "NOTIFY_CONSUMER_IDS_CHANGED",
	RequestLockBatchMQ:                      "LOCK_BATCH_MQ",
	RequestUnlockBatchMQ:                    "UNLOCK_BATCH_MQ",
	RequestGetAllConsumerOffset:             "GET_ALL_CONSUMER_OFFSET",
	RequestGetAllDelayOffset:                "GET_ALL_DELAY_OFFSET",
	RequestCheckClientConfig:                "CHECK_CLIENT_CONFIG",
	RequestPutKVConfig:                      "PUT_KV_CONFIG",
	RequestGetKVConfig:                      "GET_KV_CONFIG",
	RequestDeleteKVConfig:                   "DELETE_KV_CONFIG",
	RequestRegisterBroker:                   "REGISTER_BROKER",
	RequestUnregisterBroker:                 "UNREGISTER_BROKER",
	RequestGetRouteInfoByTopic:              "GET_ROUTEINFO_BY_TOPIC",
	RequestGetBrokerClusterInfo:             "GET_BROKER_CLUSTER_INFO",
	RequestUpdateAndCreateSubscriptionGroup: "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP",
	RequestGetAllSubscriptionGroupConfig:    "GET_ALL_SUBSCRIPTIONGROUP_CONFIG",
	RequestGetTopicStatsInfo:                "GET_TOPIC_STATS_INFO",
	RequestGetConsumerConnectionList:        "GET_CONSUMER_CONNECTION_LIST",
	RequestGetProducerConnectionList:        "GET_PRODUCER_CONNECTION_LIST",
	RequestWipeWritePermOfBroker:            "WIPE_WRITE_PERM_OF_BROKER",
	RequestGetAllTopicListFromNameServer:    "GET_ALL_TOPIC_LIST_FROM_NAMESERVER",
	RequestDeleteSubscriptionGroup:          "DELETE_SUBSCRIPTIONGROUP",
	RequestGetConsumeStats:                  "GET_CONSUME_STATS",
	RequestSuspendConsumer:                  "SUSPEND_CONSUMER",
	RequestResumeConsumer:                   "RESUME_CONSUMER",
	RequestResetConsumerOffsetInConsumer:    "RESET_CONSUMER_OFFSET_IN_CONSUMER",
	RequestResetConsumerOffsetInBroker:      "RESET_CONSUMER_OFFSET_IN_BROKER",
	RequestAdjustConsumerThreadPool:         "ADJUST_CONSUMER_THREAD_POOL",
	RequestWhoConsumeTheMessage:             "WHO_CONSUME_THE_MESSAGE",
	RequestDeleteTopicInBroker:              "DELETE_TOPIC_IN_BROKER",
	RequestDeleteTopicInNameSrv:             "DELETE_TOPIC_IN_NAMESRV",
	RequestGetKVListByNamespace:             "GET_KVLIST_BY_NAMESPACE",
	RequestResetConsumerClientOffset:        "RESET_CONSUMER_CLIENT_OFFSET",
	RequestGetConsumerStatusFromClient:      "GET_CONSUMER_STATUS_FROM_CLIENT",
	RequestInvokeBrokerToResetOffset:        "INVOKE_BROKER_TO_RESET_OFFSET",
	RequestInvokeBrokerToGetConsumerStatus:  "INVOKE_BROKER_TO_GET_CONSUMER_STATUS",
	RequestGetTopicsByCluster:               "GET_TOPICS_BY_CLUSTER",
	RequestQueryTopicConsumeByWho:           "QUERY_TOPIC_CONSUME_BY_WHO",
	RequestRegisterFilterServer:             "REGISTER_FILTER_SERVER",
	RequestRegisterMessageFilterClass:       "REGISTER_MESSAGE_FILTER_CLASS",
	RequestQueryConsumeTimeSpan:             "QUERY_CONSUME_TIME_SPAN",
	RequestGetSystemTopicListFromNS:         "GET_SYSTEM_TOPIC_LIST_FROM_NS",
	RequestGetSystemTopicListFromBroker:     "GET_SYSTEM_TOPIC_LIST_FROM_BROKER",
	RequestCleanExpiredConsumeQueue:         "CLEAN_EXPIRED_CONSUMEQUEUE",
	RequestGetConsumerRunningInfo:           "GET_CONSUMER_RUNNING_INFO",
	RequestQueryCorrectionOffset:            "QUERY_CORRECTION_OFFSET",
	RequestConsumeMessageDirectly:           "CONSUME_MESSAGE_DIRECTLY",
	RequestSendMessageV2:                    "SEND_MESSAGE_V2",
	RequestGetUnitTopicList:                 "GET_UNIT_TOPIC_LIST",
	RequestGetHasUnitSubTopicList:           "GET_HAS_UNIT_SUB_TOPIC_LIST",
	RequestGetHasUnitSubUnunitTopicList:     "GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST",
	RequestCloneGroupOffset:                 "CLONE_GROUP_OFFSET",
	RequestViewBrokerStatsData:              "VIEW_BROKER_STATS_DATA",
	RequestCleanUnusedTopic:                 "CLEAN_UNUSED_TOPIC",
	RequestGetBrokerConsumeStats:            "GET_BROKER_CONSUME_STATS",
	RequestUpdateNameSrvConfig:              "UPDATE_NAMESRV_CONFIG",
	RequestGetNameSrvConfig:                 "GET_NAMESRV_CONFIG",
	RequestSendBatchMessage:                 "SEND_BATCH_MESSAGE",
	RequestQueryConsumeQueue:                "QUERY_CONSUME_QUEUE",
	RequestQueryDataVersion:                 "QUERY_DATA_VERSION",
	RequestResumeCheckHalfMessage:           "RESUME_CHECK_HALF_MESSAGE",
	RequestSendReplyMessage:                 "SEND_REPLY_MESSAGE",
	RequestSendReplyMessageV2:               "SEND_REPLY_MESSAGE_V2",
	RequestPushReplyMessageToClient:         "PUSH_REPLY_MESSAGE_TO_CLIENT",
	RequestAddWritePermOfBroker:             "ADD_WRITE_PERM_OF_BROKER",
	RequestBrokerHeartbeat:                  "BROKER_HEARTBEAT",
	RequestControllerAlterSyncStateSet:      "CONTROLLER_ALTER_SYNC_STATE_SET",
	RequestControllerElectMaster:            "CONTROLLER_ELECT_MASTER",
	RequestControllerRegisterBroker:         "CONTROLLER_REGISTER_BROKER",
	RequestControllerGetReplicaInfo:         "CONTROLLER_GET_REPLICA_INFO",
	RequestControllerGetMetadataInfo:        "CONTROLLER_GET_METADATA_INFO",
	RequestControllerGetSyncStateData:       "CONTROLLER_GET_SYNC_STATE_DATA",
	RequestNotifyBrokerRoleChanged:          "NOTIFY_BROKER_ROLE_CHANGED",
	RequestCometVerifyStore:                 "COMET_VERIFY_STORE",
	RequestCometMQTTClients:                 "COMET_MQTT_CLIENTS",
	RequestCometMQTTKick:                    "COMET_MQTT_KICK",
}

var responseNames = map[int16]string{
	ResponseSuccess:                    "SUCCESS",
	ResponseSystemError:                "SYSTEM_ERROR",
	ResponseSystemBusy:                 "SYSTEM_BUSY",
	ResponseRequestCodeNotSupported:    "REQUEST_CODE_NOT_SUPPORTED",
	ResponseTransactionFailed:          "TRANSACTION_FAILED",
	ResponseFlushDiskTimeout:           "FLUSH_DISK_TIMEOUT",
	ResponseSlaveNotAvailable:          "SLAVE_NOT_AVAILABLE",
	ResponseFlushSlaveTimeout:          "FLUSH_SLAVE_TIMEOUT",
	ResponseMessageIllegal:             "MESSAGE_ILLEGAL",
	ResponseServiceNotAvailable:        "SERVICE_NOT_AVAILABLE",
	ResponseVersionNotSupported:        "VERSION_NOT_SUPPORTED",
	ResponseNoPermission:               "NO_PERMISSION",
	ResponseTopicNotExist:              "TOPIC_NOT_EXIST",
	ResponseTopicExistAlready:          "TOPIC_EXIST_ALREADY",
	ResponsePullNotFound:               "PULL_NOT_FOUND",
	ResponsePullRetryImmediately:       "PULL_RETRY_IMMEDIATELY",
	ResponsePullOffsetMoved:            "PULL_OFFSET_MOVED",
	ResponseQueryNotFound:              "QUERY_NOT_FOUND",
	ResponseSubscriptionParseFailed:    "SUBSCRIPTION_PARSE_FAILED",
	ResponseSubscriptionNotExist:       "SUBSCRIPTION_NOT_EXIST",
	ResponseSubscriptionNotLatest:      "SUBSCRIPTION_NOT_LATEST",
	ResponseSubscriptionGroupNotExist:  "SUBSCRIPTION_GROUP_NOT_EXIST",
	ResponseFilterDataNotExist:         "FILTER_DATA_NOT_EXIST",
	ResponseFilterDataNotLatest:        "FILTER_DATA_NOT_LATEST",
	ResponseTransactionShouldCommit:    "TRANSACTION_SHOULD_COMMIT",
	ResponseTransactionShouldRollback:  "TRANSACTION_SHOULD_ROLLBACK",
	ResponseTransactionStateUnknown:    "TRANSACTION_STATE_UNKNOW",
	ResponseTransactionStateGroupWrong: "TRANSACTION_STATE_GROUP_WRONG",
	ResponseNoBuyerID:                  "NO_BUYER_ID",
	ResponseNotInCurrentUnit:           "NOT_IN_CURRENT_UNIT",
	ResponseConsumerNotOnline:          "CONSUMER_NOT_ONLINE",
	ResponseConsumeMsgTimeout:          "CONSUME_MSG_TIMEOUT",
	ResponseNoMessage:                  "NO_MESSAGE",

	ResponseControllerFencedMasterEpoch:        "CONTROLLER_FENCED_MASTER_EPOCH",
	ResponseControllerFencedSyncStateSetEpoch:  "CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH",
	ResponseControllerInvalidMaster:            "CONTROLLER_INVALID_MASTER",
	ResponseControllerInvalidReplicas:          "CONTROLLER_INVALID_REPLICAS",
	ResponseControllerMasterNotAvailable:       "CONTROLLER_MASTER_NOT_AVAILABLE",
	ResponseControllerInvalidRequest:           "CONTROLLER_INVALID_REQUEST",
	ResponseControllerBrokerNotAlive:           "CONTROLLER_BROKER_NOT_ALIVE",
	ResponseControllerNotLeader:                "CONTROLLER_NOT_LEADER",
	ResponseControllerBrokerMetadataNotExist:   "CONTROLLER_BROKER_METADATA_NOT_EXIST",
	ResponseControllerBrokerNeedToBeRegistered: "CONTROLLER_BROKER_NEED_TO_BE_REGISTERED",
	ResponseControllerMasterStillExist:         "CONTROLLER_MASTER_STILL_EXIST",
	ResponseControllerElectMasterFailed:        "CONTROLLER_ELECT_MASTER_FAILED",
	ResponseControllerAlterSyncStateSetFailed:  "CONTROLLER_ALTER_SYNC_STATE_SET_FAILED",
	ResponseControllerBrokerIDInvalid:          "CONTROLLER_BROKER_ID_INVALID",
}

// RequestName returns the RocketMQ name of a request code for logs, or
// "REQUEST_<code>" for an unknown one.
func RequestName(code int16) string {
	if name, ok := requestNames[code]; ok {
		return name
	}
	return "REQUEST_" + strconv.Itoa(int(code))
}

// ResponseName returns the RocketMQ name of a response code for logs, or
// "RESPONSE_<code>" for an unknown one.
func ResponseName(code int16) string {
	if name, ok := responseNames[code]; ok {
		return name
	}
	return "RESPONSE_" + strconv.Itoa(int(code))
}

// Which response code answers what, where RocketMQ 4.9.8 leaves a choice
// (notes in the style of the protocol notes; the names rule is in
// names.go):
//
//	N1. A topic name that breaks the rule, in any request (header or body):
//	    TOPIC_NOT_EXIST (17). Java answers SYSTEM_ERROR from
//	    TopicValidator; no topic of such a name can exist, and 17 is what
//	    clients already handle for an unknown topic.
//	N2. A group name that breaks the rule, or a consumer group whose
//	    %RETRY% / %DLQ% topic would exceed 127 characters (the group is
//	    refused rather than an over-long topic created):
//	    SUBSCRIPTION_GROUP_NOT_EXIST (26).
//	N3. A client acting as one of the broker's internal groups
//	    (CID_RMQ_SYS_*), or deleting or changing a system topic (TBW102,
//	    SCHEDULE_TOPIC_XXXX, the transaction and trace topics,
//	    SELF_TEST_TOPIC, OFFSET_MOVED_EVENT, the broker's cluster, broker
//	    and reply topics, rmq_sys_*): NO_PERMISSION (16).
//	N4. UPDATE_AND_CREATE_TOPIC with queue counts outside 1..1024 or a
//	    permission outside 0..7: SYSTEM_ERROR (1), Java's answer to a bad
//	    admin argument (4.9.8 has no INVALID_PARAMETER).
//	N5. A DELAY level above the highest configured level is clamped to the
//	    highest, as 4.9.8's CommitLog does; a negative or non-numeric level
//	    is refused with MESSAGE_ILLEGAL (13).
//	N6. A send whose sysFlag carries transaction bits (prepared, commit or
//	    rollback) without the TRAN_MSG=true property: MESSAGE_ILLEGAL (13),
//	    not stored (Java would store it invisible; only the broker writes
//	    those types).
//	N7. Properties longer than 32767 bytes once the broker's own are added
//	    (CLUSTER, and REAL_TOPIC/REAL_QID for delayed and half messages):
//	    MESSAGE_ILLEGAL (13), as for any other illegal message.
