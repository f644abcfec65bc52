// Package adminwire owns the bodies of the operator requests the broker
// answers and cometctl sends: their Go types, their encoding as the Java
// RocketMQ 4.x broker writes them (fastjson, including maps whose keys are
// objects or bare integers), and a tolerant decoder for that text. It must
// never import the broker or the network server: both sides share it.
//
// # Bodies
//
//	+------+-------------------------------+-------------------------------------------------------------+
//	| code | request                       | response body                                               |
//	+------+-------------------------------+-------------------------------------------------------------+
//	| 21   | GET_ALL_TOPIC_CONFIG          | {"dataVersion":{..},"topicConfigTable":{"T":{TopicConfig}}} |
//	| 26   | GET_BROKER_CONFIG             | Java properties text: "key=value\n" lines, sorted by key    |
//	| 28   | GET_BROKER_RUNTIME_INFO       | KVTable {"table":{"key":"value",...}}, string values        |
//	| 43   | GET_ALL_CONSUMER_OFFSET       | {"offsetTable":{"topic@group":{0:12,1:7}}}                  |
//	| 202  | GET_TOPIC_STATS_INFO          | {"offsetTable":{{MQ}:{"lastUpdateTimestamp":t,              |
//	|      |                               |   "maxOffset":n,"minOffset":m}}}                            |
//	| 203  | GET_CONSUMER_CONNECTION_LIST  | {"connectionSet":[..],"consumeType":..,"messageModel":..,   |
//	|      |                               |   "subscriptionTable":{"T":{SubscriptionData}}}             |
//	| 208  | GET_CONSUME_STATS             | {"consumeTps":0.0,"offsetTable":{{MQ}:{"brokerOffset":n,    |
//	|      |                               |   "consumerOffset":c,"lastTimestamp":t}}}                   |
//	| 222  | INVOKE_BROKER_TO_RESET_OFFSET | ResetOffsetBody {"offsetTable":{{MQ}:offset}}               |
//	| 220  | RESET_CONSUMER_CLIENT_OFFSET  | (broker to client, oneway) the same ResetOffsetBody         |
//	| 201  | GET_ALL_SUBSCRIPTIONGROUP_    | {"dataVersion":{..},"subscriptionGroupTable":{"g":{..}}}    |
//	|      |   CONFIG                      |   (the broker's SubscriptionGroupConfig, standard JSON)     |
//	| 204  | GET_PRODUCER_CONNECTION_LIST  | {"connectionSet":[{"clientAddr":..,"clientId":..,           |
//	|      |                               |   "language":"GO","version":317}]}                          |
//	| 300  | QUERY_TOPIC_CONSUME_BY_WHO    | {"groupList":["g1","g2"]}, sorted                           |
//	| 315  | VIEW_BROKER_STATS_DATA        | {"statsDay":{"avgpt":d,"sum":n,"tps":d},"statsHour":{..},   |
//	|      |                               |   "statsMinute":{..}}; d as Java's Double.toString          |
//	| 317  | GET_BROKER_CONSUME_STATS      | {"brokerAddr":..,"consumeStatsList":[{"g":[ConsumeStats]}], |
//	|      |                               |   "totalDiff":n}                                            |
//	| 321  | QUERY_CONSUME_QUEUE           | {"filterData":..,"maxQueueIndex":n,"minQueueIndex":m,       |
//	|      |                               |   "queueData":[{"eval":false,"physicOffset":o,              |
//	|      |                               |   "physicSize":s,"tagsCode":c}],"subscriptionData":{..}}    |
//	| 20001| COMET_VERIFY_STORE            | VerifyReport, standard JSON (verify.go)                     |
//	| 20010| COMET_MQTT_CLIENTS            | [MQTTClient], standard JSON (mqtt.go)                       |
//	| 20011| COMET_MQTT_KICK               | none (ext clientId, end)                                    |
//	+------+-------------------------------+-------------------------------------------------------------+
//
// {MQ} is a message queue written as an object key, fields in fastjson's
// alphabetical order: {"brokerName":"broker-a","queueId":0,"topic":"T"}.
// Such text is not standard JSON; Java's fastjson and the Go client v2.1.2
// (for 220) read it, and so does Decode here. Entries are written sorted by
// topic, broker name and queue id. Part of the format: do not change.
package adminwire
