package actors

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
)

// PropertyTimerOutMS carries a scheduled message's absolute due time.
const PropertyTimerOutMS = "TIMER_OUT_MS"

const (
	timerGroup         = "CID_RMQ_SYS_TIMER"
	maxDelayLevels     = 64
	geometricBase      = 16
	geometricDigits    = 7
	minGeometricRungMs = 16
	timerTickInterval  = 10 * time.Millisecond
	timerMaxBatch      = 2048
	timerMaxBatchBytes = 8 << 20
)

// DefaultDelayLevels are RocketMQ's 18 delay levels.
const DefaultDelayLevels = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"

var timerProperties = []string{remoting.PropertyDelayLevel, remoting.PropertyTimerDeliverMS,
	remoting.PropertyTimerDelaySec, remoting.PropertyTimerDelayMS, PropertyTimerOutMS,
	remoting.PropertyRealTopic, remoting.PropertyRealQueueID}

// ParseDelayLevels parses "1s 5s 10m 2h 1d" (units ms, s, m, h, d).
func ParseDelayLevels(s string) ([]time.Duration, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 || len(fields) > maxDelayLevels {
		return nil, fmt.Errorf("actors: delay levels: need 1..%d levels, got %d", maxDelayLevels, len(fields))
	}
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}}
	out := make([]time.Duration, 0, len(fields))
	for _, f := range fields {
		var d time.Duration
		for _, u := range units {
			if num, ok := strings.CutSuffix(f, u.suffix); ok {
				if n, err := strconv.ParseInt(num, 10, 64); err == nil && n > 0 {
					d = time.Duration(n) * u.unit
				}
				break
			}
		}
		if d <= 0 {
			return nil, fmt.Errorf("actors: delay level %q: want a positive number with unit ms, s, m, h or d", f)
		}
		out = append(out, d)
	}
	return out, nil
}

// timerLadder maps schedule-queue ids to rung durations.
type timerLadder struct {
	rungs  map[int32]int64 // queue id -> rung duration in ms
	levels int
	byLen  []rung // every rung, shortest first
}

type rung struct {
	queue int32
	ms    int64
}

func newTimerLadder(levels []time.Duration, maxRung time.Duration) *timerLadder {
	l := &timerLadder{rungs: map[int32]int64{}, levels: len(levels)}
	for i, d := range levels {
		l.rungs[int32(i)] = d.Milliseconds()
	}
	unit := int64(1)
	for k := 1; k <= geometricDigits; k++ {
		unit *= geometricBase
		for d := int64(1); d < geometricBase; d++ {
			if ms := d * unit; ms >= minGeometricRungMs && ms <= maxRung.Milliseconds() {
				l.rungs[int32(maxDelayLevels+(k-1)*(geometricBase-1)+int(d-1))] = ms
			}
		}
	}
	for q, ms := range l.rungs {
		l.byLen = append(l.byLen, rung{q, ms})
	}
	sort.Slice(l.byLen, func(i, j int) bool {
		if l.byLen[i].ms != l.byLen[j].ms {
			return l.byLen[i].ms < l.byLen[j].ms
		}
		return l.byLen[i].queue < l.byLen[j].queue
	})
	return l
}

// rungFor is the longest rung no longer than remainingMs; ok is false when
// even the shortest rung would overshoot.
func (l *timerLadder) rungFor(remainingMs int64) (rung, bool) {
	i := sort.Search(len(l.byLen), func(i int) bool { return l.byLen[i].ms > remainingMs })
	if i == 0 {
		return l.byLen[0], false
	}
	return l.byLen[i-1], true
}

// queueLimit is one past the highest schedule-queue id in use.
func (l *timerLadder) queueLimit() int32 {
	return maxDelayLevels + geometricDigits*(geometricBase-1)
}

// TimerStats are the timer actor's counters.
type TimerStats struct {
	Scheduled  atomic.Int64 // messages accepted for later delivery
	Hops       atomic.Int64 // moves between rungs
	Delivered  atomic.Int64 // messages stored in their real topic
	Dropped    atomic.Int64 // due messages whose topic no longer exists
	Busy       atomic.Int64 // ticks that found the writer ring full
	Unexpected atomic.Int64 // actor messages not understood
}

