package client

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

// MessageQueue names one queue of a topic on one broker.
type MessageQueue = routing.MessageQueue

// MaxBodySize is the largest body a broker accepts by default (4 MiB).
const MaxBodySize = remoting.DefaultMaxMessageBodySize

// Message is what a producer sends.
type Message struct {
	Topic string
	Body  []byte
	// Tags is the single tag consumers filter on ("TagA").
	Tags string
	// Keys index the message for lookups by key; they must not contain spaces.
	Keys []string
	// ShardingKey is what the hash queue selector hashes; it is not sent.
	ShardingKey string
	// DelayLevel > 0 delays delivery by the broker's level table (1 = 1 s,
	// 2 = 5 s, ... 18 = 2 h). Delayed messages are never micro-batched.
	DelayLevel int
	// Flag is an opaque user integer stored with the message.
	Flag int32
	// Properties are user properties; keys and values must not contain the
	// characters \x01 or \x02.
	Properties map[string]string
}

// NewMessage returns a message for topic with body.
func NewMessage(topic string, body []byte) *Message {
	return &Message{Topic: topic, Body: body}
}

// SetProperty sets one user property.
func (m *Message) SetProperty(key, value string) *Message {
	if m.Properties == nil {
		m.Properties = make(map[string]string, 4)
	}
	m.Properties[key] = value
	return m
}

// Property returns a property (user or system).
func (m *Message) Property(key string) string { return m.Properties[key] }

// MessageExt is a message as a consumer receives it: the message plus where
// and when it was stored.
type MessageExt struct {
	Message
	// MsgID is the producer-made id (UNIQ_KEY), or OffsetMsgID when the
	// producer set none.
	MsgID string
	// OffsetMsgID is the broker-made id: store host and commit-log offset.
	OffsetMsgID string
	// Queue is the queue the message was pulled from (for a redelivered
	// message, the group's retry queue; Topic then names the original topic).
	Queue           MessageQueue
	QueueOffset     int64
	CommitLogOffset int64
	// BornTime is when the producer sent it, StoreTime when the broker
	// stored it (both millisecond precision, from the two hosts' clocks).
	BornTime  time.Time
	StoreTime time.Time
	// BornHost is the producer's address as the broker saw it; StoreHost
	// is the broker's.
	BornHost       netip.AddrPort
	StoreHost      netip.AddrPort
	ReconsumeTimes int32
	SysFlag        int32
}

// messageFromWire converts a decoded stored record. Body and Properties are
// taken over, not copied.
func messageFromWire(w *remoting.MessageExt, brokerName string) *MessageExt {
	m := &MessageExt{
		Message: Message{
			Topic:      w.Topic,
			Body:       w.Body,
			Tags:       w.Properties[remoting.PropertyTags],
			Flag:       w.Flag,
			Properties: w.Properties,
		},
		MsgID:           w.MsgID,
		OffsetMsgID:     w.OffsetMsgID,
		Queue:           MessageQueue{Topic: w.Topic, BrokerName: brokerName, QueueID: w.QueueID},
		QueueOffset:     w.QueueOffset,
		CommitLogOffset: w.CommitLogOffset,
		BornTime:        time.UnixMilli(w.BornTimestamp),
		StoreTime:       time.UnixMilli(w.StoreTimestamp),
		BornHost:        w.BornHost,
		StoreHost:       w.StoreHost,
		ReconsumeTimes:  w.ReconsumeTimes,
		SysFlag:         w.SysFlag,
	}
	if keys := w.Properties[remoting.PropertyKeys]; keys != "" {
		m.Keys = strings.Fields(keys)
	}
	if d := w.Properties[remoting.PropertyDelayLevel]; d != "" {
		m.DelayLevel, _ = strconv.Atoi(d)
	}
	return m
}

// validateMessage checks what a broker would refuse, before a round trip.
func validateMessage(m *Message) error {
	switch {
	case m == nil:
		return fmt.Errorf("%w: nil message", ErrInvalidMessage)
	case m.Topic == "" || len(m.Topic) > remoting.MaxTopicNameLength:
		return fmt.Errorf("%w: topic %q must have 1..%d characters", ErrInvalidMessage, m.Topic, remoting.MaxTopicNameLength)
	case len(m.Body) == 0:
		return fmt.Errorf("%w: empty body", ErrInvalidMessage)
	case len(m.Body) > MaxBodySize:
		return fmt.Errorf("%w: body of %d bytes exceeds %d", ErrInvalidMessage, len(m.Body), MaxBodySize)
	case m.DelayLevel < 0:
		return fmt.Errorf("%w: negative delay level", ErrInvalidMessage)
	}
	if strings.ContainsAny(m.Tags, "\x01\x02") {
		return fmt.Errorf("%w: tags contain \\x01 or \\x02", ErrInvalidMessage)
	}
	for _, k := range m.Keys {
		if k == "" || strings.ContainsAny(k, " \x01\x02") {
			return fmt.Errorf("%w: key %q is empty or contains a space, \\x01 or \\x02", ErrInvalidMessage, k)
		}
	}
	for k, v := range m.Properties {
		if k == "" || strings.ContainsAny(k, "\x01\x02") || strings.ContainsAny(v, "\x01\x02") {
			return fmt.Errorf("%w: property %q contains \\x01 or \\x02 or is empty", ErrInvalidMessage, k)
		}
	}
	return nil
}

// appendProperties encodes the property string a send carries: user
// properties first, then the ones the SDK owns, which therefore win.
func appendProperties(dst []byte, m *Message, uniqID string, extra ...string) []byte {
	for k, v := range m.Properties {
		if v != "" {
			dst = remoting.AppendProperty(dst, k, v)
		}
	}
	if m.Tags != "" {
		dst = remoting.AppendProperty(dst, remoting.PropertyTags, m.Tags)
	}
	if len(m.Keys) > 0 {
		dst = remoting.AppendProperty(dst, remoting.PropertyKeys, strings.Join(m.Keys, remoting.KeySeparator))
	}
	if m.DelayLevel > 0 {
		dst = remoting.AppendProperty(dst, remoting.PropertyDelayLevel, strconv.Itoa(m.DelayLevel))
	}
	if uniqID != "" {
		dst = remoting.AppendProperty(dst, remoting.PropertyUniqKey, uniqID)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		dst = remoting.AppendProperty(dst, extra[i], extra[i+1])
	}
	return dst
}
