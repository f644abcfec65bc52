package actors

import (
	"errors"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
)

// Transaction constants of the wire and the store.
const (
	TopicTransactionCheckMax = "TRANS_CHECK_MAX_TIME_TOPIC"
	transGroup               = "CID_RMQ_SYS_TRANS"
	transOpTag               = "d"

	txnTypeMask     = 0x0C
	txnTypePrepared = 0x04
	txnTypeCommit   = 0x08

	endTxnCommit   = 8
	endTxnRollback = 12
	endTxnUnknown  = 0

	txnTickInterval   = 100 * time.Millisecond
	txnClockSkewGrace = time.Minute

	// maxQueuedEndTxn bounds the END_TRANSACTION requests waiting for the
	// transaction actor.
	maxQueuedEndTxn = 10000
)

// TxnStats are the transaction actor's counters.
type TxnStats struct {
	Halves     atomic.Int64 // half messages seen
	Committed  atomic.Int64
	RolledBack atomic.Int64
	Checks     atomic.Int64 // CHECK_TRANSACTION_STATE sent
	Discarded  atomic.Int64 // given up after MaxChecks
	Ignored    atomic.Int64 // decisions for unknown or decided transactions
	Pending    atomic.Int64 // undecided now
	Restarts   atomic.Int64
	Unexpected atomic.Int64
}

type halfRef struct {
	txID         string
	group        string
	queueOffset  int64 // latest copy
	phys         int64
	storeMs      int64
	immunityMs   int64
	checks       int64
	deciding     bool
	copyInFlight bool
}

type txnService struct {
	b       *Broker
	log     *slog.Logger
	stats   TxnStats
	pending map[string]*halfRef
	decided map[string]int64 // txn id -> offset of its last copy (MaxInt64 while a copy is in flight)
	scanned int64            // next half-queue offset to read
	checked time.Time
	now     func() time.Time
}

func newTxnService(b *Broker) *txnService {
	return &txnService{b: b, log: b.log, now: time.Now}
}

// prepareHalf rewrites a TRAN_MSG send into the half topic.
func (t *txnService) prepareHalf(m *persist.Message) error {
	if g, _ := remoting.PropertyValue(string(m.Properties), remoting.PropertyProducerGroup); g == "" {
		return errors.New("transactional message without PGROUP property")
	}
	props := stripProperties(m.Properties, remoting.PropertyRealTopic, remoting.PropertyRealQueueID)
	props = remoting.AppendProperty(props, remoting.PropertyRealTopic, m.Topic)
	m.Properties = remoting.AppendProperty(props, remoting.PropertyRealQueueID, strconv.Itoa(int(m.QueueID)))
	m.Topic, m.QueueID = remoting.TransactionHalfTopic, 0
	m.SysFlag &^= txnTypeMask
	return nil
}

func isTransactional(props []byte) bool {
	v, _ := remoting.PropertyValue(string(props), remoting.PropertyTransactionPrepared)
	return v == "true"
}

// rebuild restores the undecided set after a (re)start.
func (t *txnService) rebuild() {
	t.pending, t.decided = map[string]*halfRef{}, map[string]int64{}
	cq := t.b.store.ConsumeQueue(remoting.TransactionHalfTopic, 0)
	if cq == nil {
		return
	}
	t.scanned, _ = t.b.offsets.query(remoting.TransactionHalfTopic, transGroup, 0)
	t.scanned = max(t.scanned, cq.MinOffset())
	if t.scanned < cq.MaxOffset() {
		t.loadDecisions(cq)
	}
	t.catchUp()
	for _, p := range t.sortedPending() {
		if t.committedBefore(p) {
			t.log.Info("actors: transaction committed before a crash cut its op record; completing it", "txn", p.txID)
			t.decide(p, nil, txnOpOnly)
		}
	}
	t.log.Info("actors: transactions recovered", "undecided", len(t.pending), "from", t.scanned)
}

