package mqtt

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
)

// One message space: an MQTT publish is an ordinary Comet message, and a
// Comet message is something MQTT subscribers receive.
//
// MQTT to Comet. The Comet topic is the MQTT topic's first level when that
// is a valid Comet topic name (^[%|a-zA-Z0-9_-]+$, at most 127 bytes, not
// a system or retry/dead-letter topic) that exists, or that the broker
// creates as it would for a RocketMQ producer (--auto-create-topic);
// otherwise the fallback topic (Options.FallbackTopic). The queue is
// chosen by a hash of the full MQTT topic, so one MQTT topic keeps its
// order for RocketMQ's orderly consumers. The payload is the body (an
// empty payload stays empty). Properties:
//
//	MQTT_TOPIC           the full MQTT topic (after topic-alias resolution)
//	MQTT_QOS             0, 1 or 2
//	MQTT_RETAIN          "1" on a retained publish (absent otherwise)
//	MQTT_CLIENT_ID       the publisher's client id
//	MQTT_PKT_ID          QoS 2: the packet id (exactly-once state on replay)
//	MQTT_PFI             MQTT 5 payload format indicator
//	MQTT_CONTENT_TYPE    MQTT 5 content type
//	MQTT_RESPONSE_TOPIC  MQTT 5 response topic
//	MQTT_CORRELATION     MQTT 5 correlation data, base64 (standard)
//	MQTT_EXPIRES_AT      MQTT 5 message expiry, absolute unix ms
//	MQTT_USER_PROPS      MQTT 5 user properties, JSON [[key, value], ...]:
//	                     order and duplicates survive
//
// and each MQTT 5 user property whose key is a plain name
// (^[A-Za-z0-9_.-]+$, not a RocketMQ or MQTT_ key) and whose value has no
// control character is also a message property of its own, so RocketMQ
// consumers read it with GetProperty and select it in SQL92. Topic names
// and string properties containing U+0001 or U+0002 (RocketMQ's property
// separators) are refused (PUBACK 0x99 or closing a 3.1.1 client).
// Properties over 32,767 bytes in all are refused (0x97).
//
// Comet to MQTT. Every message stored in a topic that is not the broker's
// own reaches MQTT subscribers: its MQTT topic is MQTT_TOPIC when it is a
// valid topic name, else the Comet topic; its QoS is MQTT_QOS, or
// Options.DefaultQoS (1) for a RocketMQ producer's message, capped by
// what the subscription granted; MQTT 5 user properties are
// MQTT_USER_PROPS, or else every property that is not RocketMQ's or
// Comet's own. A RocketMQ producer's message is never a retained message.
// Part of the format: do not change the property names.

// Property names of the mapping. Part of the format: do not change.
const (
	PropTopic         = "MQTT_TOPIC"
	PropQoS           = "MQTT_QOS"
	PropRetain        = "MQTT_RETAIN"
	PropClientID      = "MQTT_CLIENT_ID"
	PropPacketID      = "MQTT_PKT_ID"
	PropPayloadFormat = "MQTT_PFI"
	PropContentType   = "MQTT_CONTENT_TYPE"
	PropResponseTopic = "MQTT_RESPONSE_TOPIC"
	PropCorrelation   = "MQTT_CORRELATION"
	PropExpiresAt     = "MQTT_EXPIRES_AT"
	PropUserProps     = "MQTT_USER_PROPS"
)

// usableFirstLevel reports whether an MQTT topic's first level can name
// a Comet topic.
func usableFirstLevel(level string) bool {
	if remoting.ValidateTopic(level) != nil || remoting.IsSystemTopic(level) {
		return false
	}
	return !strings.HasPrefix(level, remoting.RetryGroupTopicPrefix) && !strings.HasPrefix(level, remoting.DLQGroupTopicPrefix) &&
		level != remoting.ScheduleTopic && !strings.HasPrefix(level, "RMQ_SYS_") && level != remoting.TransactionCheckMaxTopic
}

// cometTopicName is the Comet topic an MQTT topic maps to before knowing
// whether it exists (the Will check and the authorizer see it).
func (gw *Gateway) cometTopicName(mqttTopic string) string {
	first, _, _ := strings.Cut(mqttTopic, "/")
	if usableFirstLevel(first) {
		return first
	}
	return gw.opts.FallbackTopic
}

// queueFor picks the queue of an MQTT topic among n.
func queueFor(mqttTopic string, n int32) int32 {
	return int32(xxhash.Sum64String(mqttTopic) % uint64(max(n, 1)))
}

// hasSeparator reports whether s holds a RocketMQ property separator.
func hasSeparator(s string) bool {
	return strings.IndexByte(s, remoting.PropertyNameValueSeparator) >= 0 || strings.IndexByte(s, remoting.PropertySeparator) >= 0
}

