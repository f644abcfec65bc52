package client

import (
	"context"
	"fmt"
	"sync"

	"github.com/cometmq/comet/netio/remoting"
)

// TransactionState is a local transaction's outcome.
type TransactionState int

// Transaction states.
const (
	// CommitTransaction makes the half message visible to consumers.
	CommitTransaction TransactionState = iota
	// RollbackTransaction discards it.
	RollbackTransaction
	// UnknownTransaction leaves it pending: the broker asks again later
	// through CheckLocalTransaction.
	UnknownTransaction
)

func (s TransactionState) String() string {
	switch s {
	case CommitTransaction:
		return "COMMIT"
	case RollbackTransaction:
		return "ROLLBACK"
	}
	return "UNKNOWN"
}

// endTransactionCode is the commitOrRollback value END_TRANSACTION carries.
func (s TransactionState) endTransactionCode() int32 {
	switch s {
	case CommitTransaction:
		return remoting.TransactionCommit
	case RollbackTransaction:
		return remoting.TransactionRollback
	}
	return remoting.TransactionNotType
}

// TransactionListener runs the local side of transactional messages.
type TransactionListener interface {
	// ExecuteLocalTransaction runs after the half message is stored and
	// decides its fate.
	ExecuteLocalTransaction(ctx context.Context, msg *Message) TransactionState
	// CheckLocalTransaction answers the broker asking about a half message
	// whose outcome it never learned (UnknownTransaction, or a lost answer).
	CheckLocalTransaction(ctx context.Context, msg *MessageExt) TransactionState
}

// TransactionResult is the outcome of SendInTransaction.
type TransactionResult struct {
	SendResult
	State TransactionState
}

// TransactionProducer sends messages that become visible only when a local
// transaction commits: a half message first, then the listener's decision
// (END_TRANSACTION), with broker check-backs answered by the listener.
type TransactionProducer struct {
	p        *Producer
	listener TransactionListener
	checks   chan *transactionCheck
	ctx      context.Context
	cancel   context.CancelFunc
	loop     sync.WaitGroup
}

// transactionCheck is one CHECK_TRANSACTION_STATE from a broker.
type transactionCheck struct {
	addr                 string // the connection it came in on
	msg                  *MessageExt
	tranStateTableOffset int64
	commitLogOffset      int64
	transactionID        string
}

// checkQueueSize bounds pending check-backs; beyond it checks are dropped
// (the broker asks again).
const checkQueueSize = 1024

// NewTransactionProducer returns a transactional producer of group. Only
// one per group and Client: check-backs are routed by group.
func (c *Client) NewTransactionProducer(group string, l TransactionListener, opts ...ProducerOption) (*TransactionProducer, error) {
	if l == nil {
		return nil, fmt.Errorf("%w: nil transaction listener", ErrInvalidOption)
	}
	p, err := c.newProducer(group, opts)
	if err != nil {
		return nil, err
	}
	p.batcher = nil // half messages are never batched
	tp := &TransactionProducer{p: p, listener: l, checks: make(chan *transactionCheck, checkQueueSize)}
	tp.ctx, tp.cancel = context.WithCancel(context.Background())
	var dup bool
	if err := c.register(func() {
		if _, dup = c.mu.txProducers[group]; !dup {
			c.mu.txProducers[group] = tp
		}
	}); err != nil {
		return nil, err
	}
	if dup {
		return nil, fmt.Errorf("%w: this client already has a transaction producer of group %s", ErrInvalidOption, group)
	}
	tp.loop.Go(tp.checkLoop)
	c.requestHeartbeat()
	return tp, nil
}

// Close stops answering check-backs and closes the producer.
func (tp *TransactionProducer) Close() error {
	tp.cancel()
	tp.loop.Wait()
	err := tp.p.Close()
	tp.p.c.unregister(func() {
		if tp.p.c.mu.txProducers[tp.p.group] == tp {
			delete(tp.p.c.mu.txProducers, tp.p.group)
		}
	})
	return err
}

// SendInTransaction stores msg as a half message, runs the listener's
// ExecuteLocalTransaction and tells the broker the outcome. A send error
// means nothing was stored and the listener did not run.
func (tp *TransactionProducer) SendInTransaction(ctx context.Context, msg *Message) (TransactionResult, error) {
	if err := validateMessage(msg); err != nil {
		return TransactionResult{}, err
	}
	if msg.DelayLevel > 0 {
		return TransactionResult{}, fmt.Errorf("%w: transactional messages cannot be delayed", ErrInvalidMessage)
	}
	p := tp.p
	o, err := p.single(msg, remoting.PropertyTransactionPrepared, "true", remoting.PropertyProducerGroup, p.group)
	if err != nil {
		return TransactionResult{}, err
	}
	o.header.SysFlag |= remoting.SysFlagTransactionPrepare
	if err := p.admit(1); err != nil {
		return TransactionResult{}, err
	}
	defer p.inflight.Done()
	res, err := p.send(ctx, o)
	if err != nil {
		return TransactionResult{}, err
	}
	out := TransactionResult{SendResult: res[0], State: RollbackTransaction}
	if out.Status == SendOK {
		out.State = tp.executeLocal(ctx, msg)
	}
	return out, tp.endTransaction(ctx, &out)
}