// loadDecisions reads the op records written since the oldest half still
// to scan was stored.
func (t *txnService) loadDecisions(half *persist.ConsumeQueue) {
	ops := t.b.store.ConsumeQueue(remoting.TransactionOpHalfTopic, 0)
	e, ok := half.Entry(t.scanned)
	if ops == nil || !ok {
		return
	}
	rv, err := t.b.store.RecordAt(e.CommitLogOffset)
	if err != nil {
		return
	}
	lastHalf := half.MaxOffset() - 1 // no copy of a decided transaction is appended later
	from := t.b.store.SearchOffsetByTime(ops, rv.StoreTimestamp()-txnClockSkewGrace.Milliseconds())
	for off := max(from, ops.MinOffset()); off < ops.MaxOffset(); off++ {
		oe, ok := ops.Entry(off)
		if !ok {
			continue
		}
		op, err := t.b.store.RecordAt(oe.CommitLogOffset)
		if err != nil {
			continue
		}
		if id, ok := remoting.PropertyValue(string(op.Properties()), remoting.PropertyTransactionID); ok {
			t.decided[id] = lastHalf
		}
	}
}

// committedBefore reports whether the real message of p is already stored.
func (t *txnService) committedBefore(p *halfRef) bool {
	rv, err := t.b.store.RecordAt(p.phys)
	if err != nil {
		return false
	}
	real, _ := remoting.PropertyValue(string(rv.Properties()), remoting.PropertyRealTopic)
	found, err := t.b.store.QueryByKey(real, p.txID, p.storeMs-txnClockSkewGrace.Milliseconds(), math.MaxInt64, 16)
	if err != nil {
		return false
	}
	for i := range found {
		if found[i].SysFlag()&txnTypeMask == txnTypeCommit {
			return true
		}
	}
	return false
}

// catchUp reads half messages stored since the last scan.
func (t *txnService) catchUp() {
	cq := t.b.store.ConsumeQueue(remoting.TransactionHalfTopic, 0)
	if cq == nil {
		return
	}
	t.scanned = max(t.scanned, cq.MinOffset())
	for ; t.scanned < cq.MaxOffset(); t.scanned++ {
		e, ok := cq.Entry(t.scanned)
		if !ok {
			continue
		}
		rv, err := t.b.store.RecordAt(e.CommitLogOffset)
		if err != nil {
			t.log.Warn("actors: half message unreadable, skipped", "queueOffset", t.scanned, "err", err)
			continue
		}
		t.observe(&rv, t.scanned)
	}
	for id, off := range t.decided {
		if off < t.scanned {
			delete(t.decided, id)
		}
	}
	t.stats.Pending.Store(int64(len(t.pending)))
}

func (t *txnService) observe(rv *persist.RecordView, queueOffset int64) {
	props := rv.Properties()
	id := txnID(rv)
	if _, done := t.decided[id]; done {
		return
	}
	p := t.pending[id]
	if p == nil {
		p = &halfRef{txID: id}
		p.group, _ = remoting.PropertyValue(string(props), remoting.PropertyProducerGroup)
		t.pending[id] = p
		t.stats.Halves.Add(1)
	} else if p.queueOffset > queueOffset {
		return
	}
	p.queueOffset, p.phys, p.storeMs = queueOffset, rv.PhysicalOffset(), rv.StoreTimestamp()
	p.checks, _, _ = propertyInt64(props, remoting.PropertyTransactionCheckTimes)
	p.immunityMs = 0
	if secs, ok, err := propertyInt64(props, remoting.PropertyCheckImmunityTimeInSeconds); ok && err == nil && p.checks == 0 {
		p.immunityMs = secs * 1000
	}
}

func txnID(rv *persist.RecordView) string {
	if id, ok := remoting.PropertyValue(string(rv.Properties()), remoting.PropertyUniqKey); ok && id != "" {
		return id
	}
	h := rv.StoreHost()
	return remoting.OffsetMsgID(h.IP, h.Port, rv.PhysicalOffset())
}

func (t *txnService) sortedPending() []*halfRef {
	out := make([]*halfRef, 0, len(t.pending))
	for _, p := range t.pending {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].queueOffset < out[j].queueOffset })
	return out
}

// persistCursor stores the oldest undecided copy's offset: a restart scans
// from there.
func (t *txnService) persistCursor() {
	cursor := t.scanned
	for _, p := range t.pending {
		cursor = min(cursor, p.queueOffset)
	}
	t.b.offsets.commit(remoting.TransactionHalfTopic, transGroup, 0, cursor)
}

