package httpapi

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/cometmq/comet/client"
	"github.com/cometmq/comet/netio/remoting"
)

const sendOK = "SEND_OK"

// sendStatusNames are RocketMQ's names of the send statuses.
var sendStatusNames = map[client.SendStatus]string{client.SendOK: sendOK,
	client.SendFlushDiskTimeout: "FLUSH_DISK_TIMEOUT", client.SendFlushSlaveTimeout: "FLUSH_SLAVE_TIMEOUT",
	client.SendSlaveNotAvailable: "SLAVE_NOT_AVAILABLE"}

// maxBatch bounds the messages of one produce request.
const maxBatch = 1024

// messageIn is one message to produce (part of the format).
type messageIn struct {
	Body         string            `json:"body"`
	BodyEncoding string            `json:"bodyEncoding,omitempty"` // "utf8" (default) or "base64"
	Tag          string            `json:"tag,omitempty"`
	Keys         []string          `json:"keys,omitempty"`
	Properties   map[string]string `json:"properties,omitempty"`
	DelayLevel   int               `json:"delayLevel,omitempty"`
}

// produceBody is one message (its fields at the top) or a batch
// ("messages"), never both (part of the format).
type produceBody struct {
	messageIn
	Messages []messageIn `json:"messages,omitempty"`
}

// sendResult is what a produce answers per message, in request order.
type sendResult struct {
	MsgID       string `json:"msgId"`
	OffsetMsgID string `json:"offsetMsgId"`
	Topic       string `json:"topic"`
	BrokerName  string `json:"brokerName"`
	QueueID     int32  `json:"queueId"`
	QueueOffset int64  `json:"queueOffset"`
	// Status is SEND_OK, or the broker's word that the message is stored
	// but its flush or replication did not finish in time
	// (FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT, SLAVE_NOT_AVAILABLE).
	Status string `json:"status"`
}

// reservedProperties are set by the broker or the client, never by an
// HTTP producer; tags, keys and delays have their own fields.
var reservedProperties = map[string]bool{
	remoting.PropertyKeys: true, remoting.PropertyTags: true, remoting.PropertyWaitStoreMsgOK: true,
	remoting.PropertyDelayLevel: true, remoting.PropertyRetryTopic: true, remoting.PropertyRealTopic: true,
	remoting.PropertyRealQueueID: true, remoting.PropertyTransactionPrepared: true, remoting.PropertyProducerGroup: true,
	remoting.PropertyMinOffset: true, remoting.PropertyMaxOffset: true, remoting.PropertyUniqKey: true,
	remoting.PropertyOriginMessageID: true, remoting.PropertyReconsumeTime: true, remoting.PropertyTransactionID: true,
	remoting.PropertyTransactionPreparedOffset: true, remoting.PropertyTransactionCheckTimes: true,
	remoting.PropertyMaxReconsumeTimes: true,
}

// toMessage checks m and builds the SDK message.
func (m *messageIn) toMessage(topic string, maxBody int) (*client.Message, error) {
	var body []byte
	switch m.BodyEncoding {
	case "", "utf8":
		body = []byte(m.Body)
	case "base64":
		b, err := base64.StdEncoding.DecodeString(m.Body)
		if err != nil {
			return nil, badRequest("body: not base64: %v", err)
		}
		body = b
	default:
		return nil, badRequest("bodyEncoding %q: want utf8 or base64", m.BodyEncoding)
	}
	if len(body) == 0 || len(body) > maxBody {
		return nil, badRequest("body of %d bytes: want 1..%d", len(body), maxBody)
	}
	for k, v := range m.Properties {
		if k == "" || reservedProperties[k] || strings.ContainsAny(k+v, "\x01\x02") {
			return nil, badRequest("property %q: empty, reserved, or holding \\x01 or \\x02", k)
		}
	}
	for _, k := range m.Keys {
		if k == "" || strings.ContainsAny(k, " \x01\x02") {
			return nil, badRequest("key %q: empty or holding a space, \\x01 or \\x02", k)
		}
	}
	if m.DelayLevel < 0 || m.DelayLevel > 64 {
		return nil, badRequest("delayLevel %d: want 0..64", m.DelayLevel)
	}
	if strings.ContainsAny(m.Tag, "|\x01\x02") {
		return nil, badRequest("tag %q: must not hold | or separators", m.Tag)
	}
	msg := client.NewMessage(topic, body)
	msg.Tags, msg.Keys, msg.DelayLevel, msg.Properties = m.Tag, m.Keys, m.DelayLevel, m.Properties
	return msg, nil
}

