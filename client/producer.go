package client

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

// SendStatus is how the broker stored a message. Every status is a
// success: the message is in the commit log.
type SendStatus int

// Send statuses (RocketMQ's SendStatus).
const (
	SendOK SendStatus = iota
	SendFlushDiskTimeout
	SendFlushSlaveTimeout
	SendSlaveNotAvailable
)

func (s SendStatus) String() string {
	switch s {
	case SendFlushDiskTimeout:
		return "FLUSH_DISK_TIMEOUT"
	case SendFlushSlaveTimeout:
		return "FLUSH_SLAVE_TIMEOUT"
	case SendSlaveNotAvailable:
		return "SLAVE_NOT_AVAILABLE"
	}
	return "SEND_OK"
}

// SendResult is the outcome of sending one message.
type SendResult struct {
	Status SendStatus
	// MsgID is the id consumers see as MsgID: the producer-made UNIQ_KEY, or
	// OffsetMsgID for batch messages sent without one.
	MsgID string
	// OffsetMsgID is the broker-made id: store host and commit-log offset.
	OffsetMsgID   string
	Queue         MessageQueue
	QueueOffset   int64
	TransactionID string
}

// Producer sends messages. It is safe for concurrent use; make one per
// producer group and share it.
type Producer struct {
	c       *Client
	group   string
	opts    producerOptions
	batcher *batcher
	faults  faultTable

	inflight sync.WaitGroup // async sends not yet completed
	closing  atomic.Bool
	closeMu  sync.RWMutex // held shared while a send is admitted
}

// NewProducer returns a producer of group.
func (c *Client) NewProducer(group string, opts ...ProducerOption) (*Producer, error) {
	p, err := c.newProducer(group, opts)
	if err != nil {
		return nil, err
	}
	if err := c.register(func() { c.mu.producers[p] = struct{}{} }); err != nil {
		return nil, err
	}
	c.requestHeartbeat()
	return p, nil
}

func (c *Client) newProducer(group string, opts []ProducerOption) (*Producer, error) {
	if group == "" || len(group) > remoting.MaxGroupNameLength {
		return nil, fmt.Errorf("%w: producer group %q", ErrInvalidOption, group)
	}
	o := defaultProducerOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	p := &Producer{c: c, group: group, opts: o}
	p.faults.backoff = o.faultBackoff
	if o.batching {
		p.batcher = newBatcher(p)
	}
	return p, nil
}

// Group is the producer group.
func (p *Producer) Group() string { return p.group }

// Close flushes open micro-batches, waits for async sends in flight to
// complete (their callbacks run) and detaches the producer from its Client.
func (p *Producer) Close() error {
	p.closeMu.Lock()
	already := p.closing.Swap(true)
	p.closeMu.Unlock()
	if already {
		return nil
	}
	if p.batcher != nil {
		p.batcher.flushAll()
	}
	p.inflight.Wait()
	p.c.unregister(func() { delete(p.c.mu.producers, p) })
	return nil
}

// admit registers one send in flight, or fails when the producer is closed.
func (p *Producer) admit(n int) error {
	p.closeMu.RLock()
	defer p.closeMu.RUnlock()
	if p.closing.Load() || p.c.isClosed() {
		return ErrClosed
	}
	p.inflight.Add(n)
	return nil
}

// SendSync sends msg and waits until the broker has stored it.
func (p *Producer) SendSync(ctx context.Context, msg *Message) (SendResult, error) {
	if err := validateMessage(msg); err != nil {
		return SendResult{}, err
	}
	if p.batcher != nil && msg.DelayLevel == 0 {
		return p.batcher.sendSync(ctx, msg)
	}
	o, err := p.single(msg)
	if err != nil {
		return SendResult{}, err
	}
	if err := p.admit(1); err != nil {
		return SendResult{}, err
	}
	defer p.inflight.Done()
	res, err := p.send(ctx, o)
	if err != nil {
		return SendResult{}, err
	}
	return res[0], nil
}

// SendAsync sends msg and returns once it is queued; done is called exactly
// once, on an SDK goroutine, when the broker answered or the send failed.
// done must not block for long: it holds up other completions. ctx bounds
// the whole send, retries included, so it must outlive the call. SendAsync
// waits for a free in-flight slot (backpressure) and returns an error,
// without calling done, when none frees up before ctx ends.
func (p *Producer) SendAsync(ctx context.Context, msg *Message, done func(SendResult, error)) error {
	if err := validateMessage(msg); err != nil {
		return err
	}
	if p.batcher != nil && msg.DelayLevel == 0 {
		return p.batcher.add(ctx, msg, done)
	}
	o, err := p.single(msg)
	if err != nil {
		return err
	}
	if err := p.admit(1); err != nil {
		return err
	}
	s := &asyncSend{p: p, ctx: ctx, o: o, done: func(res []SendResult, err error) {
		defer p.inflight.Done()
		if err != nil {
			done(SendResult{}, err)
			return
		}
		done(res[0], nil)
	}}
	if err := s.next(); err != nil {
		p.inflight.Done()
		return err
	}
	return nil
}