// endTxn is an END_TRANSACTION request handed to the actor.
type endTxn struct {
	req *netio.Request
}

func (t *txnService) end(e *endTxn) {
	code, remark, later := t.apply(e)
	t.log.Debug("actors: END_TRANSACTION", "ext", e.req.Cmd.Ext, "code", code, "remark", remark)
	req := e.req
	if code != remoting.ResponseSuccess {
		t.log.Info("actors: END_TRANSACTION refused", "remark", remark, "conn", req.Conn.RemoteAddr())
	}
	if !later {
		t.answer(req, code, remark)
	}
}

// apply takes one decision. later means the answer comes once the writer
// stored the decision.
func (t *txnService) apply(e *endTxn) (code int16, remark string, later bool) {
	cmd := &e.req.Cmd
	group, _ := cmd.ExtString("producerGroup")
	phys, err1 := cmd.ExtInt64("commitLogOffset")
	kind, err2 := cmd.ExtInt32("commitOrRollback")
	if err1 != nil || err2 != nil {
		return remoting.ResponseSystemError, "bad END_TRANSACTION header: need commitLogOffset and commitOrRollback", false
	}
	if kind != endTxnCommit && kind != endTxnRollback && kind != endTxnUnknown {
		return remoting.ResponseSystemError, "commitOrRollback " + strconv.Itoa(int(kind)) + " is not 0, 8 or 12", false
	}
	rv, err := t.b.store.RecordAt(phys)
	if err != nil || string(rv.Topic()) != remoting.TransactionHalfTopic {
		return remoting.ResponseSystemError, "no half message at commit-log offset " + strconv.FormatInt(phys, 10), false
	}
	if g, _ := remoting.PropertyValue(string(rv.Properties()), remoting.PropertyProducerGroup); g != group {
		return remoting.ResponseSystemError, "producer group " + group + " does not own the half message (PGROUP " + g + ")", false
	}
	t.catchUp()
	p := t.pending[txnID(&rv)]
	if p == nil || p.deciding {
		t.log.Debug("actors: END_TRANSACTION for an unknown or decided transaction ignored", "txn", txnID(&rv), "kind", kind)
		t.stats.Ignored.Add(1)
		return remoting.ResponseSuccess, "", false
	}
	if kind == endTxnUnknown {
		return remoting.ResponseSuccess, "", false
	}
	if !t.decide(p, e.req, int(kind)) {
		return remoting.ResponseSystemBusy, "broker busy", false
	}
	return remoting.ResponseSuccess, "", true
}

// decide stores the decision for p; req, if any, is answered once stored.
func (t *txnService) decide(p *halfRef, req *netio.Request, kind int) bool {
	rv, err := t.b.store.RecordAt(p.phys)
	if err != nil {
		t.log.Error("actors: half message vanished before its decision", "txn", p.txID, "err", err)
		return false
	}
	d := &txnDecision{svc: t, ref: p, req: req, kind: kind}
	d.append.Done = d
	switch kind {
	case endTxnCommit:
		real, err := t.realMessage(&rv)
		if err != nil {
			t.log.Error("actors: cannot commit transaction", "txn", p.txID, "err", err)
			return false
		}
		d.append.Messages = append(d.append.Messages, real)
	case txnDiscard:
		m := copyRecord(&rv)
		m.Topic, m.QueueID = TopicTransactionCheckMax, 0
		d.append.Messages = append(d.append.Messages, m)
	case txnOpOnly:
	}
	d.append.Messages = append(d.append.Messages, t.opRecord(p))
	p.deciding = true
	if err := t.b.writer.Submit(&d.append); err != nil {
		p.deciding = false
		return false
	}
	return true
}

// Internal decisions: a half checked too often is discarded; a commit whose
// real message is already stored needs only its op record.
const (
	txnDiscard = -1
	txnOpOnly  = -2
)

