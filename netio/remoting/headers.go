package remoting

import (
	"fmt"
	"strconv"
)

// SendHeader is the request header of SEND_MESSAGE (10), SEND_MESSAGE_V2
// (310), SEND_BATCH_MESSAGE (320) and SEND_REPLY_MESSAGE (324/325).
//
// Codes 310, 320 and 325 carry it with the short v2 keys a..m, the others
// with the v1 long names:
//
//	+---------------------------+----+---------------------------+
//	| v1 key                    | v2 | required                  |
//	+---------------------------+----+---------------------------+
//	| producerGroup             | a  | yes                       |
//	| topic                     | b  | yes                       |
//	| defaultTopic              | c  | yes                       |
//	| defaultTopicQueueNums     | d  | yes                       |
//	| queueId                   | e  | yes                       |
//	| sysFlag                   | f  | yes                       |
//	| bornTimestamp             | g  | yes                       |
//	| flag                      | h  | yes                       |
//	| properties                | i  | no                        |
//	| reconsumeTimes            | j  | no                        |
//	| unitMode                  | k  | no (false)                |
//	| maxReconsumeTimes         | l  | no                        |
//	| batch                     | m  | no (false)                |
//	+---------------------------+----+---------------------------+
//
// Part of the format: do not change.
type SendHeader struct {
	ProducerGroup         string
	Topic                 string
	DefaultTopic          string
	DefaultTopicQueueNums int32
	QueueID               int32
	SysFlag               int32
	BornTimestamp         int64
	Flag                  int32
	Properties            string
	ReconsumeTimes        int32
	UnitMode              bool
	MaxReconsumeTimes     int32
	Batch                 bool
}

type sendHeaderKeys struct {
	producerGroup, topic, defaultTopic, defaultTopicQueueNums, queueID,
	sysFlag, bornTimestamp, flag, properties, reconsumeTimes, unitMode,
	maxReconsumeTimes, batch string
}

var (
	sendKeysV1 = sendHeaderKeys{
		ExtProducerGroup, ExtTopic, ExtDefaultTopic, ExtDefaultTopicQueueNums, ExtQueueID,
		ExtSysFlag, ExtBornTimestamp, ExtFlag, ExtProperties, ExtReconsumeTimes, ExtUnitMode,
		ExtMaxReconsumeTimes, ExtBatch,
	}
	sendKeysV2 = sendHeaderKeys{
		ExtV2ProducerGroup, ExtV2Topic, ExtV2DefaultTopic, ExtV2DefaultTopicQueueNums, ExtV2QueueID,
		ExtV2SysFlag, ExtV2BornTimestamp, ExtV2Flag, ExtV2Properties, ExtV2ReconsumeTimes, ExtV2UnitMode,
		ExtV2MaxReconsumeTimes, ExtV2Batch,
	}
)

// UsesSendHeaderV2 reports whether a request code carries the short v2 keys.
func UsesSendHeaderV2(code int16) bool {
	return code == RequestSendMessageV2 || code == RequestSendBatchMessage || code == RequestSendReplyMessageV2
}

func sendKeysFor(code int16) *sendHeaderKeys {
	if UsesSendHeaderV2(code) {
		return &sendKeysV2
	}
	return &sendKeysV1
}

// ParseSendHeader reads the send header of cmd in the key set its code
// implies. Errors wrap ErrMissingField or ErrInvalidField and name the field.
func ParseSendHeader(cmd *Command) (SendHeader, error) {
	k := sendKeysFor(cmd.Code)
	p := fieldParser{cmd: cmd}
	h := SendHeader{
		ProducerGroup:         p.requiredString(k.producerGroup),
		Topic:                 p.requiredString(k.topic),
		DefaultTopic:          p.requiredString(k.defaultTopic),
		DefaultTopicQueueNums: p.int32(k.defaultTopicQueueNums, true),
		QueueID:               p.int32(k.queueID, true),
		SysFlag:               p.int32(k.sysFlag, true),
		BornTimestamp:         p.int64(k.bornTimestamp, true),
		Flag:                  p.int32(k.flag, true),
		Properties:            p.optionalString(k.properties),
		ReconsumeTimes:        p.int32(k.reconsumeTimes, false),
		UnitMode:              p.bool(k.unitMode),
		MaxReconsumeTimes:     p.int32(k.maxReconsumeTimes, false),
		Batch:                 p.bool(k.batch),
	}
	return h, p.err
}