func (tp *TransactionProducer) executeLocal(ctx context.Context, msg *Message) (state TransactionState) {
	defer func() {
		if r := recover(); r != nil {
			tp.p.c.log.Error("client: local transaction panicked", "group", tp.p.group, "panic", r)
			state = UnknownTransaction
		}
	}()
	return tp.listener.ExecuteLocalTransaction(ctx, msg)
}

// endTransaction reports the outcome of a transaction just sent.
func (tp *TransactionProducer) endTransaction(ctx context.Context, res *TransactionResult) error {
	_, _, commitLogOffset, err := remoting.ParseOffsetMsgID(res.OffsetMsgID)
	if err != nil {
		return fmt.Errorf("%w: send response message id: %v", ErrProtocol, err)
	}
	addr, err := tp.p.c.brokerAddr(ctx, res.Queue)
	if err != nil {
		return err
	}
	txID := res.TransactionID
	if txID == "" {
		txID = res.MsgID
	}
	req := tp.endRequest(res.State, res.QueueOffset, commitLogOffset, res.MsgID, txID, false)
	return tp.p.c.tr.oneway(ctx, addr, req)
}

func (tp *TransactionProducer) endRequest(state TransactionState, tranStateTableOffset, commitLogOffset int64, msgID, txID string, fromCheck bool) *remoting.Command {
	req := tp.p.c.tr.request(remoting.RequestEndTransaction)
	req.Ext.Set(remoting.ExtProducerGroup, tp.p.group)
	req.Ext.Set(remoting.ExtTranStateTableOffset, formatInt(tranStateTableOffset))
	req.Ext.Set(remoting.ExtCommitLogOffset, formatInt(commitLogOffset))
	req.Ext.Set(remoting.ExtCommitOrRollback, formatInt(int64(state.endTransactionCode())))
	req.SetExtBool(remoting.ExtFromTransactionCheck, fromCheck)
	req.Ext.Set(remoting.ExtMsgID, msgID)
	req.Ext.Set(remoting.ExtTransactionID, txID)
	return req
}

// handleTransactionCheck routes a broker's check-back to the transaction
// producer of the half message's group.
func (c *Client) handleTransactionCheck(addr string, req *remoting.Command) {
	check, group, err := parseTransactionCheck(addr, req)
	if err != nil {
		c.log.Warn("client: bad transaction check", "addr", addr, "err", err)
		return
	}
	c.mu.Lock()
	tp := c.mu.txProducers[group]
	c.mu.Unlock()
	if tp == nil {
		c.log.Warn("client: transaction check for a group without a transaction producer", "group", group)
		return
	}
	select {
	case tp.checks <- check:
	default:
		c.log.Warn("client: transaction check queue full, dropping a check", "group", group)
	}
}

// parseTransactionCheck reads a CHECK_TRANSACTION_STATE request: the
// offsets in the header, the half message in the body.
func parseTransactionCheck(addr string, req *remoting.Command) (*transactionCheck, string, error) {
	var wire remoting.MessageExt
	if _, err := remoting.DecodeMessage(req.Body, &wire); err != nil {
		return nil, "", err
	}
	check := &transactionCheck{addr: addr, msg: messageFromWire(&wire, "")}
	var err error
	if check.tranStateTableOffset, err = req.ExtInt64(remoting.ExtTranStateTableOffset); err != nil {
		return nil, "", err
	}
	if check.commitLogOffset, err = req.ExtInt64(remoting.ExtCommitLogOffset); err != nil {
		return nil, "", err
	}
	check.transactionID, _ = req.Ext.Get(remoting.ExtTransactionID)
	if check.transactionID == "" {
		check.transactionID = check.msg.MsgID
	}
	return check, check.msg.Properties[remoting.PropertyProducerGroup], nil
}

// checkLoop answers check-backs one at a time.
func (tp *TransactionProducer) checkLoop() {
	for {
		select {
		case <-tp.ctx.Done():
			return
		case check := <-tp.checks:
			tp.answer(check)
		}
	}
}

func (tp *TransactionProducer) answer(check *transactionCheck) {
	state := tp.checkLocal(check.msg)
	req := tp.endRequest(state, check.tranStateTableOffset, check.commitLogOffset, check.msg.MsgID, check.transactionID, true)
	ctx, cancel := context.WithTimeout(tp.ctx, tp.p.c.opts.requestTimeout)
	defer cancel()
	if err := tp.p.c.tr.oneway(ctx, check.addr, req); err != nil {
		tp.p.c.log.Warn("client: answer transaction check", "addr", check.addr, "err", err)
	}
}

func (tp *TransactionProducer) checkLocal(msg *MessageExt) (state TransactionState) {
	defer func() {
		if r := recover(); r != nil {
			tp.p.c.log.Error("client: transaction check panicked", "group", tp.p.group, "panic", r)
			state = UnknownTransaction
		}
	}()
	return tp.listener.CheckLocalTransaction(tp.ctx, msg)
}