// messageProperties builds the stored properties of an MQTT publish.
// It returns ok false when a string would break the property format.
func (gw *Gateway) messageProperties(p *Publish, clientID string, nowMs int64) ([]byte, bool) {
	if hasSeparator(p.Topic) || hasSeparator(clientID) {
		return nil, false
	}
	props := make([]byte, 0, 96+len(p.Topic))
	props = remoting.AppendProperty(props, PropTopic, p.Topic)
	props = remoting.AppendProperty(props, PropQoS, strconv.Itoa(int(p.QoS)))
	if p.Retain {
		props = remoting.AppendProperty(props, PropRetain, "1")
	}
	props = remoting.AppendProperty(props, PropClientID, clientID)
	if p.QoS == 2 {
		props = remoting.AppendProperty(props, PropPacketID, strconv.Itoa(int(p.PacketID)))
	}
	props, ok := appendV5Properties(props, &p.Props, nowMs)
	if !ok {
		return nil, false
	}
	return remoting.AppendProperty(props, remoting.PropertyCluster, gw.broker.ClusterName()), true
}

func appendV5Properties(props []byte, pp *Properties, nowMs int64) ([]byte, bool) {
	if pp.Has(propPayloadFormat) {
		props = remoting.AppendProperty(props, PropPayloadFormat, strconv.Itoa(int(pp.PayloadFormat)))
	}
	if pp.Has(propContentType) {
		if hasSeparator(pp.ContentType) {
			return nil, false
		}
		props = remoting.AppendProperty(props, PropContentType, pp.ContentType)
	}
	if pp.Has(propResponseTopic) {
		if hasSeparator(pp.ResponseTopic) {
			return nil, false
		}
		props = remoting.AppendProperty(props, PropResponseTopic, pp.ResponseTopic)
	}
	if pp.Has(propCorrelationData) {
		props = remoting.AppendProperty(props, PropCorrelation, base64.StdEncoding.EncodeToString(pp.CorrelationData))
	}
	if pp.Has(propMessageExpiry) {
		props = remoting.AppendProperty(props, PropExpiresAt, strconv.FormatInt(nowMs+int64(pp.MessageExpiry)*1000, 10))
	}
	if len(pp.User) > 0 {
		pairs := make([][2]string, len(pp.User))
		for i, u := range pp.User {
			pairs[i] = [2]string{u.Key, u.Value}
		}
		js, _ := json.Marshal(pairs) // escapes control characters
		props = remoting.AppendProperty(props, PropUserProps, string(js))
		props = appendPlainUserProperties(props, pp.User)
	}
	return props, true
}

// appendPlainUserProperties adds the user properties that can stand as
// message properties of their own (first occurrence of a key wins).
func appendPlainUserProperties(props []byte, user []UserProperty) []byte {
	seen := map[string]bool{}
	for _, u := range user {
		if seen[u.Key] || !plainPropertyKey(u.Key) || hasControl(u.Value) {
			continue
		}
		seen[u.Key] = true
		props = remoting.AppendProperty(props, u.Key, u.Value)
	}
	return props
}

func plainPropertyKey(k string) bool {
	if k == "" || len(k) > 64 || strings.HasPrefix(k, "MQTT_") || reservedProperty[k] {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7F {
			return true
		}
	}
	return false
}

// reservedProperty are the RocketMQ property keys a user property may not
// set (they steer delivery, delay, transactions or identity).
var reservedProperty = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range []string{remoting.PropertyKeys, remoting.PropertyTags, remoting.PropertyWaitStoreMsgOK,
		remoting.PropertyDelayLevel, remoting.PropertyRetryTopic, remoting.PropertyRealTopic, remoting.PropertyRealQueueID,
		remoting.PropertyTransactionPrepared, remoting.PropertyProducerGroup, remoting.PropertyMinOffset,
		remoting.PropertyMaxOffset, remoting.PropertyBuyerID, remoting.PropertyOriginMessageID, remoting.PropertyTransferFlag,
		remoting.PropertyCorrectionFlag, remoting.PropertyMQ2Flag, remoting.PropertyReconsumeTime, remoting.PropertyMsgRegion,
		remoting.PropertyTraceSwitch, remoting.PropertyUniqKey, remoting.PropertyMaxReconsumeTimes,
		remoting.PropertyConsumeStartTimestamp, remoting.PropertyTransactionPreparedOffset,
		remoting.PropertyTransactionCheckTimes, remoting.PropertyCheckImmunityTimeInSeconds, remoting.PropertyInstanceID,
		remoting.PropertyCorrelationID, remoting.PropertyReplyToClient, remoting.PropertyMessageTTL,
		remoting.PropertyReplyMessageArriveTime, remoting.PropertyPushReplyTime, remoting.PropertyCluster,
		remoting.PropertyMessageType, remoting.PropertyInnerMultiDispatch, remoting.PropertyInnerMultiQueueOffset,
		remoting.PropertyShardingKey, remoting.PropertyTransactionID, remoting.PropertyTimerDeliverMS,
		remoting.PropertyTimerDelaySec, remoting.PropertyTimerDelayMS, "TIMER_OUT_MS", "TIMER_ENQUEUE_MS",
		"TIMER_DEQUEUE_MS", "TIMER_ROLL_TIMES", "TIMER_DEL_UNIQKEY"} {
		m[k] = true
	}
	return m
}()