// Apply writes the header into cmd's ext fields, as v2 short keys when
// cmd.Code is 310, 320 or 325 and as v1 long names otherwise. Set cmd.Code
// first.
func (h *SendHeader) Apply(cmd *Command) {
	k := sendKeysFor(cmd.Code)
	e := &cmd.Ext
	e.Set(k.producerGroup, h.ProducerGroup)
	e.Set(k.topic, h.Topic)
	e.Set(k.defaultTopic, h.DefaultTopic)
	e.Set(k.defaultTopicQueueNums, strconv.FormatInt(int64(h.DefaultTopicQueueNums), 10))
	e.Set(k.queueID, strconv.FormatInt(int64(h.QueueID), 10))
	e.Set(k.sysFlag, strconv.FormatInt(int64(h.SysFlag), 10))
	e.Set(k.bornTimestamp, strconv.FormatInt(h.BornTimestamp, 10))
	e.Set(k.flag, strconv.FormatInt(int64(h.Flag), 10))
	e.Set(k.properties, h.Properties)
	e.Set(k.reconsumeTimes, strconv.FormatInt(int64(h.ReconsumeTimes), 10))
	e.Set(k.unitMode, strconv.FormatBool(h.UnitMode))
	e.Set(k.maxReconsumeTimes, strconv.FormatInt(int64(h.MaxReconsumeTimes), 10))
	e.Set(k.batch, strconv.FormatBool(h.Batch))
}

// PullHeader is the request header of PULL_MESSAGE (11).
// All eleven keys are sent by the Go client; subscription and
// expressionType are optional for Java and here.
type PullHeader struct {
	ConsumerGroup        string
	Topic                string
	QueueID              int32
	QueueOffset          int64
	MaxMsgNums           int32
	SysFlag              int32
	CommitOffset         int64
	SuspendTimeoutMillis int64
	Subscription         string
	SubVersion           int64
	ExpressionType       string
}

// HasCommitOffset, IsSuspend and HasSubscription test the pull sysFlag bits.
func (h *PullHeader) HasCommitOffset() bool { return h.SysFlag&PullFlagCommitOffset != 0 }

// IsSuspend reports whether long polling is allowed.
func (h *PullHeader) IsSuspend() bool { return h.SysFlag&PullFlagSuspend != 0 }

// HasSubscription reports whether the header's subscription is to be used.
func (h *PullHeader) HasSubscription() bool { return h.SysFlag&PullFlagSubscription != 0 }

// ParsePullHeader reads a PULL_MESSAGE header. Errors wrap ErrMissingField or
// ErrInvalidField and name the field.
func ParsePullHeader(cmd *Command) (PullHeader, error) {
	p := fieldParser{cmd: cmd}
	h := PullHeader{
		ConsumerGroup:        p.requiredString(ExtConsumerGroup),
		Topic:                p.requiredString(ExtTopic),
		QueueID:              p.int32(ExtQueueID, true),
		QueueOffset:          p.int64(ExtQueueOffset, true),
		MaxMsgNums:           p.int32(ExtMaxMsgNums, true),
		SysFlag:              p.int32(ExtSysFlag, true),
		CommitOffset:         p.int64(ExtCommitOffset, true),
		SuspendTimeoutMillis: p.int64(ExtSuspendTimeoutMillis, true),
		Subscription:         p.optionalString(ExtSubscription),
		SubVersion:           p.int64(ExtSubVersion, true),
		ExpressionType:       p.optionalString(ExtExpressionType),
	}
	return h, p.err
}

