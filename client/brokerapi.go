package client

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

// The broker requests consumers make, one function each. They take the
// broker by name and resolve its master through the route cache.

// PullStatus is the outcome of one pull.
type PullStatus int

// Pull statuses (RocketMQ's PullStatus).
const (
	// PullFound: Messages holds at least one message.
	PullFound PullStatus = iota
	// PullNoNewMessages: the offset is the end of the queue.
	PullNoNewMessages
	// PullNoMatched: messages were scanned, none matched the selector;
	// NextOffset skips them.
	PullNoMatched
	// PullOffsetIllegal: the offset is outside the queue; NextOffset is the
	// nearest valid one.
	PullOffsetIllegal
)

func (s PullStatus) String() string {
	switch s {
	case PullFound:
		return "FOUND"
	case PullNoNewMessages:
		return "NO_NEW_MSG"
	case PullNoMatched:
		return "NO_MATCHED_MSG"
	}
	return "OFFSET_ILLEGAL"
}

// PullResult is what one pull returned.
type PullResult struct {
	Status     PullStatus
	Messages   []*MessageExt
	NextOffset int64 // where the next pull of this queue starts
	MinOffset  int64 // the queue's first stored offset
	MaxOffset  int64 // the queue's next offset to be written
}

// brokerAddr is the master address of mq's broker, refreshing mq's topic
// route once when the broker is unknown.
func (c *Client) brokerAddr(ctx context.Context, mq MessageQueue) (string, error) {
	if addr, ok := c.routes.masterAddr(mq.BrokerName); ok {
		return addr, nil
	}
	if _, err := c.routes.refresh(ctx, mq.Topic, false); err != nil {
		return "", err
	}
	if addr, ok := c.routes.masterAddr(mq.BrokerName); ok {
		return addr, nil
	}
	return "", fmt.Errorf("%w: no master address for broker %s", ErrNoRoute, mq.BrokerName)
}

// call sends a control request to mq's broker under the request timeout.
func (c *Client) call(ctx context.Context, mq MessageQueue, req *remoting.Command) (*remoting.Command, string, error) {
	addr, err := c.brokerAddr(ctx, mq)
	if err != nil {
		return nil, "", err
	}
	callCtx, cancel := context.WithTimeout(ctx, c.opts.requestTimeout)
	defer cancel()
	resp, err := c.tr.invoke(callCtx, addr, req)
	return resp, addr, err
}

func (c *Client) queueRequest(code int16, mq MessageQueue) *remoting.Command {
	req := c.tr.request(code)
	req.Ext.Set(remoting.ExtTopic, mq.Topic)
	req.Ext.Set(remoting.ExtQueueID, formatInt(int64(mq.QueueID)))
	return req
}

// pull runs one PULL_MESSAGE. timeout bounds the call: it must exceed the
// header's suspend time.
func (c *Client) pull(ctx context.Context, mq MessageQueue, h *remoting.PullHeader, timeout time.Duration) (*PullResult, error) {
	addr, err := c.brokerAddr(ctx, mq)
	if err != nil {
		return nil, err
	}
	req := c.tr.request(remoting.RequestPullMessage)
	h.Apply(req)
	callCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := c.tr.invoke(callCtx, addr, req)
	if err != nil {
		return nil, err
	}
	return parsePullResponse(resp, addr, mq)
}

// parsePullResponse maps a pull response onto a PullResult; the messages
// of a FOUND answer are decoded from the body.
func parsePullResponse(resp *remoting.Command, addr string, mq MessageQueue) (*PullResult, error) {
	res := &PullResult{}
	switch resp.Code {
	case remoting.ResponseSuccess:
		res.Status = PullFound
	case remoting.ResponsePullNotFound:
		res.Status = PullNoNewMessages
	case remoting.ResponsePullRetryImmediately:
		res.Status = PullNoMatched
	case remoting.ResponsePullOffsetMoved:
		res.Status = PullOffsetIllegal
	default:
		return nil, brokerError(resp, addr, remoting.RequestPullMessage)
	}
	h, err := remoting.ParsePullResponseHeader(resp)
	if err != nil {
		return nil, fmt.Errorf("%w: pull response from %s: %v", ErrProtocol, addr, err)
	}
	res.NextOffset, res.MinOffset, res.MaxOffset = h.NextBeginOffset, h.MinOffset, h.MaxOffset
	if res.Status != PullFound {
		return res, nil
	}
	msgs, err := decodePullBody(resp.Body, mq)
	if err != nil {
		return nil, fmt.Errorf("%w: pull body from %s: %v", ErrProtocol, addr, err)
	}
	res.Messages = msgs
	return res, nil
}