// timerService owns the ladder, the per-rung cursors and the one batch in
// flight. It outlives actor restarts; the actor reloads the cursors from
// the offset table when it (re)starts.
type timerService struct {
	b        *Broker
	log      *slog.Logger
	ladder   *timerLadder
	maxDelay time.Duration
	stats    TimerStats
	cursors  map[int32]int64
	inflight *hopBatch
	now      func() time.Time
}

func newTimerService(b *Broker, levels []time.Duration) *timerService {
	maxRung := b.opts.MaxTimerDelay
	if half := b.retentionAge() / 2; half < maxRung {
		maxRung = half
	}
	return &timerService{b: b, log: b.log, ladder: newTimerLadder(levels, maxRung),
		maxDelay: b.opts.MaxTimerDelay, now: time.Now}
}

// errTimer marks a send whose schedule properties are unusable.
var errTimer = errors.New("actors: bad timer")

// prepare rewrites m into the ladder when it asks for later delivery. It
// reports whether m was scheduled; an error means the request is refused.
func (t *timerService) prepare(m *persist.Message, nowMs int64) (bool, error) {
	outMs, level, err := t.dueTime(m.Properties, nowMs)
	if err != nil || outMs <= nowMs {
		return false, err
	}
	var r rung
	if level > 0 {
		r = rung{queue: int32(level - 1), ms: t.ladder.rungs[int32(level-1)]}
	} else {
		r, _ = t.ladder.rungFor(outMs - nowMs)
	}
	props := remoting.AppendProperty(stripProperties(m.Properties, remoting.PropertyRealTopic, remoting.PropertyRealQueueID, PropertyTimerOutMS),
		remoting.PropertyRealTopic, m.Topic)
	props = remoting.AppendProperty(props, remoting.PropertyRealQueueID, strconv.Itoa(int(m.QueueID)))
	m.Properties = remoting.AppendProperty(props, PropertyTimerOutMS, strconv.FormatInt(outMs, 10))
	m.Topic, m.QueueID = remoting.ScheduleTopic, r.queue
	m.TagsCode, m.HasTagsCode = nowMs+r.ms, true
	t.stats.Scheduled.Add(1)
	return true, nil
}

// dueTime reads the schedule properties: the absolute due time (0 when
// none) and the delay level used (0 when none).
func (t *timerService) dueTime(props []byte, nowMs int64) (outMs int64, level int, err error) {
	if v, ok, perr := propertyInt64(props, remoting.PropertyDelayLevel); ok {
		switch {
		case perr != nil || v < 0:
			return 0, 0, fmt.Errorf("%w: unknown delay level %q (levels are 1..%d)", errTimer,
				mustProperty(props, remoting.PropertyDelayLevel), t.ladder.levels)
		case v > int64(t.ladder.levels):
			// Clamped to the longest level, as RocketMQ 4.9.8 does.
			return nowMs + t.ladder.rungs[int32(t.ladder.levels-1)], t.ladder.levels, nil
		case v > 0:
			return nowMs + t.ladder.rungs[int32(v-1)], int(v), nil
		}
	}
	for _, p := range []struct {
		key       string
		scale     int64
		absolute  bool
		allowZero bool
	}{{remoting.PropertyTimerDeliverMS, 1, true, true}, {remoting.PropertyTimerDelaySec, 1000, false, true}, {remoting.PropertyTimerDelayMS, 1, false, true}} {
		v, ok, perr := propertyInt64(props, p.key)
		if !ok {
			continue
		}
		if perr != nil || v < 0 {
			return 0, 0, fmt.Errorf("%w: %s=%q is not a non-negative integer", errTimer, p.key, mustProperty(props, p.key))
		}
		outMs = v * p.scale
		if !p.absolute {
			outMs += nowMs
		}
		if outMs-nowMs > t.maxDelay.Milliseconds() {
			return 0, 0, fmt.Errorf("%w: %s asks for %s, more than the maximum timer delay %s", errTimer, p.key,
				time.Duration(outMs-nowMs)*time.Millisecond, t.maxDelay)
		}
		return outMs, 0, nil
	}
	return 0, 0, nil
}