// delivery is a stored record as MQTT subscribers receive it. topic and
// the property strings are copies; payload aliases the mapped log and is
// valid only while the record is being delivered.
type delivery struct {
	phys, end int64
	topic     string
	payload   []byte
	qos       byte // as published (or the default for RocketMQ messages)
	retain    bool // published with RETAIN
	origin    string
	props     Properties // MQTT 5 properties to forward
	expiresAt int64      // unix ms; 0: never
	fromMQTT  bool
}

// parseDelivery fills d from a stored record; false when the record is not
// for MQTT subscribers (a topic of the broker's own).
func (gw *Gateway) parseDelivery(rv *persist.RecordView, d *delivery) bool {
	topic := rv.Topic()
	if !deliverableTopic(topic) {
		return false
	}
	*d = delivery{phys: rv.PhysicalOffset(), end: rv.PhysicalOffset() + int64(rv.Size()), payload: rv.Body(), qos: gw.opts.DefaultQoS}
	var users []byte
	var plain []UserProperty
	eachProperty(rv.Properties(), func(k, v []byte) {
		switch string(k) {
		case PropTopic:
			if s := string(v); validateTopicName(s) == nil && validUTF8(v) {
				d.topic = s
			}
			d.fromMQTT = true
		case PropQoS:
			if len(v) == 1 && v[0] >= '0' && v[0] <= '2' {
				d.qos = v[0] - '0'
			}
		case PropRetain:
			d.retain = string(v) == "1"
		case PropClientID:
			d.origin = string(v)
		case PropUserProps:
			users = v
		default:
			d.forwardProperty(k, v, &plain)
		}
	})
	if d.topic == "" {
		d.topic = string(topic)
	}
	if !d.fromMQTT {
		d.retain = false
	}
	d.setUserProperties(users, plain)
	return true
}

// forwardProperty keeps the MQTT 5 properties stored with the message and
// the candidates for user properties.
func (d *delivery) forwardProperty(k, v []byte, plain *[]UserProperty) {
	switch string(k) {
	case PropPayloadFormat:
		if string(v) == "1" {
			d.props.SetByte(propPayloadFormat, 1)
		}
	case PropContentType:
		d.props.SetString(propContentType, string(v))
	case PropResponseTopic:
		if validateTopicName(string(v)) == nil && validUTF8(v) {
			d.props.SetString(propResponseTopic, string(v))
		}
	case PropCorrelation:
		if cd, err := base64.StdEncoding.DecodeString(string(v)); err == nil {
			d.props.SetCorrelationData(cd)
		}
	case PropExpiresAt:
		d.expiresAt, _ = strconv.ParseInt(string(v), 10, 64)
	case PropPacketID:
	default:
		if !reservedProperty[string(k)] && !bytes.HasPrefix(k, []byte("MQTT_")) && validUTF8(k) && validUTF8(v) {
			*plain = append(*plain, UserProperty{Key: string(k), Value: string(v)})
		}
	}
}

// setUserProperties uses MQTT_USER_PROPS when present (exact order and
// duplicates), else the plain properties of a RocketMQ message.
func (d *delivery) setUserProperties(users []byte, plain []UserProperty) {
	if users != nil {
		var pairs [][2]string
		if json.Unmarshal(users, &pairs) == nil {
			for _, p := range pairs {
				if validUTF8([]byte(p[0])) && validUTF8([]byte(p[1])) {
					d.props.AddUser(p[0], p[1])
				}
			}
		}
		return
	}
	if !d.fromMQTT {
		for _, u := range plain {
			d.props.AddUser(u.Key, u.Value)
		}
	}
}

// deliverableTopic reports whether records of a Comet topic reach MQTT.
func deliverableTopic(topic []byte) bool {
	t := string(topic)
	switch {
	case remoting.IsSystemTopic(t), strings.HasPrefix(t, remoting.RetryGroupTopicPrefix),
		strings.HasPrefix(t, remoting.DLQGroupTopicPrefix), t == remoting.ScheduleTopic,
		strings.HasPrefix(t, "RMQ_SYS_"), t == remoting.TransactionCheckMaxTopic:
		return false
	}
	return true
}

// eachProperty calls fn for every key/value of a stored property string.
func eachProperty(props []byte, fn func(k, v []byte)) {
	for len(props) > 0 {
		item := props
		if i := bytes.IndexByte(props, remoting.PropertySeparator); i >= 0 {
			item, props = props[:i], props[i+1:]
		} else {
			props = nil
		}
		if sep := bytes.IndexByte(item, remoting.PropertyNameValueSeparator); sep > 0 {
			fn(item[:sep], item[sep+1:])
		}
	}
}