// decodePullBody decodes the stored records of a pull body, reusing one
// decode target for all of them.
func decodePullBody(body []byte, mq MessageQueue) ([]*MessageExt, error) {
	msgs := make([]*MessageExt, 0, 32)
	var w remoting.MessageExt
	for pos := 0; pos < len(body); {
		n, err := remoting.DecodeMessage(body[pos:], &w)
		if err != nil {
			return nil, fmt.Errorf("record at byte %d: %w", pos, err)
		}
		m := messageFromWire(&w, mq.BrokerName)
		m.Queue.Topic = mq.Topic
		msgs = append(msgs, m)
		pos += n
	}
	return msgs, nil
}

// queryOffset reads group's committed offset of mq; found is false when the
// broker has none (QUERY_NOT_FOUND).
func (c *Client) queryOffset(ctx context.Context, group string, mq MessageQueue) (offset int64, found bool, err error) {
	req := c.queueRequest(remoting.RequestQueryConsumerOffset, mq)
	req.Ext.Set(remoting.ExtConsumerGroup, group)
	resp, addr, err := c.call(ctx, mq, req)
	if err != nil {
		return 0, false, err
	}
	switch resp.Code {
	case remoting.ResponseSuccess:
		off, err := resp.ExtInt64(remoting.ExtOffset)
		if err != nil {
			return 0, false, fmt.Errorf("%w: offset from %s: %v", ErrProtocol, addr, err)
		}
		return off, off >= 0, nil
	case remoting.ResponseQueryNotFound:
		return 0, false, nil
	}
	return 0, false, brokerError(resp, addr, req.Code)
}

// commitOffset stores group's offset of mq on the broker; oneway does not
// wait for the answer (the connection keeps the order of requests).
func (c *Client) commitOffset(ctx context.Context, group string, mq MessageQueue, offset int64, oneway bool) error {
	req := c.queueRequest(remoting.RequestUpdateConsumerOffset, mq)
	req.Ext.Set(remoting.ExtConsumerGroup, group)
	req.Ext.Set(remoting.ExtCommitOffset, formatInt(offset))
	if oneway {
		addr, err := c.brokerAddr(ctx, mq)
		if err != nil {
			return err
		}
		return c.tr.oneway(ctx, addr, req)
	}
	resp, addr, err := c.call(ctx, mq, req)
	if err != nil {
		return err
	}
	if resp.Code != remoting.ResponseSuccess {
		return brokerError(resp, addr, req.Code)
	}
	return nil
}

// offsetQuery runs GET_MIN_OFFSET, GET_MAX_OFFSET or
// SEARCH_OFFSET_BY_TIMESTAMP (timestamp in ms when code is the latter).
func (c *Client) offsetQuery(ctx context.Context, code int16, mq MessageQueue, timestamp int64) (int64, error) {
	req := c.queueRequest(code, mq)
	if code == remoting.RequestSearchOffsetByTimestamp {
		req.Ext.Set(remoting.ExtTimestamp, formatInt(timestamp))
	}
	resp, addr, err := c.call(ctx, mq, req)
	if err != nil {
		return 0, err
	}
	if resp.Code != remoting.ResponseSuccess {
		return 0, brokerError(resp, addr, req.Code)
	}
	off, err := resp.ExtInt64(remoting.ExtOffset)
	if err != nil {
		return 0, fmt.Errorf("%w: offset from %s: %v", ErrProtocol, addr, err)
	}
	return off, nil
}