func (t *txnService) realMessage(rv *persist.RecordView) (persist.Message, error) {
	m := copyRecord(rv)
	topic, ok := remoting.PropertyValue(string(m.Properties), remoting.PropertyRealTopic)
	qid, _, err := propertyInt64(m.Properties, remoting.PropertyRealQueueID)
	if !ok || err != nil {
		return m, errors.New("half message without REAL_TOPIC/REAL_QID")
	}
	m.Topic, m.QueueID = topic, int32(qid)
	m.Properties = stripProperties(m.Properties, remoting.PropertyTransactionPrepared, remoting.PropertyRealTopic,
		remoting.PropertyRealQueueID, remoting.PropertyTransactionCheckTimes)
	m.SysFlag = m.SysFlag&^txnTypeMask | txnTypeCommit
	m.PreparedTxOffset = rv.PhysicalOffset()
	if _, err := t.b.timers.prepare(&m, t.now().UnixMilli()); err != nil {
		m.Properties = stripProperties(m.Properties, timerProperties...)
	}
	return m, nil
}

func (t *txnService) opRecord(p *halfRef) persist.Message {
	props := remoting.AppendProperty(nil, remoting.PropertyTags, transOpTag)
	props = remoting.AppendProperty(props, remoting.PropertyTransactionID, p.txID)
	return persist.Message{Topic: remoting.TransactionOpHalfTopic, BornTimestamp: t.now().UnixMilli(), BornHost: t.b.storeHost,
		Body: []byte(strconv.FormatInt(p.queueOffset, 10)), Properties: props}
}

// txnDecision is a decision on its way through the writer.
type txnDecision struct {
	svc    *txnService
	ref    *halfRef
	req    *netio.Request
	kind   int
	append AppendRequest
}

func (d *txnDecision) Complete(*AppendRequest) {
	d.svc.b.sendTxns(&txnStored{decision: d})
}

func (t *txnService) decisionStored(d *txnDecision) {
	p := d.ref
	p.deciding = false
	if err := d.append.Err; err != nil {
		t.log.Error("actors: transaction decision not stored", "txn", p.txID, "err", err)
		t.answer(d.req, remoting.ResponseSystemError, "store: "+err.Error())
		return
	}
	delete(t.pending, p.txID)
	t.decided[p.txID] = p.queueOffset
	if p.copyInFlight {
		t.decided[p.txID] = math.MaxInt64
	}
	switch d.kind {
	case endTxnCommit, txnOpOnly:
		t.stats.Committed.Add(1)
	case endTxnRollback:
		t.stats.RolledBack.Add(1)
	case txnDiscard:
		t.stats.Discarded.Add(1)
	}
	t.stats.Pending.Store(int64(len(t.pending)))
	t.persistCursor()
	t.answer(d.req, remoting.ResponseSuccess, "")
}

func (t *txnService) answer(req *netio.Request, code int16, remark string) {
	if req == nil {
		return
	}
	if req.Cmd.Flag&remoting.FlagOneway == 0 {
		req.Reply(remoting.NewResponse(&req.Cmd, code, remark))
	}
	req.Release()
}

// tick catches up and, every check interval, checks back old halves.
func (t *txnService) tick() {
	if !t.b.repl.master() {
		return // the master's cursor arrives with the offsets
	}
	t.catchUp()
	now := t.now()
	if now.Sub(t.checked) < t.b.opts.TransactionCheckInterval {
		return
	}
	t.checked = now
	t.persistCursor()
	var copies []*halfRef
	for _, p := range t.sortedPending() {
		if p.deciding || p.copyInFlight {
			continue
		}
		wait := max(t.b.opts.TransactionTimeout.Milliseconds(), p.immunityMs)
		if now.UnixMilli()-p.storeMs < wait {
			continue
		}
		if p.checks >= int64(t.b.opts.TransactionCheckMax) {
			t.log.Warn("actors: transaction never decided; discarded to "+TopicTransactionCheckMax,
				"txn", p.txID, "group", p.group, "checks", p.checks)
			t.decide(p, nil, txnDiscard)
			continue
		}
		if t.b.groups.producerConn(p.group) == nil {
			continue
		}
		copies = append(copies, p)
	}
	if len(copies) > 0 {
		t.recheck(copies)
	}
}