// SendOneway sends msg without waiting for the broker's answer: fastest,
// with no confirmation and no retry.
func (p *Producer) SendOneway(ctx context.Context, msg *Message) error {
	if err := validateMessage(msg); err != nil {
		return err
	}
	o, err := p.single(msg)
	if err != nil {
		return err
	}
	if err := p.admit(1); err != nil {
		return err
	}
	defer p.inflight.Done()
	a, err := p.prepare(ctx, o, nil, 0)
	if err != nil {
		return err
	}
	return p.c.tr.oneway(ctx, a.addr, a.cmd)
}

// SendBatch sends msgs, which must share one topic and carry no delay, as
// one request to one queue; they are stored with consecutive queue offsets.
// The results are in the order of msgs.
func (p *Producer) SendBatch(ctx context.Context, msgs []*Message) ([]SendResult, error) {
	o, err := p.batch(msgs)
	if err != nil {
		return nil, err
	}
	if err := p.admit(1); err != nil {
		return nil, err
	}
	defer p.inflight.Done()
	return p.send(ctx, o)
}

// outgoing is one send request before its queue is chosen: a single message
// or a batch.
type outgoing struct {
	topic   string
	code    int16
	body    []byte
	header  remoting.SendHeader
	first   *Message // what the queue selector sees
	uniqIDs []string
	queue   *MessageQueue // preferred queue for the first attempt
}

func (p *Producer) baseHeader(topic string) remoting.SendHeader {
	return remoting.SendHeader{
		ProducerGroup:         p.group,
		Topic:                 topic,
		DefaultTopic:          remoting.AutoCreateTopicKey,
		DefaultTopicQueueNums: remoting.DefaultTopicQueueNums,
	}
}

// single encodes one message; extra are property pairs the SDK adds.
func (p *Producer) single(msg *Message, extra ...string) (*outgoing, error) {
	uniq := uniqIDs.next()
	props := appendProperties(make([]byte, 0, 64), msg, uniq, extra...)
	if len(props) > remoting.MaxPropertiesLength {
		return nil, fmt.Errorf("%w: properties of %d bytes exceed %d", ErrInvalidMessage, len(props), remoting.MaxPropertiesLength)
	}
	o := &outgoing{topic: msg.Topic, code: remoting.RequestSendMessageV2, body: msg.Body, first: msg, uniqIDs: []string{uniq}}
	o.header = p.baseHeader(msg.Topic)
	o.header.Flag = msg.Flag
	o.header.Properties = string(props)
	if t := p.opts.compressThreshold; t > 0 && len(msg.Body) >= t {
		o.body = compress(msg.Body)
		o.header.SysFlag |= remoting.SysFlagCompressed
	}
	return o, nil
}

// batch encodes messages of one topic as a SEND_BATCH_MESSAGE body.
func (p *Producer) batch(msgs []*Message) (*outgoing, error) {
	if len(msgs) == 0 {
		return nil, fmt.Errorf("%w: empty batch", ErrInvalidMessage)
	}
	o := &outgoing{topic: msgs[0].Topic, code: remoting.RequestSendBatchMessage, first: msgs[0], uniqIDs: make([]string, len(msgs))}
	size := 0
	for _, m := range msgs {
		if m != nil {
			size += len(m.Body) + batchElementOverhead
		}
	}
	o.body = make([]byte, 0, min(size, MaxBodySize+batchElementOverhead))
	var props []byte
	for i, m := range msgs {
		if err := validateMessage(m); err != nil {
			return nil, err
		}
		if m.Topic != o.topic || m.DelayLevel > 0 {
			return nil, fmt.Errorf("%w: a batch must have one topic and no delayed message", ErrInvalidMessage)
		}
		var err error
		if p.opts.batchIDs {
			o.uniqIDs[i] = uniqIDs.next()
		}
		if o.body, props, err = appendBatchElement(o.body, props[:0], m, o.uniqIDs[i]); err != nil {
			return nil, err
		}
	}
	if len(o.body) > MaxBodySize {
		return nil, fmt.Errorf("%w: batch of %d bytes exceeds %d", ErrInvalidMessage, len(o.body), MaxBodySize)
	}
	o.header = p.baseHeader(o.topic)
	o.header.Batch = true
	return o, nil
}

