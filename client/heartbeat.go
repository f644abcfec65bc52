package client

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"unicode/utf16"

	"github.com/cometmq/comet/netio/remoting"
)

// Selector filters the messages of a subscribed topic on the broker.
type Selector struct {
	Type       string // ExprTag or ExprSQL92
	Expression string
}

// Expression types.
const (
	ExprTag   = "TAG"
	ExprSQL92 = "SQL92"
)

// All selects every message of a topic.
var All = Selector{Type: ExprTag, Expression: "*"}

// Tag selects messages whose tag is one of expr's ("TagA || TagB"); "*"
// selects all.
func Tag(expr string) Selector { return Selector{Type: ExprTag, Expression: expr} }

// SQL92 selects messages whose properties satisfy a SQL92 condition
// ("a > 5 AND region = 'eu'"). The broker evaluates it; it must support
// property filtering.
func SQL92(expr string) Selector { return Selector{Type: ExprSQL92, Expression: expr} }

func (s Selector) isTag() bool { return s.Type == "" || strings.EqualFold(s.Type, ExprTag) }

func (s Selector) typeName() string {
	if s.isTag() {
		return ExprTag
	}
	return ExprSQL92
}

// tags returns the tag set of a tag selector, nil meaning every tag.
func (s Selector) tags() []string {
	expr := strings.TrimSpace(s.Expression)
	if !s.isTag() || expr == "" || expr == "*" {
		return nil
	}
	var out []string
	for _, tag := range strings.Split(expr, "||") {
		if tag = strings.TrimSpace(tag); tag != "" {
			out = append(out, tag)
		}
	}
	return out
}

// Heartbeat body (HEART_BEAT, code 34), RocketMQ's HeartbeatData. Part of
// the format: do not change the JSON names.
type heartbeatData struct {
	ClientID        string         `json:"clientID"`
	ProducerDataSet []producerData `json:"producerDataSet"`
	ConsumerDataSet []consumerData `json:"consumerDataSet"`
}

type producerData struct {
	GroupName string `json:"groupName"`
}

type consumerData struct {
	GroupName           string             `json:"groupName"`
	ConsumeType         string             `json:"consumeType"`
	MessageModel        string             `json:"messageModel"`
	ConsumeFromWhere    string             `json:"consumeFromWhere"`
	SubscriptionDataSet []subscriptionData `json:"subscriptionDataSet"`
	UnitMode            bool               `json:"unitMode"`
}

type subscriptionData struct {
	ClassFilterMode bool     `json:"classFilterMode"`
	Topic           string   `json:"topic"`
	SubString       string   `json:"subString"`
	TagsSet         []string `json:"tagsSet"`
	CodeSet         []int32  `json:"codeSet"`
	SubVersion      int64    `json:"subVersion"`
	ExpressionType  string   `json:"expressionType"`
}

func newSubscriptionData(topic string, sel Selector, version int64) subscriptionData {
	sd := subscriptionData{
		Topic: topic, SubString: sel.Expression, TagsSet: []string{}, CodeSet: []int32{},
		SubVersion: version, ExpressionType: sel.typeName(),
	}
	if sd.SubString == "" {
		sd.SubString = "*"
	}
	for _, tag := range sel.tags() {
		sd.TagsSet = append(sd.TagsSet, tag)
		sd.CodeSet = append(sd.CodeSet, javaStringHash(tag))
	}
	return sd
}

// javaStringHash is Java's String.hashCode, which brokers store per tag.
func javaStringHash(s string) int32 {
	var h int32
	for _, unit := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(unit)
	}
	return h
}

// heartbeatBody collects the groups of every member; nil when there are
// none. withSlaves: consumers read from slaves too, so they heartbeat them.
func (c *Client) heartbeatBody() (body []byte, withSlaves bool) {
	hb := heartbeatData{ClientID: c.id, ProducerDataSet: []producerData{}, ConsumerDataSet: []consumerData{}}
	c.mu.Lock()
	seen := map[string]bool{}
	for p := range c.mu.producers {
		if !seen[p.group] {
			seen[p.group] = true
			hb.ProducerDataSet = append(hb.ProducerDataSet, producerData{GroupName: p.group})
		}
	}
	for group := range c.mu.txProducers {
		if !seen[group] {
			seen[group] = true
			hb.ProducerDataSet = append(hb.ProducerDataSet, producerData{GroupName: group})
		}
	}
	for _, pc := range c.mu.consumers {
		hb.ConsumerDataSet = append(hb.ConsumerDataSet, pc.heartbeatEntry())
	}
	c.mu.Unlock()
	if len(hb.ProducerDataSet) == 0 && len(hb.ConsumerDataSet) == 0 {
		return nil, false
	}
	body, _ = json.Marshal(&hb)
	return body, len(hb.ConsumerDataSet) > 0
}

// heartbeat sends one heartbeat to every known broker, in parallel. It
// fails only when every broker failed.
func (c *Client) heartbeat(ctx context.Context) error {
	c.heartbeatLock.Lock()
	defer c.heartbeatLock.Unlock()
	body, withSlaves := c.heartbeatBody()
	if body == nil {
		return nil
	}
	addrs := c.routes.brokerAddrs(withSlaves)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, addr := range addrs {
		wg.Go(func() {
			if err := c.heartbeatOne(ctx, addr, body); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(addrs) > 0 && len(errs) == len(addrs) {
		return errors.Join(errs...)
	}
	for _, err := range errs {
		c.log.Warn("client: heartbeat failed", "err", err)
	}
	return nil
}

func (c *Client) heartbeatOne(ctx context.Context, addr string, body []byte) error {
	req := c.tr.request(remoting.RequestHeartbeat)
	req.Body = body
	callCtx, cancel := context.WithTimeout(ctx, c.opts.requestTimeout)
	defer cancel()
	resp, err := c.tr.invoke(callCtx, addr, req)
	if err != nil {
		return err
	}
	if resp.Code != remoting.ResponseSuccess {
		return brokerError(resp, addr, req.Code)
	}
	return nil
}