// consumerIDs lists the clients of group, asking the brokers of route in
// random order until one answers.
func (c *Client) consumerIDs(ctx context.Context, group string, route *topicRoute) ([]string, error) {
	addrs := make([]string, 0, len(route.brokers))
	for name := range route.brokers {
		if addr := route.masterAddr(name); addr != "" {
			addrs = append(addrs, addr)
		}
	}
	rand.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
	lastErr := fmt.Errorf("%w: topic %s has no broker", ErrNoRoute, route.topic)
	for _, addr := range addrs {
		ids, err := c.consumerIDsFrom(ctx, addr, group)
		if err == nil {
			return ids, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func (c *Client) consumerIDsFrom(ctx context.Context, addr, group string) ([]string, error) {
	req := c.tr.request(remoting.RequestGetConsumerListByGroup)
	req.Ext.Set(remoting.ExtConsumerGroup, group)
	callCtx, cancel := context.WithTimeout(ctx, c.opts.requestTimeout)
	defer cancel()
	resp, err := c.tr.invoke(callCtx, addr, req)
	if err != nil {
		return nil, err
	}
	if resp.Code != remoting.ResponseSuccess {
		return nil, brokerError(resp, addr, req.Code)
	}
	return decodeConsumerList(resp.Body)
}

// decodeConsumerList parses {"consumerIdList":[...]}.
func decodeConsumerList(body []byte) ([]string, error) {
	var list struct {
		ConsumerIDList []string `json:"consumerIdList"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("%w: consumer list: %v", ErrProtocol, err)
	}
	return list.ConsumerIDList, nil
}

// lockBody is the LOCK_BATCH_MQ / UNLOCK_BATCH_MQ request body. Part of the
// format: do not change the JSON names.
type lockBody struct {
	ConsumerGroup string         `json:"consumerGroup"`
	ClientID      string         `json:"clientId"`
	MQSet         []MessageQueue `json:"mqSet"`
}

// lockQueues asks the broker of mqs (all on one broker) to lock them for
// this client and returns the ones it granted.
func (c *Client) lockQueues(ctx context.Context, group string, mqs []MessageQueue) ([]MessageQueue, error) {
	req := c.tr.request(remoting.RequestLockBatchMQ)
	req.Body = encodeLockBody(group, c.id, mqs)
	resp, addr, err := c.call(ctx, mqs[0], req)
	if err != nil {
		return nil, err
	}
	if resp.Code != remoting.ResponseSuccess {
		return nil, brokerError(resp, addr, req.Code)
	}
	return decodeLockResponse(resp.Body)
}

// unlockQueues releases this client's locks of mqs (all on one broker).
func (c *Client) unlockQueues(ctx context.Context, group string, mqs []MessageQueue) error {
	req := c.tr.request(remoting.RequestUnlockBatchMQ)
	req.Body = encodeLockBody(group, c.id, mqs)
	resp, addr, err := c.call(ctx, mqs[0], req)
	if err != nil {
		return err
	}
	if resp.Code != remoting.ResponseSuccess {
		return brokerError(resp, addr, req.Code)
	}
	return nil
}

func encodeLockBody(group, clientID string, mqs []MessageQueue) []byte {
	b := lockBody{ConsumerGroup: group, ClientID: clientID, MQSet: mqs}
	body, _ := json.Marshal(&b)
	return body
}

// decodeLockResponse parses {"lockOKMQSet":[...]}; an empty body locked
// nothing.
func decodeLockResponse(body []byte) ([]MessageQueue, error) {
	if len(body) == 0 {
		return nil, nil
	}
	var resp struct {
		LockOKMQSet []MessageQueue `json:"lockOKMQSet"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("%w: lock response: %v", ErrProtocol, err)
	}
	return resp.LockOKMQSet, nil
}

// sendBack hands a message the handler failed on back to the broker, which
// redelivers it through the group's retry topic (delayLevel 0: the broker's
// schedule; < 0: straight to the dead-letter queue).
func (c *Client) sendBack(ctx context.Context, group string, m *MessageExt, delayLevel, maxReconsume int) error {
	req := c.tr.request(remoting.RequestConsumerSendMsgBack)
	req.Ext.Set(remoting.ExtGroup, group)
	req.Ext.Set(remoting.ExtOffset, formatInt(m.CommitLogOffset))
	req.Ext.Set(remoting.ExtDelayLevel, formatInt(int64(delayLevel)))
	req.Ext.Set(remoting.ExtOriginMsgID, m.MsgID)
	req.Ext.Set(remoting.ExtOriginTopic, m.Topic)
	req.Ext.Set(remoting.ExtUnitMode, "false")
	req.Ext.Set(remoting.ExtMaxReconsumeTimes, formatInt(int64(maxReconsume)))
	resp, addr, err := c.call(ctx, m.Queue, req)
	if err != nil {
		return err
	}
	if resp.Code != remoting.ResponseSuccess {
		return brokerError(resp, addr, req.Code)
	}
	return nil
}