func (b *produceBody) messages(topic string, maxBody int) ([]*client.Message, error) {
	ins := b.Messages
	single := b.Body != "" || b.Tag != "" || len(b.Keys) > 0 || len(b.Properties) > 0 || b.DelayLevel != 0
	switch {
	case single && len(ins) > 0:
		return nil, badRequest("give one message or \"messages\", not both")
	case single:
		ins = []messageIn{b.messageIn}
	case len(ins) == 0:
		return nil, badRequest("no message")
	case len(ins) > maxBatch:
		return nil, badRequest("%d messages: at most %d per request", len(ins), maxBatch)
	}
	out := make([]*client.Message, len(ins))
	for i := range ins {
		m, err := ins[i].toMessage(topic, maxBody)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		out[i] = m
	}
	return out, nil
}

// produce stores the messages with the SDK's producer, as a native client
// would: each answer is the broker's SEND_OK, given only once the message
// is stored under the broker's flush (and replication) mode. A batch of
// messages without delays goes as one SEND_BATCH_MESSAGE (one queue, stored
// together); otherwise each message is sent on its own, in order.
func (a *API) produce(w http.ResponseWriter, r *http.Request) error {
	topic := r.PathValue("topic")
	if err := checkUserTopic(topic); err != nil {
		return err
	}
	var body produceBody
	if err := readJSON(r, &body); err != nil {
		return err
	}
	msgs, err := body.messages(topic, a.opts.MaxMessageBytes)
	if err != nil {
		return err
	}
	if _, err := a.routes.get(topic); err != nil {
		return err
	}
	results, err := a.send(r, msgs)
	if err != nil {
		return err
	}
	status := http.StatusOK
	for _, res := range results {
		if res.Status != sendOK {
			status = http.StatusAccepted // stored, durability not confirmed
		}
	}
	return writeJSON(w, status, map[string][]sendResult{"results": results})
}

func checkUserTopic(topic string) error {
	if err := remoting.ValidateTopic(topic); err != nil {
		return badRequest("%v", err)
	}
	if remoting.IsSystemTopic(topic) || strings.HasPrefix(topic, remoting.RetryGroupTopicPrefix) ||
		strings.HasPrefix(topic, remoting.DLQGroupTopicPrefix) {
		return badRequest("topic %s is a system topic", topic)
	}
	return nil
}

func (a *API) send(r *http.Request, msgs []*client.Message) ([]sendResult, error) {
	ctx, cancel := requestContext(r, 2*a.opts.Timeout)
	defer cancel()
	delayed := false
	for _, m := range msgs {
		delayed = delayed || m.DelayLevel > 0
	}
	var res []client.SendResult
	if len(msgs) > 1 && !delayed {
		var err error
		if res, err = a.producer.SendBatch(ctx, msgs); err != nil {
			return nil, err
		}
	} else {
		for _, m := range msgs {
			one, err := a.producer.SendSync(ctx, m)
			if err != nil {
				return nil, fmt.Errorf("after %d stored: %w", len(res), err)
			}
			res = append(res, one)
		}
	}
	out := make([]sendResult, len(res))
	for i, sr := range res {
		out[i] = sendResult{MsgID: sr.MsgID, OffsetMsgID: sr.OffsetMsgID, Topic: sr.Queue.Topic,
			BrokerName: sr.Queue.BrokerName, QueueID: sr.Queue.QueueID, QueueOffset: sr.QueueOffset,
			Status: sendStatusNames[sr.Status]}
	}
	return out, nil
}