// appendBatchElement appends m as one batch element; props is scratch.
func appendBatchElement(body, props []byte, m *Message, uniq string) ([]byte, []byte, error) {
	props = appendProperties(props, m, uniq)
	if len(props) > remoting.MaxPropertiesLength {
		return body, props, fmt.Errorf("%w: properties of %d bytes exceed %d", ErrInvalidMessage, len(props), remoting.MaxPropertiesLength)
	}
	return remoting.AppendBatchElement(body, m.Flag, m.Body, props), props, nil
}

var zlibWriters = sync.Pool{New: func() any {
	w, _ := zlib.NewWriterLevel(nil, 5)
	return w
}}

func compress(body []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(body) / 2)
	w := zlibWriters.Get().(*zlib.Writer)
	w.Reset(&buf)
	_, _ = w.Write(body)
	_ = w.Close()
	zlibWriters.Put(w)
	return buf.Bytes()
}

// sendAttempt is one try: the chosen queue, its broker and the request.
type sendAttempt struct {
	mq   MessageQueue
	addr string
	cmd  *remoting.Command
}

// prepare chooses a queue (avoiding the brokers in failed) and builds the
// request for it.
func (p *Producer) prepare(ctx context.Context, o *outgoing, failed []string, attempt int) (sendAttempt, error) {
	route, err := p.c.routes.get(ctx, o.topic, true)
	if err != nil {
		return sendAttempt{}, err
	}
	var mq MessageQueue
	if attempt == 0 && o.queue != nil {
		mq = *o.queue
	} else {
		queues := p.candidates(route, failed)
		if len(queues) == 0 {
			return sendAttempt{}, fmt.Errorf("%w: topic %s has no writable queue", ErrNoRoute, o.topic)
		}
		mq = p.opts.selector.Select(o.first, queues)
	}
	addr := route.masterAddr(mq.BrokerName)
	if addr == "" {
		return sendAttempt{}, fmt.Errorf("%w: no master address for broker %s", ErrNoRoute, mq.BrokerName)
	}
	cmd := p.c.tr.request(o.code)
	h := o.header
	h.QueueID = int32(mq.QueueID)
	h.BornTimestamp = time.Now().UnixMilli()
	h.Apply(cmd)
	cmd.Body = o.body
	return sendAttempt{mq: mq, addr: addr, cmd: cmd}, nil
}

// candidates are the publish queues minus those of brokers that failed this
// send or recently, as long as some remain.
func (p *Producer) candidates(route *topicRoute, failed []string) []MessageQueue {
	queues := route.publish
	if len(failed) > 0 {
		if kept := withoutBrokers(queues, func(b string) bool { return containsString(failed, b) }); len(kept) > 0 {
			queues = kept
		}
	}
	if p.faults.active() {
		if kept := withoutBrokers(queues, p.faults.avoid); len(kept) > 0 {
			queues = kept
		}
	}
	return queues
}

func withoutBrokers(queues []MessageQueue, drop func(string) bool) []MessageQueue {
	var kept []MessageQueue
	for i, q := range queues {
		if drop(q.BrokerName) {
			if kept == nil {
				kept = append(make([]MessageQueue, 0, len(queues)), queues[:i]...)
			}
			continue
		}
		if kept != nil {
			kept = append(kept, q)
		}
	}
	if kept == nil {
		return queues
	}
	return kept
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// send runs a request to completion with retries on other brokers.
func (p *Producer) send(ctx context.Context, o *outgoing) ([]SendResult, error) {
	var failed []string
	var lastErr error
	for attempt := 0; attempt <= p.opts.retries; attempt++ {
		a, err := p.prepare(ctx, o, failed, attempt)
		if err != nil {
			return nil, errors.Join(err, lastErr)
		}
		callCtx, cancel := context.WithTimeout(ctx, p.opts.sendTimeout)
		resp, err := p.c.tr.invokeWindowed(callCtx, a.addr, a.cmd)
		cancel()
		res, err := p.outcome(&a, o, resp, err)
		if err == nil {
			return res, nil
		}
		lastErr = err
		if !p.retryable(ctx, err) {
			break
		}
		failed = append(failed, a.mq.BrokerName)
	}
	return nil, lastErr
}

// outcome turns a response (or transport error) into results.
func (p *Producer) outcome(a *sendAttempt, o *outgoing, resp *remoting.Command, err error) ([]SendResult, error) {
	if err != nil {
		if errors.Is(err, ErrConnection) || errors.Is(err, ErrTimeout) {
			p.faults.mark(a.mq.BrokerName)
		}
		return nil, err
	}
	res, err := parseSendResponse(resp, a.addr, a.mq, o.uniqIDs)
	var be *BrokerError
	if errors.As(err, &be) && be.Code == remoting.ResponseServiceNotAvailable {
		// A replica, a master without its lease, or one short of in-sync
		// replicas: the group may have a new master already.
		p.c.refreshRoutesSoon()
	}
	return res, err
}

// retryable: another attempt may succeed and the caller still waits.
func (p *Producer) retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, ErrClosed) {
		return false
	}
	var be *BrokerError
	if errors.As(err, &be) {
		return retryableSendCode(be.Code)
	}
	return errors.Is(err, ErrConnection) || errors.Is(err, ErrTimeout)
}

