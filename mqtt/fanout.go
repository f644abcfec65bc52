package mqtt

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/cometmq/comet/persist"
)

// The fan-out tails the commit log: woken by the broker whenever records
// become visible (actors.Broker.OnPublished), it reads them from its
// position up to the visible end, matches each deliverable record's MQTT
// topic in the subscription tree and offers it to the live sessions that
// match. It needs no queue between the writer and itself, so nothing is
// dropped when it falls behind: it reads on from the log. Records become
// visible in log order, so every subscriber sees one publisher's messages
// in the order they were stored.
//
// mu is held while a batch is delivered; a session turning live takes it
// (kick) so that no record falls between its catch-up and the fan-out.
// Lock order: fanout.mu, then session.mu; the tree's lock is never held
// while a session's is taken.
type fanout struct {
	gw     *Gateway
	wakeCh chan struct{}
	done   chan struct{}
	catchQ chan *session

	mu         sync.Mutex
	pos        int64        // next record (fan-out goroutine, under mu)
	doneEnd    atomic.Int64 // end of the last delivered batch
	batchStart atomic.Int64 // start of the batch being delivered (= doneEnd when idle)
	scratch    map[*session]*target
	targets    []*target
	free       []*target
	groups     []*shareGroup[*session, *subscription]
}

// catchUpWorkers run catch-up passes; catchQueueCapacity bounds the
// sessions waiting for one (a full queue is retried by the sweeper).
const (
	catchUpWorkers     = 2
	catchQueueCapacity = 1 << 16
	fanoutReadBytes    = 1 << 20
)

func newFanout(gw *Gateway) *fanout {
	return &fanout{gw: gw, wakeCh: make(chan struct{}, 1), done: make(chan struct{}),
		catchQ: make(chan *session, catchQueueCapacity), scratch: map[*session]*target{}}
}

// start positions the fan-out at the visible end of the log.
func (f *fanout) start() {
	end := f.gw.store.MaxPhysicalOffset()
	f.pos = end
	f.doneEnd.Store(end)
	f.batchStart.Store(end)
	f.gw.goWorker(f.run)
	for range catchUpWorkers {
		f.gw.goWorker(f.catchUpLoop)
	}
}

// wake is the broker's OnPublished hook: it never blocks.
func (f *fanout) wake() {
	select {
	case f.wakeCh <- struct{}{}:
	default:
	}
}

func (f *fanout) stop() { close(f.done) }

// safePos is a log offset from which a session that stops being live
// misses nothing (the start of the batch in delivery).
func (f *fanout) safePos() int64 { return f.batchStart.Load() }

func (f *fanout) run() {
	for {
		select {
		case <-f.done:
			return
		case <-f.wakeCh:
		}
		for f.deliverBatch() {
		}
	}
}

// deliverBatch delivers up to fanoutReadBytes of newly visible records;
// false when there is nothing more.
func (f *fanout) deliverBatch() bool {
	store := f.gw.store
	end := store.MaxPhysicalOffset()
	if f.pos >= end {
		return false
	}
	raw, err := store.ReadRaw(f.pos, fanoutReadBytes)
	if err != nil {
		f.skipUnreadable(err)
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batchStart.Store(f.pos)
	var d delivery
	for len(raw) >= 8 && f.pos < end {
		size := int(binary.BigEndian.Uint32(raw))
		if size < 8 || size > len(raw) {
			f.gw.log.Error("mqtt: fan-out found a bad record size; skipping to the log end", "offset", f.pos, "size", size)
			f.pos = end
			break
		}
		if binary.BigEndian.Uint32(raw[4:]) == persist.MagicMessage {
			rv, err := persist.ParseRecordHeader(raw[:size], f.pos)
			if err == nil && f.gw.parseDelivery(&rv, &d) {
				f.deliver(&d)
			}
		}
		f.pos += int64(size)
		raw = raw[size:]
	}
	f.doneEnd.Store(f.pos)
	f.batchStart.Store(f.pos)
	return true
}

// skipUnreadable moves past records retention deleted under the fan-out.
func (f *fanout) skipUnreadable(err error) {
	store := f.gw.store
	f.mu.Lock()
	defer f.mu.Unlock()
	if min := store.MinPhysicalOffset(); f.pos < min {
		f.pos = min
	} else if errors.Is(err, persist.ErrOffsetOutOfRange) || errors.Is(err, persist.ErrCorruption) {
		f.gw.log.Error("mqtt: fan-out cannot read the log; skipping to its end", "offset", f.pos, "err", err)
		f.pos = store.MaxPhysicalOffset()
	}
	f.doneEnd.Store(f.pos)
	f.batchStart.Store(f.pos)
}

// deliver matches one record and offers it to each matching session.
func (f *fanout) deliver(d *delivery) {
	f.collect(d)
	if len(f.targets) == 0 && len(f.groups) == 0 {
		return
	}
	f.gw.metrics.messagesMatched.Add(1)
	for _, t := range f.targets {
		t.s.offer(d, t)
	}
	for _, g := range f.groups {
		f.gw.offerShared(g, d)
	}
	f.releaseTargets()
}

// collect gathers the targets of d under the tree's read lock.
func (f *fanout) collect(d *delivery) {
	idx := &f.gw.subs
	idx.mu.RLock()
	defer idx.mu.RUnlock()
	idx.tree.match(d.topic, func(s *session, sub *subscription) {
		if sub.noLocal && s.clientID == d.origin && d.fromMQTT {
			return
		}
		t := f.scratch[s]
		if t == nil {
			t = f.newTarget(s)
			f.scratch[s] = t
			f.targets = append(f.targets, t)
		}
		t.add(sub)
	}, func(g *shareGroup[*session, *subscription]) {
		f.groups = append(f.groups, g)
	})
}

func (f *fanout) newTarget(s *session) *target {
	var t *target
	if n := len(f.free); n > 0 {
		t, f.free = f.free[n-1], f.free[:n-1]
	} else {
		t = &target{}
	}
	*t = target{s: s, subIDs: t.subIDs[:0]}
	return t
}

func (f *fanout) releaseTargets() {
	for _, t := range f.targets {
		delete(f.scratch, t.s)
		t.s = nil
		f.free = append(f.free, t)
	}
	f.targets = f.targets[:0]
	clear(f.groups)
	f.groups = f.groups[:0]
}

// readDelivery reads the record at phys for a resend.
func (gw *Gateway) readDelivery(phys int64, d *delivery) bool {
	rv, err := gw.store.RecordAt(phys)
	if err != nil {
		return false
	}
	return gw.parseDelivery(&rv, d)
}