// Apply writes all eleven keys into cmd's ext fields.
func (h *PullHeader) Apply(cmd *Command) {
	e := &cmd.Ext
	e.Set(ExtConsumerGroup, h.ConsumerGroup)
	e.Set(ExtTopic, h.Topic)
	e.Set(ExtQueueID, strconv.FormatInt(int64(h.QueueID), 10))
	e.Set(ExtQueueOffset, strconv.FormatInt(h.QueueOffset, 10))
	e.Set(ExtMaxMsgNums, strconv.FormatInt(int64(h.MaxMsgNums), 10))
	e.Set(ExtSysFlag, strconv.FormatInt(int64(h.SysFlag), 10))
	e.Set(ExtCommitOffset, strconv.FormatInt(h.CommitOffset, 10))
	e.Set(ExtSuspendTimeoutMillis, strconv.FormatInt(h.SuspendTimeoutMillis, 10))
	e.Set(ExtSubscription, h.Subscription)
	e.Set(ExtSubVersion, strconv.FormatInt(h.SubVersion, 10))
	e.Set(ExtExpressionType, h.ExpressionType)
}

// PullResponseHeader is the ext of a PULL_MESSAGE response; all four keys
// are always sent.
type PullResponseHeader struct {
	NextBeginOffset      int64
	MinOffset            int64
	MaxOffset            int64
	SuggestWhichBrokerID int64
}

// Apply writes the four keys into cmd's ext fields.
func (h *PullResponseHeader) Apply(cmd *Command) {
	cmd.SetExtInt64(ExtNextBeginOffset, h.NextBeginOffset)
	cmd.SetExtInt64(ExtMinOffset, h.MinOffset)
	cmd.SetExtInt64(ExtMaxOffset, h.MaxOffset)
	cmd.SetExtInt64(ExtSuggestWhichBrokerID, h.SuggestWhichBrokerID)
}

// ParsePullResponseHeader reads the four keys of a pull response.
func ParsePullResponseHeader(cmd *Command) (PullResponseHeader, error) {
	p := fieldParser{cmd: cmd}
	h := PullResponseHeader{
		NextBeginOffset:      p.int64(ExtNextBeginOffset, true),
		MinOffset:            p.int64(ExtMinOffset, true),
		MaxOffset:            p.int64(ExtMaxOffset, true),
		SuggestWhichBrokerID: p.int64(ExtSuggestWhichBrokerID, true),
	}
	return h, p.err
}

// fieldParser reads typed ext fields and keeps the first error.
type fieldParser struct {
	cmd *Command
	err error
}

func (p *fieldParser) lookup(key string, required bool) (string, bool) {
	v, ok := p.cmd.Ext.Get(key)
	if !ok && required && p.err == nil {
		p.err = fmt.Errorf("%w: %s", ErrMissingField, key)
	}
	return v, ok
}

func (p *fieldParser) requiredString(key string) string {
	v, _ := p.lookup(key, true)
	return v
}

func (p *fieldParser) optionalString(key string) string {
	v, _ := p.lookup(key, false)
	return v
}

func (p *fieldParser) integer(key string, required bool, bits int) int64 {
	s, ok := p.lookup(key, required)
	if !ok {
		return 0
	}
	v, err := strconv.ParseInt(s, 10, bits)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("%w: %s=%q is not an int%d", ErrInvalidField, key, s, bits)
	}
	return v
}

func (p *fieldParser) int32(key string, required bool) int32 {
	return int32(p.integer(key, required, 32))
}

func (p *fieldParser) int64(key string, required bool) int64 {
	return p.integer(key, required, 64)
}

// bool reads an optional Java boolean: absent or anything but "true" is false.
func (p *fieldParser) bool(key string) bool {
	s, _ := p.lookup(key, false)
	return parseJavaBool(s)
}