func mustProperty(props []byte, key string) string {
	v, _ := remoting.PropertyValue(string(props), key)
	return v
}

// recoverTagsCode recomputes a schedule record's rung due time when the
// store rebuilds consume queues.
func (t *timerService) recoverTagsCode(rv *persist.RecordView) (int64, bool) {
	if string(rv.Topic()) != remoting.ScheduleTopic {
		return 0, false
	}
	return rv.StoreTimestamp() + t.ladder.rungs[rv.QueueID()], true
}

// loadCursors reads the persisted cursors; a rung without one starts at
// its queue's minimum offset.
func (t *timerService) loadCursors() {
	t.cursors = map[int32]int64{}
	for q := int32(0); q < t.ladder.queueLimit(); q++ {
		if off, ok := t.b.offsets.query(remoting.ScheduleTopic, timerGroup, q); ok {
			t.cursors[q] = off
		}
	}
}

func (t *timerService) cursor(q int32, cq *persist.ConsumeQueue) int64 {
	off, ok := t.cursors[q]
	if !ok || off < cq.MinOffset() {
		off = cq.MinOffset()
	}
	return off
}

// Backlog is the number of scheduled messages not yet processed.
func (t *timerService) Backlog() int64 {
	var n int64
	for q := int32(0); q < t.ladder.queueLimit(); q++ {
		cq := t.b.store.ConsumeQueue(remoting.ScheduleTopic, q)
		if cq == nil {
			continue
		}
		off, _ := t.b.offsets.query(remoting.ScheduleTopic, timerGroup, q)
		n += cq.MaxOffset() - max(off, cq.MinOffset())
	}
	return n
}

// hopBatch is one writer request of hops and deliveries, and the cursors
// it advances once stored.
type hopBatch struct {
	svc       *timerService
	append    AppendRequest
	next      map[int32]int64
	delivered int
	applied   bool
	done      chan struct{}
}

func (h *hopBatch) Complete(*AppendRequest) {
	close(h.done)
	h.svc.b.sendTimers(&hopsStored{batch: h})
}

// tick gathers every due rung head into one batch and hands it to the
// writer. One batch is in flight at a time.
func (t *timerService) tick() {
	if t.inflight != nil || !t.b.repl.master() {
		return
	}
	batch := t.collect(t.now().UnixMilli())
	if batch == nil {
		return
	}
	t.inflight = batch
	if err := t.b.writer.Submit(&batch.append); err != nil {
		t.inflight = nil
		t.stats.Busy.Add(1)
	}
}

func (t *timerService) collect(nowMs int64) *hopBatch {
	var batch *hopBatch
	bytes := 0
	for q := int32(0); q < t.ladder.queueLimit(); q++ {
		cq := t.b.store.ConsumeQueue(remoting.ScheduleTopic, q)
		if cq == nil {
			continue
		}
		off := t.cursor(q, cq)
		start := off
		for off < cq.MaxOffset() && bytes < timerMaxBatchBytes && (batch == nil || len(batch.append.Messages) < timerMaxBatch) {
			e, ok := cq.Entry(off)
			if !ok || e.TagsCode > nowMs {
				break
			}
			msg, wait := t.advance(e, nowMs)
			if wait {
				break
			}
			off++
			if msg == nil {
				continue
			}
			if batch == nil {
				batch = &hopBatch{svc: t, next: map[int32]int64{}, done: make(chan struct{})}
				batch.append.Done = batch
			}
			if msg.Topic != remoting.ScheduleTopic {
				batch.delivered++
			}
			batch.append.Messages = append(batch.append.Messages, *msg)
			bytes += len(msg.Body) + len(msg.Properties)
		}
		if off != start {
			if batch == nil { // only unreadable entries: skip them now
				t.commitCursor(q, off)
				continue
			}
			batch.next[q] = off
		}
	}
	return batch
}