// recheck re-appends each half with one more check counted, then asks the
// producer group about the new copies.
func (t *txnService) recheck(refs []*halfRef) {
	c := &txnCopies{svc: t, refs: refs}
	c.append.Done = c
	for _, p := range refs {
		rv, err := t.b.store.RecordAt(p.phys)
		if err != nil {
			continue
		}
		m := copyRecord(&rv)
		m.Properties = setProperty(m.Properties, remoting.PropertyTransactionCheckTimes, strconv.FormatInt(p.checks+1, 10))
		c.append.Messages = append(c.append.Messages, m)
		c.sent = append(c.sent, p)
		p.copyInFlight = true
	}
	if len(c.sent) == 0 {
		return
	}
	if err := t.b.writer.Submit(&c.append); err != nil {
		for _, p := range c.sent {
			p.copyInFlight = false
		}
	}
}

type txnCopies struct {
	svc    *txnService
	refs   []*halfRef
	sent   []*halfRef
	append AppendRequest
}

func (c *txnCopies) Complete(*AppendRequest) {
	c.svc.b.sendTxns(&txnCopied{copies: c})
}

func (t *txnService) copiesStored(c *txnCopies) {
	for i, p := range c.sent {
		p.copyInFlight = false
		if c.append.Err != nil {
			continue
		}
		r := c.append.Results[i]
		if _, done := t.decided[p.txID]; done {
			t.decided[p.txID] = r.QueueOffset
			continue
		}
		p.queueOffset, p.phys, p.storeMs, p.checks = r.QueueOffset, r.PhysicalOffset, r.StoreTimestamp, p.checks+1
		t.sendCheck(p)
	}
	if c.append.Err != nil {
		t.log.Error("actors: transaction check copies not stored", "err", c.append.Err)
	}
}

// sendCheck sends CHECK_TRANSACTION_STATE (oneway) for p's latest copy.
func (t *txnService) sendCheck(p *halfRef) {
	conn := t.b.groups.producerConn(p.group)
	if conn == nil {
		return
	}
	rv, err := t.b.store.RecordAt(p.phys)
	if err != nil {
		return
	}
	real, _ := remoting.PropertyValue(string(rv.Properties()), remoting.PropertyRealTopic)
	qid, _, _ := propertyInt64(rv.Properties(), remoting.PropertyRealQueueID)
	body, err := remoting.AppendMessage(nil, recordMessageExt(&rv, real, int32(qid)))
	if err != nil {
		t.log.Error("actors: encode transaction check", "txn", p.txID, "err", err)
		return
	}
	req := remoting.NewRequest(remoting.RequestCheckTransactionState)
	req.Flag |= remoting.FlagOneway
	req.Ext.Set("tranStateTableOffset", strconv.FormatInt(p.queueOffset, 10))
	req.Ext.Set("commitLogOffset", strconv.FormatInt(p.phys, 10))
	req.Ext.Set("msgId", p.txID)
	req.Ext.Set("transactionId", p.txID)
	req.Ext.Set("offsetMsgId", remoting.OffsetMsgID(t.b.storeHost.IP, t.b.storeHost.Port, p.phys))
	req.Body = body
	if err := conn.Send(req); err != nil {
		t.log.Debug("actors: send transaction check", "txn", p.txID, "err", err)
		return
	}
	t.stats.Checks.Add(1)
}

// txnActor is the supervised actor around the transaction service.
type txnActor struct{ svc *txnService }

func (a *txnActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.svc.rebuild()
	case *actor.Restarting:
		a.svc.stats.Restarts.Add(1)
	case *actor.Stopping:
		a.svc.persistCursor()
	case *actor.Stopped:
	case *txnTick:
		a.svc.tick()
	case *roleChanged:
		a.svc.rebuild()
	case *endTxn:
		a.svc.b.queuedEndTxn.Add(-1)
		a.svc.end(msg)
	case *txnStored:
		a.svc.decisionStored(msg.decision)
	case *txnCopied:
		a.svc.copiesStored(msg.copies)
	case *injectPanic:
		panic("actors: injected panic in the transaction actor")
	default:
		a.svc.stats.Unexpected.Add(1)
	}
}
