// Package routing holds what clients route by, as the wire carries it: topic
// routes, cluster info, topic configurations and broker registrations (the
// JSON bodies of the name server's requests, drawn below), the message queue
// type, and the consumer queue-allocation strategies the SDK rebalances
// with. The name server that keeps these tables lives in package namesrv.
//
// Routing is a leaf shared by the SDK, the name server and the broker: it
// must never import another package of Comet, do networking or keep state,
// and the allocation strategies must stay pure functions.
//
// # Route body (GET_ROUTEINFO_BY_TOPIC response)
//
// Part of the format: do not change. Compact JSON (no whitespace anywhere:
// rocketmq-client-go v2.1.2 splits brokerAddrs text on ',' and ':' instead of
// parsing it), keys in this order, lists sorted by brokerName, brokerAddrs
// always an object (never null: a null crashes that client), keys sorted by
// broker id, numbers as JSON numbers:
//
//	+---------------------------+--------------------------------------------+
//	| key                       | value                                      |
//	+---------------------------+--------------------------------------------+
//	| brokerDatas               | array of BrokerData, sorted by brokerName  |
//	|   .brokerAddrs            | {"0":"ip:port","1":"ip:port"} id→address   |
//	|   .brokerName             | string                                     |
//	|   .cluster                | string                                     |
//	| filterServerTable         | {} (always empty)                          |
//	| queueDatas                | array of QueueData, sorted by brokerName   |
//	|   .brokerName             | string                                     |
//	|   .perm                   | number (READ 4 | WRITE 2 | INHERIT 1)      |
//	|   .readQueueNums          | number                                     |
//	|   .topicSysFlag           | number                                     |
//	|   .writeQueueNums         | number                                     |
//	+---------------------------+--------------------------------------------+
//
// DecodeTopicRouteData also accepts the non-standard fastjson form with bare
// integer keys ({0:"ip:port"}) that Java name servers send to old clients.
//
// # Registration body (REGISTER_BROKER request)
//
// Part of the format: do not change. Ext fields brokerName, brokerAddr,
// clusterName, haServerAddr, brokerId (0 = master), compressed ("false"),
// bodyCrc32 (CRC-32/IEEE of the body masked to 31 bits, as a decimal int32;
// 0 or absent skips the check). Body, standard JSON:
//
//	+-----------------------------------------------+------------------------+
//	| key                                           | value                  |
//	+-----------------------------------------------+------------------------+
//	| filterServerList                              | [] (array of strings)  |
//	| topicConfigSerializeWrapper.dataVersion       | {"counter":n,          |
//	|                                               |  "timestamp":ms}       |
//	| topicConfigSerializeWrapper.topicConfigTable  | {topic: TopicConfig}   |
//	|   .order                                      | bool                   |
//	|   .perm                                       | number                 |
//	|   .readQueueNums / .writeQueueNums            | number                 |
//	|   .topicFilterType                            | "SINGLE_TAG"           |
//	|   .topicName                                  | string                 |
//	|   .topicSysFlag                               | number                 |
//	+-----------------------------------------------+------------------------+
//
// Other bodies (part of the format: do not change): topic list (206)
// {"topicList":[...],"brokerAddr":null}; cluster info (106)
// {"brokerAddrTable":{name:BrokerData},"clusterAddrTable":{cluster:[names]}};
// data version (322) {"counter":n,"timestamp":ms} with ext changed=true|false.
//
// # Allocation
//
// The strategies sort their inputs (queues by topic, brokerName, queueId;
// consumer ids lexicographically) exactly as RocketMQ's rebalance does, so
// every member of a group computes the same disjoint shares from the same
// views, and return nil when the current consumer is not a member.
package routing