// advance decides what a due rung head becomes: a delivery, a hop, or
// nothing (wait: the remaining time is shorter than any rung).
func (t *timerService) advance(e persist.CQEntry, nowMs int64) (msg *persist.Message, wait bool) {
	rv, err := t.b.store.RecordAt(e.CommitLogOffset)
	if err != nil {
		t.log.Warn("actors: scheduled record unreadable, skipped", "offset", e.CommitLogOffset, "err", err)
		return nil, false
	}
	outMs, present, perr := propertyInt64(rv.Properties(), PropertyTimerOutMS)
	if present && perr == nil && outMs > nowMs {
		r, ok := t.ladder.rungFor(outMs - nowMs)
		if !ok {
			return nil, true
		}
		m := copyRecord(&rv)
		m.QueueID, m.TagsCode, m.HasTagsCode = r.queue, nowMs+r.ms, true
		return &m, false
	}
	return t.deliverable(&rv)
}

// deliverable rebuilds a due message for its real topic and queue.
func (t *timerService) deliverable(rv *persist.RecordView) (*persist.Message, bool) {
	props := rv.Properties()
	topic, ok := remoting.PropertyValue(string(props), remoting.PropertyRealTopic)
	qid, _, err := propertyInt64(props, remoting.PropertyRealQueueID)
	if !ok || err != nil {
		t.log.Warn("actors: scheduled message without a real topic, dropped", "offset", rv.PhysicalOffset())
		t.stats.Dropped.Add(1)
		return nil, false
	}
	cfg, exists := t.b.topics.get(topic)
	if !exists && (strings.HasPrefix(topic, remoting.RetryGroupTopicPrefix) || strings.HasPrefix(topic, remoting.DLQGroupTopicPrefix)) {
		cfg, exists = t.b.ensureGroupTopic(topic)
	}
	if !exists {
		t.log.Warn("actors: due message for a topic that no longer exists, dropped", "topic", topic, "offset", rv.PhysicalOffset())
		t.stats.Dropped.Add(1)
		return nil, false
	}
	m := copyRecord(rv)
	m.Topic = topic
	m.QueueID = int32(qid)
	if n := max(cfg.WriteQueueNums, 1); m.QueueID < 0 || m.QueueID >= n {
		m.QueueID = int32(qid % int64(n))
		if m.QueueID < 0 {
			m.QueueID += n
		}
	}
	m.Properties = stripProperties(m.Properties, timerProperties...)
	return &m, false
}

// stored applies a batch the writer finished.
func (t *timerService) stored(batch *hopBatch) {
	if t.inflight == batch {
		t.inflight = nil
	}
	if batch.applied {
		return
	}
	batch.applied = true
	if err := batch.append.Err; err != nil {
		t.log.Error("actors: timer batch not stored, will retry", "messages", len(batch.append.Messages), "err", err)
		return
	}
	for q, off := range batch.next {
		t.commitCursor(q, off)
	}
	t.stats.Delivered.Add(int64(batch.delivered))
	t.stats.Hops.Add(int64(len(batch.append.Messages) - batch.delivered))
}

func (t *timerService) commitCursor(q int32, off int64) {
	if cur, ok := t.cursors[q]; ok && cur >= off {
		return
	}
	t.cursors[q] = off
	t.b.offsets.commit(remoting.ScheduleTopic, timerGroup, q, off)
}

// drain waits for the batch in flight (shutdown or restart).
func (t *timerService) drain(timeout time.Duration) {
	batch := t.inflight
	if batch == nil {
		return
	}
	select {
	case <-batch.done:
		t.stored(batch)
	case <-time.After(timeout):
		t.log.Warn("actors: timer batch still in flight at stop; its hops will run again after restart")
	}
}

// timerActor is the supervised actor around the timer service.
type timerActor struct{ svc *timerService }

func (a *timerActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.svc.drain(5 * time.Second)
		a.svc.loadCursors()
	case *actor.Restarting, *actor.Stopped:
	case *actor.Stopping:
		a.svc.drain(5 * time.Second)
	case *timerTick:
		a.svc.tick()
	case *roleChanged:
		a.svc.drain(5 * time.Second)
		a.svc.loadCursors()
	case *hopsStored:
		a.svc.stored(msg.batch)
		a.svc.tick()
	case *injectPanic:
		panic("actors: injected panic in the timer actor")
	default:
		a.svc.stats.Unexpected.Add(1)
	}
}