// parseSendResponse reads a send response: status, offset ids (one per
// message, comma separated for batches), queue and first queue offset.
func parseSendResponse(resp *remoting.Command, addr string, mq MessageQueue, uniqIDs []string) ([]SendResult, error) {
	var status SendStatus
	switch resp.Code {
	case remoting.ResponseSuccess:
		status = SendOK
	case remoting.ResponseFlushDiskTimeout:
		status = SendFlushDiskTimeout
	case remoting.ResponseFlushSlaveTimeout:
		status = SendFlushSlaveTimeout
	case remoting.ResponseSlaveNotAvailable:
		status = SendSlaveNotAvailable
	default:
		return nil, brokerError(resp, addr, remoting.RequestSendMessage)
	}
	if qid, err := resp.ExtInt32(remoting.ExtQueueID); err == nil {
		mq.QueueID = qid
	}
	offset, err := resp.ExtInt64(remoting.ExtQueueOffset)
	if err != nil {
		return nil, fmt.Errorf("%w: send response from %s: %v", ErrProtocol, addr, err)
	}
	msgIDs, _ := resp.Ext.Get(remoting.ExtMsgID)
	txID, _ := resp.Ext.Get(remoting.ExtTransactionID)
	results := make([]SendResult, len(uniqIDs))
	for i := range results {
		var offsetID string
		offsetID, msgIDs, _ = strings.Cut(msgIDs, ",")
		msgID := uniqIDs[i]
		if msgID == "" {
			msgID = offsetID
		}
		results[i] = SendResult{Status: status, MsgID: msgID, OffsetMsgID: offsetID, Queue: mq,
			QueueOffset: offset + int64(i), TransactionID: txID}
	}
	return results, nil
}

// asyncSend is a send in flight on the transport's workers: each response
// either completes it or starts the next attempt. done runs exactly once
// after next succeeded; it owns the producer's in-flight accounting.
type asyncSend struct {
	p       *Producer
	ctx     context.Context
	o       *outgoing
	done    func([]SendResult, error)
	attempt int
	failed  []string
	current sendAttempt
}

// next starts the current attempt.
func (s *asyncSend) next() error {
	a, err := s.p.prepare(s.ctx, s.o, s.failed, s.attempt)
	if err != nil {
		return err
	}
	s.current = a
	return s.p.c.tr.invokeAsync(s.ctx, s.p.opts.sendTimeout, a.addr, a.cmd, s.onResponse)
}

func (s *asyncSend) onResponse(resp *remoting.Command, err error) {
	res, err := s.p.outcome(&s.current, s.o, resp, err)
	if err != nil && s.attempt < s.p.opts.retries && s.p.retryable(s.ctx, err) {
		s.attempt++
		s.failed = append(s.failed, s.current.mq.BrokerName)
		nextErr := s.next()
		if nextErr == nil {
			return
		}
		err = errors.Join(nextErr, err)
	}
	s.done(res, err)
}

// faultTable remembers brokers that failed a send recently so later sends
// prefer the others.
type faultTable struct {
	backoff time.Duration
	count   atomic.Int32 // entries, so the hot path skips the lock
	mu      sync.Mutex
	until   map[string]time.Time
}

func (f *faultTable) mark(broker string) {
	if f.backoff <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.until == nil {
		f.until = make(map[string]time.Time)
	}
	f.until[broker] = time.Now().Add(f.backoff)
	f.count.Store(int32(len(f.until)))
}

func (f *faultTable) active() bool { return f.count.Load() > 0 }

// avoid reports whether broker is still in its backoff; expired entries go.
func (f *faultTable) avoid(broker string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	until, ok := f.until[broker]
	if ok && time.Now().After(until) {
		delete(f.until, broker)
		f.count.Store(int32(len(f.until)))
		return false
	}
	return ok
}

// formatInt is strconv.FormatInt for the ext values the SDK writes.
func formatInt(v int64) string { return strconv.FormatInt(v, 10) }
